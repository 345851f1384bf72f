// The kernel lab's pure parts (demo/lab/): what a row's numbers become on the page and in its
// exports, deterministically, without a browser: a GPU time longer than the wall time is flagged
// (and only then), a wrong output withholds the ratio, min / median / max come from the raw
// samples, the CSV quotes what needs quoting, and a permalink round-trips the configuration.
import { describe, expect, it } from 'vitest';
import { GPU_OVER_WALL, rowMetrics } from '../../demo/lab/metrics.js';
import { CSV_COLUMNS, resultsCsv } from '../../demo/lab/csv.js';
import { applyPermalink, encodePermalink } from '../../demo/lab/permalink.js';
import { KERNELS } from '../../demo/lab/kernels.js';
import type { LabSettings } from '../../demo/lab/panel.js';
import type { LabResult } from '../../demo/lab/main.js';
import type { BenchRow } from '../../bench/stats.js';

const row = (over: Partial<BenchRow> = {}): BenchRow => ({
  group: 'softmax',
  workload: 'softmax 5×3',
  flops: 1e6,
  seqgpu: { wallMs: 2, gpuMs: 0.5, wallRuns: [3, 2, 1.5], gpuRuns: [0.5, 0.4, 0.6], reps: 3, dispatches: 1 },
  peers: { 'tfjs-webgpu': { wallMs: 4, gpuMs: 1, wallRuns: [4], gpuRuns: [1], reps: 1 } },
  ...over,
});

describe('kernel lab metrics', () => {
  it('min / median / max from the raw samples; ratios peer ÷ seqgpu; share of the peak', () => {
    const [s, t] = rowMetrics(row(), 4000, { peakGflops: 10 });
    expect(s.wall).toEqual({ min: 1.5, median: 2, max: 3, n: 3 });
    expect(s.gpu).toEqual({ min: 0.4, median: 0.5, max: 0.6, n: 3 });
    expect(s.wallRuns).toEqual([3, 2, 1.5]);
    expect(s.source).toBe('GPU');
    expect(s.gflops).toBeCloseTo(1e6 / 0.5 / 1e6, 12);
    expect(s.peakFraction).toBeCloseTo(0.2, 12);
    expect(s.gbps).toBeCloseTo(4000 / 0.5 / 1e6, 12);
    expect(s.gpuOverWall).toBeUndefined();
    expect(t.ratio).toBe(2);
    expect(t.gpuRatio).toBe(2);
    expect(t.noRatio).toBeUndefined();
  });

  it('a GPU time longer than the wall time is flagged with its reason', () => {
    const r = row({ seqgpu: { wallMs: 0.2, gpuMs: 0.3, reps: 1 } });
    const [s, t] = rowMetrics(r, 0);
    expect(s.gpuOverWall).toBe(GPU_OVER_WALL);
    expect(GPU_OVER_WALL).toMatch(/timestamp quantisation.*queue overlap/);
    expect(t.gpuOverWall).toBeUndefined(); // tfjs: 1 ms GPU < 4 ms wall
    // Without runs kept, the spread falls back to the row's min / max fields.
    expect(s.wall).toEqual({ min: 0.2, median: 0.2, max: 0.2, n: 1 });
  });

  it("a peer's wrong output shows no ratio; a wrong seqgpu output withholds every ratio", () => {
    const wrongPeer = row({
      peers: { 'tfjs-webgpu': { wallMs: 4, reps: 1, wrong: 'max |tfjs − seqgpu| = 5.00e-1' } },
    });
    const [, t] = rowMetrics(wrongPeer, 0);
    expect(t.ratio).toBeUndefined();
    expect(t.gpuRatio).toBeUndefined();
    expect(t.noRatio).toBe('wrong output: max |tfjs − seqgpu| = 5.00e-1');
    const [s, t2] = rowMetrics(row(), 0, { seqgpuWrong: 'max |seqgpu − float64| ÷ max |float64| = 1.00e-2' });
    expect(s.wrong).toMatch(/float64/);
    expect(t2.ratio).toBeUndefined();
    expect(t2.noRatio).toMatch(/^seqgpu's output is wrong: /);
  });

  it('a peer that did not run keeps its error and nothing else', () => {
    const r = row({ peers: { 'tfjs-webgpu': { error: 'n/a (tfjs is off in the lab panel)' } } });
    expect(rowMetrics(r, 0)[1]).toEqual({ name: 'tfjs-webgpu', error: 'n/a (tfjs is off in the lab panel)' });
  });
});

describe('kernel lab CSV', () => {
  it('one line per implementation and tile, RFC 4180 quoting, samples space-separated', () => {
    const r = row({ workload: 'matmul 33×17×65 B2 Aᵀ Bᵀ +bias' });
    r.peers['tfjs-webgpu'] = { wallMs: 4, reps: 1, wallRuns: [4], wrong: 'max "x", y' };
    const result: LabResult = {
      workload: r.workload,
      bytes: 10,
      metrics: rowMetrics(r, 10),
      reference: { checked: false, why: '' },
      compile: [],
      sweep: {
        what: 'tiles',
        entries: [
          { tile: 'registers 8×8', isDefault: true, wall: { min: 1, median: 1, max: 1, n: 1 }, wallRuns: [1] },
          { tile: 'workgroup 16×16 K32', isDefault: false, error: 'ShapeError: too big, sorry' },
        ],
      },
    };
    const text = resultsCsv([result]);
    const lines = text.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(1 + 2 + 2 + 1);
    expect(lines[1].startsWith('matmul 33×17×65 B2 Aᵀ Bᵀ +bias,seqgpu,ok,GPU,0.5,2,1.5,3,0.5,0.4,0.6,3,')).toBe(true);
    expect(lines[1]).toContain(',3.0000 2.0000 1.5000,0.5000 0.4000 0.6000,');
    expect(lines[2]).toContain(',tfjs-webgpu,"wrong output: max ""x"", y",wall,4,');
    expect(lines[3]).toContain(',seqgpu tile registers 8×8 (default),ok,wall,1,1,1,1,');
    expect(lines[4]).toContain(',seqgpu tile workgroup 16×16 K32,"error: ShapeError: too big, sorry",');
  });
});

describe('kernel lab permalink', () => {
  const fresh = () => ({
    settings: { kernel: 'matmul', reps: 10, peerReps: 5, tfjs: true, ort: true, sweep: false } as LabSettings,
    params: Object.fromEntries(KERNELS.map((k) => [k.key, { ...k.defaults }])),
  });

  it('encodes the kernel, its fields and the settings, and restores them', () => {
    const a = fresh();
    a.settings.kernel = 'forward';
    Object.assign(a.params.forward, { cell: 'gru', batch: 3, seqLen: 7 });
    Object.assign(a.settings, { reps: 2, peerReps: 1, ort: false, sweep: true });
    const hash = encodePermalink(a.settings, a.params);
    expect(hash).toBe(
      'kernel=forward&cell=gru&batch=3&seqLen=7&inputSize=' +
        `${a.params.forward.inputSize}&hidden=${a.params.forward.hidden}` +
        '&reps=2&peerReps=1&tfjs=1&ort=0&sweep=1',
    );
    const b = fresh();
    const applied = applyPermalink(`#${hash}`, KERNELS, b.settings, b.params);
    expect(applied).toEqual([
      'kernel',
      'cell',
      'batch',
      'seqLen',
      'inputSize',
      'hidden',
      'reps',
      'peerReps',
      'tfjs',
      'ort',
      'sweep',
    ]);
    expect(b.settings).toEqual(a.settings);
    expect(b.params.forward).toEqual(a.params.forward);
  });

  it('ignores unknown kernels, keys and values of the wrong kind (the defaults stay)', () => {
    const b = fresh();
    const applied = applyPermalink(
      '#kernel=nope&M=abc&N=12&transposeA=maybe&bias=1&reps=0&peerReps=2.5&junk=1',
      KERNELS,
      b.settings,
      b.params,
    );
    expect(applied).toEqual(['N', 'bias']);
    expect(b.settings.kernel).toBe('matmul');
    expect(b.params.matmul).toEqual({ ...KERNELS[0].defaults, N: 12, bias: true });
    expect(b.settings.reps).toBe(10);
    expect(b.settings.peerReps).toBe(5);
    const c = fresh();
    expect(applyPermalink('#kernel=step&cell=rnn', KERNELS, c.settings, c.params)).toEqual(['kernel']);
    expect(c.params.step.cell).toBe('lstm');
  });
});

// The bench's recurrent rows (bench/recurrent.ts) at smoke sizes in Node on Dawn: both recurrent
// kernels, padded and packed, with the deterministic dispatch counts per step, GPU time in N steps
// per timestamp pair, µs per step, the bootstrap CIs between rows, and the report printing them.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gpu } from '../../src/index.js';
import {
  packedLengths,
  pairedRatioText,
  recurrentFlops,
  recurrentRows,
  type RecurrentCase,
} from '../../bench/recurrent.js';
import { groupDispatches } from '../../bench/spans.js';
import { benchOptions } from '../../bench/suite.js';
import { printReport } from '../../bench/report.mjs';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('bench: recurrent rows (smoke sizes)', () => {
  it('packedLengths spreads from T down to about T/2; FLOP count the real row-steps', () => {
    expect([...packedLengths(5, 3)]).toEqual([5, 5, 4]);
    expect([...packedLengths(100, 4)]).toEqual([100, 88, 75, 63]);
    expect([...packedLengths(7, 1)]).toEqual([7]);
    expect(recurrentFlops('lstm', 14, 5, 8)).toEqual({ input: 2 * 14 * 4 * 8 * 5, recurrent: 2 * 14 * 4 * 8 * 8 });
    expect(recurrentFlops('gru', 1, 2, 3)).toEqual({ input: 2 * 3 * 3 * 2, recurrent: 2 * 3 * 3 * 3 });
    // 3 layers: the layers above the first take H inputs.
    expect(recurrentFlops('lstm', 14, 5, 8, 3)).toEqual({
      input: 2 * 14 * 4 * 8 * (5 + 2 * 8),
      recurrent: 3 * 2 * 14 * 4 * 8 * 8,
    });
  });

  it('stacked rows: the wavefront records T + L dispatches (T·L + L with the step kernels), ORT sits out', async () => {
    const T = 6;
    const cases: RecurrentCase[] = [
      { cell: 'gru', batch: 2, hidden: 8, kernel: 'step', layers: 3 },
      { cell: 'gru', batch: 2, hidden: 8, kernel: 'wavefront', layers: 3 },
    ];
    const o = { seqLen: T, inputSize: 5, reps: 3, peerReps: 1, gpuReps: 2, stepsPerPair: 4 };
    const peers = { tf: { error: 'not run' }, ort: { error: 'not run' } };
    const rows = await recurrentRows(gpu, peers, cases, o, () => {});
    expect(rows.map((r) => r.workload)).toEqual(['gru fwd B2 T6 I5 H8 L3 step', 'gru fwd B2 T6 I5 H8 L3 wavefront']);
    expect(rows.map((r) => r.seqgpu.dispatches)).toEqual([21, 9]);
    expect(rows[1].extra!.dispatches).toBe('9 = 1 input GEMM + 8 wavefront (1.33 per step)');
    expect(rows[0].extra!.dispatches).toBe('21 = 3 input GEMM + 18 step (3.00 per step)');
    expect(rows[1].extra!['wavefront speedup (step ÷ wavefront)']).toMatch(/^wall [\d.]+× \[/);
    // 3 layers: their input GEMMs are not the 1-layer product the pairing measures.
    expect(rows.map((r) => r.extra!['input GEMM ÷ square GEMM'])).toEqual([undefined, undefined]);
    expect(rows[1].peers['ort-webgpu']).toEqual({ error: expect.stringMatching(/^n\/a: the ORT graph is one/) });
    const f = recurrentFlops('gru', T * 2, 5, 8, 3);
    expect(rows[1].flops).toBe(f.input + f.recurrent);
    const q: Record<string, string> = { kernels: 'step,wavefront', layers: '1,3' };
    expect(benchOptions((k) => q[k] ?? null).recurrent).toMatchObject({
      kernels: ['step', 'wavefront'],
      layers: [1, 3],
    });
  });

  it('pairedRatioText: per-rep GFLOP/s ratios, their median and interval; 0 ms spans left out and counted', () => {
    // a: 100 FLOP, b: 10 FLOP. Rep ratios (100/a) / (10/b) = 10·b/a: 2, 4, 1 (a rep with a 0 ms span dropped).
    const a = { flops: 100, ms: [5, 5, 0, 10] };
    const b = { flops: 10, ms: [1, 2, 3, 1] };
    expect(pairedRatioText(a, b, 'sq')).toBe(
      `2.00 [1.00, 4.00] (GFLOP/s by GPU time, paired in 3 submits, 1 left out: a span timed 0 ms; ` +
        `median ${(100 / 5 / 1e6).toFixed(2)} vs sq ${(10 / 1 / 1e6).toFixed(2)} GFLOP/s)`,
    );
    const flops = 2e6; // 2 MFLOP in 1 ms = 2 GFLOP/s
    expect(pairedRatioText({ flops, ms: [1, 1] }, { flops, ms: [2, 2] }, '512³')).toBe(
      '2.00 [2.00, 2.00] (GFLOP/s by GPU time, paired in 2 submits; median 2.00 vs 512³ 1.00 GFLOP/s)',
    );
    expect(pairedRatioText({ flops, ms: [0, 1] }, { flops, ms: [1, 0] }, 'sq')).toBe(
      'n/a: every span of 2 submits timed 0 ms (timestamps too coarse)',
    );
  });

  it('groupDispatches keeps runs of one kind, at most N per group', () => {
    const d = (label: string) => ({ label }) as never;
    const list = ['a.xproj', 's0', 's1', 's2', 's3', 's4'].map(d);
    const groups = groupDispatches(
      list,
      (x: { label: string }) => (x.label.includes('xproj') ? 'g' : 's'),
      (k) => (k === 's' ? 2 : Infinity),
    );
    expect(groups.map((g) => [g.kind, g.dispatches.length])).toEqual([
      ['g', 1],
      ['s', 2],
      ['s', 2],
      ['s', 1],
    ]);
  });

  it('bench options: ≥ 20 runs by default, kernels and packed lists, bad values refused', () => {
    const o = benchOptions(() => null);
    expect(o.reps).toBe(20);
    expect(o.recurrent).toMatchObject({
      seqLen: 100,
      inputSize: 128,
      hidden: [256],
      batch: [1, 32],
      kernels: ['step', 'persistent'],
      layers: [1],
      packed: [false, true],
      gpuReps: 20,
      stepsPerPair: Infinity,
    });
    const q: Record<string, string> = { reps: '3', kernels: 'auto', packed: '1', stepsPerPair: '10', gpuReps: '0' };
    expect(benchOptions((k) => q[k] ?? null).recurrent).toMatchObject({
      kernels: ['auto'],
      packed: [true],
      stepsPerPair: 10,
      gpuReps: 0,
    });
    expect(() => benchOptions((k) => (k === 'kernels' ? 'fast' : null))).toThrow(/kernels: "fast"/);
    expect(() => benchOptions((k) => (k === 'reps' ? '0' : null))).toThrow(/reps: "0"/);
    expect(() => benchOptions((k) => (k === 'packed' ? 'x' : null))).toThrow(/packed: "x"/);
  });

  it('rows per kernel, padded and packed: dispatches per step, GPU split, µs per step, CIs', async () => {
    const T = 5;
    const cases: RecurrentCase[] = [
      { cell: 'lstm', batch: 3, hidden: 8, kernel: 'step' },
      { cell: 'lstm', batch: 3, hidden: 8, kernel: 'persistent' },
      { cell: 'lstm', batch: 3, hidden: 8, kernel: 'step', packed: true },
      { cell: 'lstm', batch: 3, hidden: 8, kernel: 'persistent', packed: true },
      { cell: 'gru', batch: 1, hidden: 8, kernel: 'step' },
    ];
    const before = gpu.tuning.recurrentKernel;
    const pair = { pairReps: 3, pairSquare: 8 };
    const o = { seqLen: T, inputSize: 5, reps: 3, peerReps: 1, gpuReps: 2, stepsPerPair: 2, peakGflops: 1, ...pair };
    const peers = { tf: { error: 'not run' }, ort: { error: 'not run' } };
    const rows = await recurrentRows(gpu, peers, cases, o, () => {});
    expect(gpu.tuning.recurrentKernel).toBe(before); // restored
    expect(rows.map((r) => r.workload)).toEqual([
      'lstm fwd B3 T5 I5 H8 step',
      'lstm fwd B3 T5 I5 H8 persistent',
      'lstm fwd B3 T5 I5 H8 step packed',
      'lstm fwd B3 T5 I5 H8 persistent packed',
      'gru fwd B1 T5 I5 H8 step',
    ]);
    // Deterministic counts: the step kernels 1 GEMM + 1 per step; the persistent kernel 1 + 1 chunk.
    expect(rows.map((r) => r.seqgpu.dispatches)).toEqual([6, 2, 6, 2, 6]);
    expect(rows[0].extra!.dispatches).toBe('6 = 1 input GEMM + 5 step (1.00 per step)');
    expect(rows[1].extra!.dispatches).toBe('2 = 1 input GEMM + 1 persistent (0.20 per step)');
    // 5 step dispatches at ≤ 2 per timestamp pair: 3 pairs; the persistent chunk: 1.
    expect(rows[0].extra!['GPU split']).toMatch(/5 dispatches in 3 timestamp pairs, ≤ 2 per pair; median of 2\)$/);
    expect(rows[1].extra!['GPU split']).toMatch(/1 dispatches in 1 timestamp pair, ≤ 1 per pair/);
    for (const r of rows) {
      expect(r.seqgpu.wallRuns).toHaveLength(3);
      expect(r.seqgpu.gpuRuns).toHaveLength(2);
      expect(r.seqgpu.wallMinMs).toBeLessThanOrEqual(r.seqgpu.wallMs);
      expect(r.seqgpu.wallMaxMs).toBeGreaterThanOrEqual(r.seqgpu.wallMs);
      expect(r.extra!['µs per step']).toMatch(
        /^wall [\d.]+ \(min [\d.]+, max [\d.]+, n 3\); GPU [\d.]+ .*recurrence alone/,
      );
      expect(r.extra!['recurrence alone']).toMatch(/GFLOP\/s = [\d.]+ of peak$/);
      // Item 8: the one input GEMM's GFLOP/s ÷ an 8³ product's, both timed in each of 3 submits (a
      // smoke-size span may time 0 ms on a quantising adapter: pairedRatioText's test covers that).
      const paired =
        /^[\d.]+ \[[\d.]+, [\d.]+\] \(GFLOP\/s by GPU time, paired in [1-3] submits(, [1-2] left out[^;]*)?; /;
      const pairedText = r.extra!['input GEMM ÷ square GEMM'];
      expect(pairedText).toMatch(/median [\d.]+ vs 8³ [\d.]+ GFLOP\/s\)$|^n\/a: every span of 3 submits timed 0 ms/);
      if (!pairedText.startsWith('n/a')) expect(pairedText).toMatch(paired);
    }
    const rowSteps = (r: number) => (r >= 2 && r <= 3 ? 14 : T * (r === 4 ? 1 : 3));
    rows.forEach((r, i) => {
      const f = recurrentFlops(i === 4 ? 'gru' : 'lstm', rowSteps(i), 5, 8);
      expect(r.flops).toBe(f.input + f.recurrent);
    });
    expect(rows[2].extra!.packed).toMatch(/^lengths 5…4 \(Σ 14 of 15 row-steps\)/);
    expect(rows[2].peers['tfjs-webgpu']).toEqual({ error: expect.stringMatching(/^n\/a: packed/) });
    const ci = /^wall [\d.]+× \[[\d.]+, [\d.]+\] \(n 3\/3\), GPU [\d.]+× \[[\d.]+, [\d.]+\] \(n 2\/2\)$/;
    expect(rows[1].extra!['persistent speedup (step ÷ persistent)']).toMatch(ci);
    expect(rows[3].extra!['persistent speedup (step ÷ persistent)']).toMatch(ci);
    expect(rows[2].extra!['packed speedup (padded ÷ packed)']).toMatch(ci);
    expect(rows[3].extra!['packed speedup (padded ÷ packed)']).toMatch(ci);
    expect(rows[0].extra!['persistent speedup (step ÷ persistent)']).toBeUndefined();
    expect(rows[4].extra!['step-wise latency (B1)']).toMatch(/ms\/token$/);
    // The first row compiled its pipelines in its first call.
    expect(rows[0].extra!['first call']).toMatch(/^[\d.]+ ms wall, [1-9]\d* pipelines? created/);

    // The report prints the spread column and every note.
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(String(s)));
    try {
      printReport({ date: 'd', runtime: 'node-dawn', userAgent: 'u', adapter: {}, features: {}, options: {}, rows });
    } finally {
      log.mockRestore();
    }
    const text = lines.join('\n');
    expect(text).toMatch(/seqgpu min–max \(n\)/);
    expect(text).toMatch(/lstm fwd B3 T5 I5 H8 persistent packed: dispatches: 2 = 1 input GEMM/);
  });
});

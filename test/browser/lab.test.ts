// End to end: the kernel lab (demo/lab.html) in headless Debian Chromium (WebGPU on SwiftShader),
// driven through its tweakpane panel's DOM like a user: pick a kernel, set its shape and variant,
// press Run, read the result row (window.__seqgpuLab and the results table), and export the JSON,
// which must be a `npm run bench` report (bench/report.mjs prints it). Small shapes, peer reps 1.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Page } from 'puppeteer';
import { launchChromium, startServer } from '../../tools/chromium.mjs';
import { printReport } from '../../bench/report.mjs';
import type { BenchReport, BenchRow } from '../../bench/stats.js';
import type { LabState } from '../../demo/lab/main.js';
import { labState, press, setField, waitFor } from './labPage.js';

let page: Page;
let downloads: string;
let features: { timestampQuery: boolean };
const cleanup: Array<() => Promise<void>> = [];

const lab = (): Promise<LabState> => labState(page);
const set = (field: string, value: number | boolean | string): Promise<void> => setField(page, field, value);

/** The kernel list's entries, as the panel shows them. */
const TITLES: Record<string, string> = {
  matmul: 'matmul',
  softmax: 'softmax (rows)',
  attention: 'attention (fused SDPA)',
  step: 'LSTM / GRU step',
  forward: 'LSTM / GRU layer forward',
  model: 'whole model forward',
  training: 'training step (fwd + MSE + BPTT + Adam)',
};

/** Picks `kernel`, sets its fields, presses Run and waits for the run to finish. */
async function run(
  kernel: string,
  fields: Record<string, number | boolean | string>,
  timeoutMs = 150_000,
): Promise<LabState> {
  await set('lab.kernel', TITLES[kernel]);
  // Only the chosen kernel's folder is shown.
  expect(
    await page.$eval(
      `[data-field="${kernel}.${Object.keys(fields)[0]}"]`,
      (el) => (el as HTMLElement).offsetParent !== null,
    ),
  ).toBe(true);
  for (const [k, v] of Object.entries(fields)) await set(`${kernel}.${k}`, v);
  const before = (await lab()).completed;
  await page.click('[data-field="lab.run"] button');
  return waitFor(
    `the ${kernel} run`,
    async () => {
      const s = await lab();
      return s.completed > before && !s.running ? s : null;
    },
    timeoutMs,
  );
}

/** The run's single new row, checked the way every row must be: positive times, GFLOP/s, GB/s and dispatches. */
function lastRow(
  s: LabState,
  workload: string,
  dispatches: number,
  peers: string[],
): { row: BenchRow; metrics: LabState['results'][number]['metrics'] } {
  expect(s.error, 'the run failed').toBeNull();
  const row = s.rows[s.rows.length - 1];
  const result = s.results[s.results.length - 1];
  expect(row.workload).toBe(workload);
  expect(result.workload).toBe(workload);
  expect(row.seqgpu.wallMs).toBeGreaterThan(0);
  if (features.timestampQuery) expect(row.seqgpu.gpuMs).toBeGreaterThan(0);
  expect(row.seqgpu.dispatches).toBe(dispatches);
  expect(row.flops).toBeGreaterThan(0);
  const seqgpu = result.metrics[0];
  expect(seqgpu.name).toBe('seqgpu');
  expect(seqgpu.source).toBe(features.timestampQuery ? 'GPU' : 'wall');
  expect(seqgpu.gflops).toBeCloseTo(row.flops / (row.seqgpu.gpuMs ?? row.seqgpu.wallMs) / 1e6, 6);
  expect(seqgpu.gbps).toBeCloseTo(result.bytes / seqgpu.ms! / 1e6, 6);
  expect(seqgpu.gbps).toBeGreaterThan(0);
  expect(row.extra?.['bytes moved']?.startsWith(`${result.bytes} B: `), row.extra?.['bytes moved']).toBe(true);
  expect(Object.keys(row.peers).sort()).toEqual([...peers].sort());
  for (const p of peers) {
    const m = row.peers[p];
    expect('error' in m ? m.error : '', `${p}: ${JSON.stringify(m)}`).toBe('');
    expect((m as { wallMs: number }).wallMs, p).toBeGreaterThan(0);
    const pm = result.metrics.find((x) => x.name === p)!;
    expect(pm.ratio).toBeCloseTo((m as { wallMs: number }).wallMs / row.seqgpu.wallMs, 6);
  }
  return { row, metrics: result.metrics };
}

/** The results table shows the row: a section for the workload with seqgpu and the peers side by side. */
async function tableShows(workload: string, peers: string[]): Promise<void> {
  const headers = await page.$$eval(`section[data-workload="${workload}"] table.metrics tr:first-child th`, (ths) =>
    ths.map((th) => th.textContent),
  );
  expect(headers).toEqual(['', 'seqgpu', ...peers]);
  const gflops = await page.$$eval(`section[data-workload="${workload}"] tr[data-metric="GFLOP/s"] td`, (tds) =>
    tds.map((td) => Number(td.textContent)),
  );
  expect(gflops[0]).toBeGreaterThan(0);
}

beforeAll(async () => {
  const server = await startServer();
  cleanup.push(server.close);
  const chromium = await launchChromium();
  cleanup.push(chromium.close);
  downloads = await mkdtemp(join(tmpdir(), 'seqgpu-lab-downloads-'));
  cleanup.push(() => rm(downloads, { recursive: true, force: true }));
  const context = await chromium.browser.createBrowserContext({
    downloadBehavior: { policy: 'allow', downloadPath: downloads },
  });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || process.env.SEQGPU_PAGE_LOG)
      process.stderr.write(`[lab page ${m.type()}] ${m.text()}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`[lab page error] ${(e as Error).message}\n`));
  await page.goto(`${server.url}/demo/lab.html`, { waitUntil: 'load' });
  const s = await waitFor(
    'the lab to open WebGPU',
    async () => {
      const v = await lab();
      return v && (v.ready || v.error) ? v : null;
    },
    120_000,
  );
  expect(s.error, `the lab could not start: ${s.error}`).toBeNull();
  features = s.features as { timestampQuery: boolean };
  await set('lab.reps', 2);
  await set('lab.peerReps', 1);
}, 300_000);

afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

describe('kernel lab page (headless Chromium)', () => {
  it("matmul 64×64×64: the suite's own row vs tfjs, with GPU time, GFLOP/s, GB/s and 1 dispatch", async () => {
    const s = await run('matmul', { M: 64, N: 64, K: 64, batch: 1, transposeA: false, transposeB: false, bias: false });
    const { row } = lastRow(s, 'matmul 64×64×64', 1, ['tfjs-webgpu']);
    expect(row.extra!['bytes moved']).toBe(`${3 * 64 * 64 * 4} B: A, B read once; C written once (4 B an element)`);
    expect(row.extra!['seqgpu time']).toBe(
      features.timestampQuery ? 'GPU time from timestamp queries' : 'wall time (the adapter has no timestamp-query)',
    );
    await tableShows('matmul 64×64×64', ['tfjs-webgpu']);
  });

  it('matmul with batch, both transposes and a bias (bench/gemm.ts): tfjs agrees with seqgpu', async () => {
    const s = await run('matmul', { M: 33, N: 17, K: 65, batch: 2, transposeA: true, transposeB: true, bias: true });
    const { row } = lastRow(s, 'matmul 33×17×65 B2 Aᵀ Bᵀ +bias', 1, ['tfjs-webgpu']);
    expect(row.flops).toBe(2 * 2 * 33 * 17 * 65 + 2 * 33 * 17);
    expect(s.results.at(-1)!.bytes).toBe(4 * (2 * 33 * 65 + 2 * 65 * 17 + 17 + 2 * 33 * 17));
    expect((row.peers['tfjs-webgpu'] as { wrong?: string }).wrong).toBeUndefined();
    expect((row.peers['tfjs-webgpu'] as { note?: string }).note).toMatch(
      /^tf\.fused\.matMul with bias; max \|tfjs − seqgpu\|/,
    );
  });

  it(
    "a shape beyond the device's buffer limit is refused before any allocation, " + 'naming the operand and its fields',
    async () => {
      const rows = (await lab()).rows.length;
      const s = await run('matmul', {
        M: 100_000,
        N: 8,
        K: 100_000,
        batch: 1,
        transposeA: false,
        transposeB: false,
        bias: false,
      });
      expect(s.error).toMatch(
        new RegExp(
          String.raw`^ShapeError: matmul: operand A \[M, K\] = \[100000, 100000\] needs ` +
            String.raw`40000000000 bytes, more than this device's maxStorageBufferBindingSize`,
        ),
      );
      expect(s.rows.length).toBe(rows);
      expect(await page.$eval('#status', (el) => el.textContent)).toContain('operand A [M, K]');
    },
  );

  it('softmax 7×33 (bench/softmax.ts) vs tfjs, which agrees', async () => {
    const s = await run('softmax', { rows: 7, cols: 33 });
    const { row } = lastRow(s, 'softmax 7×33', 1, ['tfjs-webgpu']);
    expect(s.results.at(-1)!.bytes).toBe(2 * 7 * 33 * 4);
    expect((row.peers['tfjs-webgpu'] as { wrong?: string }).wrong).toBeUndefined();
  });

  it('a peer switched off in the panel is reported as n/a, and measured again once back on', async () => {
    await set('lab.tfjs', false);
    let s = await run('softmax', { rows: 5, cols: 3 });
    expect(s.error).toBeNull();
    expect(s.rows.at(-1)!.peers).toEqual({ 'tfjs-webgpu': { error: 'n/a (tfjs is off in the lab panel)' } });
    expect(s.results.at(-1)!.metrics[1]).toEqual({ name: 'tfjs-webgpu', error: 'n/a (tfjs is off in the lab panel)' });
    await set('lab.tfjs', true);
    s = await run('softmax', { rows: 5, cols: 3 });
    lastRow(s, 'softmax 5×3', 1, ['tfjs-webgpu']);
  });

  it(
    'LSTM step B1 I8 H16 (bench/step.ts): stepper GEMM + fused step = 2 dispatches, ' + 'vs onnxruntime-web and tfjs',
    async () => {
      const s = await run('step', { cell: 'lstm', batch: 1, inputSize: 8, hidden: 16 });
      const { row } = lastRow(s, 'lstm step B1 I8 H16', 2, ['ort-webgpu', 'tfjs-webgpu']);
      if (features.timestampQuery)
        expect(row.extra!['GPU split']).toMatch(/^input GEMM [\d.]+ ms \+ cell step [\d.]+ ms$/);
      expect(row.peers['ort-webgpu']).toHaveProperty('note', expect.stringContaining('seqLen 1 from a zero state'));
      await tableShows('lstm step B1 I8 H16', ['ort-webgpu', 'tfjs-webgpu']);
    },
  );

  it('GRU layer forward B2 T5 (bench/recurrent.ts): 1 + T dispatches, vs onnxruntime-web and tfjs', async () => {
    const s = await run('forward', { cell: 'gru', batch: 2, seqLen: 5, inputSize: 8, hidden: 16 });
    lastRow(s, 'gru fwd B2 T5 I8 H16', 6, ['ort-webgpu', 'tfjs-webgpu']);
  });

  it(
    'causal attention B1 H2 T9 D8 (bench/attention.ts) vs tfjs and both ' + 'onnxruntime-web graphs, with peak memory',
    async () => {
      const s = await run('attention', { batch: 1, heads: 2, seqLen: 9, headDim: 8, causal: true, backward: false });
      const { row } = lastRow(s, 'attention fwd T9 D8 H2 B1 causal', 1, [
        'tfjs-webgpu',
        'ort-webgpu MHA',
        'ort-webgpu ops',
      ]);
      expect(row.seqgpu.peakBytes).toBeGreaterThan(0);
      expect((row.peers['tfjs-webgpu'] as { wrong?: string }).wrong).toBeUndefined();
    },
  );

  it("attention T32: onnxruntime-web's MultiHeadAttention output is wrong on this adapter, so no ratio", async () => {
    // docs/lab.png: SEQGPU_LAB_SCREENSHOT=docs/lab.png … vitest run test/browser/lab.test.ts -t T32
    const shot = process.env.SEQGPU_LAB_SCREENSHOT as `${string}.png` | undefined;
    if (shot) expect((await press(page, 'lab.peak')).peak!.gflops).toBeGreaterThan(0);
    const s = await run('attention', { batch: 1, heads: 2, seqLen: 32, headDim: 8, causal: false, backward: false });
    const r = s.results.at(-1)!;
    expect(r.workload).toBe('attention fwd T32 D8 H2 B1 unmasked');
    expect(r.reference).toMatchObject({ checked: true });
    expect((r.reference as { maxRel: number }).maxRel).toBeLessThan(1e-5);
    const mha = r.metrics.find((m) => m.name === 'ort-webgpu MHA')!;
    const ops = r.metrics.find((m) => m.name === 'ort-webgpu ops')!;
    expect(mha.wrong).toMatch(/^max \|ort-webgpu MHA − seqgpu\| ÷ max \|seqgpu\| = /);
    expect(mha.ratio).toBeUndefined();
    expect(mha.noRatio).toBe(`wrong output: ${mha.wrong}`);
    expect(ops.wrong).toBeUndefined();
    expect(ops.ratio).toBeGreaterThan(0);
    const cells = await page.$$eval(
      'section[data-workload="attention fwd T32 D8 H2 B1 unmasked"] tr[data-metric="vs seqgpu"] td',
      (tds) => tds.map((td) => td.textContent ?? ''),
    );
    const heads = ['seqgpu', ...r.metrics.slice(1).map((m) => m.name)];
    expect(cells[heads.indexOf('ort-webgpu MHA')]).toBe(`wrong output (error ${mha.wrong!.split(' = ')[1]})`);
    expect(cells[heads.indexOf('ort-webgpu ops')]).toMatch(/^[\d.]+×/);
    if (shot) {
      await page.setViewport({ width: 1280, height: 1000 });
      await page.evaluate(() =>
        document.querySelectorAll<HTMLDetailsElement>('details.samples').forEach((d) => (d.open = true)),
      );
      await page.screenshot({ path: shot });
      await page.setViewport({ width: 800, height: 600 });
    }
  });

  it('a whole model forward (bench/forward.ts, no peers): embedding → 2-layer bidirectional GRU → head', async () => {
    const s = await run('model', {
      cell: 'gru',
      batch: 2,
      seqLen: 5,
      vocab: 11,
      embeddingDim: 4,
      hidden: 8,
      numLayers: 2,
      bidirectional: true,
    });
    const row = s.rows.at(-1)!;
    lastRow(s, 'gru model fwd B2 T5 V11 E4 H8 L2 bidi', row.seqgpu.dispatches!, []);
    // At least the two GEMM + T step dispatches of each (layer, direction), the embedding and the head.
    expect(row.seqgpu.dispatches).toBeGreaterThanOrEqual(2 * 2 * (1 + 5) + 2);
  });

  it('an LSTM training step (bench/training.ts) vs tfjs trainOnBatch', async () => {
    const s = await run('training', { cell: 'lstm', batch: 2, seqLen: 5, inputSize: 4, hidden: 8, outputSize: 3 });
    const row = s.rows.at(-1)!;
    lastRow(s, 'lstm train B2 T5 I4 H8', row.seqgpu.dispatches!, ['tfjs-webgpu']);
    expect(row.seqgpu.dispatches).toBeGreaterThan(2 * (1 + 5));
  });

  it(
    'exports a `npm run bench` report: the bench header and the same rows, ' + 'printable by bench/report.mjs',
    async () => {
      const s = await lab();
      await page.click('[data-field="lab.export"] button');
      const name = await waitFor(
        'the download',
        async () => (await readdir(downloads)).find((f) => f.endsWith('.json')),
        20_000,
      );
      const after = await lab();
      expect(after.exported).toBe(name);
      const report = JSON.parse(await readFile(join(downloads, name), 'utf8')) as BenchReport;
      expect(Object.keys(report).sort()).toEqual([
        'adapter',
        'date',
        'features',
        'options',
        'rows',
        'runtime',
        'userAgent',
      ]);
      expect(report.runtime).toBe('chromium');
      expect(report.adapter).toEqual(s.adapter);
      expect(report.features).toEqual(s.features);
      expect(report.userAgent).toMatch(/Chrome/);
      expect(name).toBe(
        `${report.date.replace(/[:.]/g, '-')}` +
          `-chromium-${String((s.adapter as { architecture: string }).architecture).replace(/[^a-z0-9_-]/gi, '')}` +
          `.json`,
      );
      expect(report.rows).toEqual(s.rows);
      expect(report.rows.length).toBe(11);
      for (const row of report.rows) {
        expect(Object.keys(row)).toEqual(
          expect.arrayContaining(['group', 'workload', 'flops', 'seqgpu', 'peers', 'extra']),
        );
      }
      const runs = (report.options as { runs: Array<{ kernel: string; error?: string }> }).runs;
      expect(runs.map((r) => r.kernel)).toEqual([
        'matmul',
        'matmul',
        'matmul',
        'softmax',
        'softmax',
        'softmax',
        'step',
        'forward',
        'attention',
        'attention',
        'model',
        'training',
      ]);
      expect(runs[2].error).toMatch(/maxStorageBufferBindingSize/);
      const lines: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
      try {
        printReport(report);
      } finally {
        log.mockRestore();
      }
      const text = lines.join('\n');
      for (const row of report.rows) expect(text).toContain(`| ${row.workload} `);
      expect(text).toContain('tfjs-webgpu wall');
      expect(text).toContain('bytes moved:');
    },
  );
});

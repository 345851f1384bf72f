// The benchmark page: runs every selected row and publishes the report on
// `window.__seqgpuBench` (bench/run.mjs reads it, prints the table, writes JSON).
import { requestGpu } from '../src/index.js';
import { matmulRows } from './matmul.js';
import { loadTfWebgpu } from './tf.js';
import { loadOrtWebgpu } from './ort.js';
import { recurrentRows, recurrentWorkload, type RecurrentCase } from './recurrent.js';
import type { BenchReport } from './stats.js';

const q = new URLSearchParams(location.search);
const full = q.get('full') === '1';
const options = {
  filter: q.get('filter') ?? '',
  reps: Math.max(5, Number(q.get('reps') ?? 5)),
  peerReps: Math.max(1, Number(q.get('peerReps') ?? 5)),
  full,
  matmulSizes: full ? [128, 256, 512, 1024, 2048] : [128, 256, 512, 1024],
  recurrent: { seqLen: 100, inputSize: 128, hidden: full ? [128, 256, 512] : [256], batch: [1, 32] },
};
const log = document.getElementById('log')!;
const report: BenchReport = { date: new Date().toISOString(), userAgent: navigator.userAgent, adapter: null, features: null, options, rows: [] };

async function main(): Promise<void> {
  const gpu = await requestGpu();
  report.adapter = gpu.adapterInfo;
  report.features = gpu.features;
  const filter = new RegExp(options.filter || '.', 'i');
  const tf = await loadTfWebgpu();
  const say = (m: string) => {
    log.textContent = m;
    console.info(`[bench] ${m}`);
  };
  const sizes = options.matmulSizes.filter((n) => filter.test(`matmul ${n}×${n}×${n}`));
  say(`matmul ${sizes.join(', ')}`);
  report.rows.push(...(await matmulRows(gpu, tf, sizes, options.reps, options.peerReps)));

  const r = options.recurrent;
  const ro = { seqLen: r.seqLen, inputSize: r.inputSize, reps: options.reps, peerReps: options.peerReps };
  const cases: RecurrentCase[] = (['lstm', 'gru'] as const).flatMap((cell) => r.batch.flatMap((batch) => r.hidden.map((hidden) => ({ cell, batch, hidden }))));
  const selected = cases.filter((c) => filter.test(recurrentWorkload(c, ro)));
  if (selected.length) {
    // Recurrent efficiency = LSTM/GRU GFLOP/s ÷ seqgpu's best large-matmul GFLOP/s, same adapter.
    let best = Math.max(0, ...report.rows.filter((x) => x.group === 'matmul' && x.flops >= 2 * 512 ** 3).map((x) => x.flops / (x.seqgpu.gpuMs ?? x.seqgpu.wallMs) / 1e6));
    if (!best) {
      const [m] = await matmulRows(gpu, { error: 'not run' }, [512], 5, 0);
      best = m.flops / (m.seqgpu.gpuMs ?? m.seqgpu.wallMs) / 1e6;
    }
    const ort = await loadOrtWebgpu();
    const rec = await recurrentRows(gpu, { tf, ort }, selected, ro, say);
    for (const row of rec) {
      const gflops = row.flops / (row.seqgpu.gpuMs ?? row.seqgpu.wallMs) / 1e6;
      row.extra = { ...row.extra, 'recurrent efficiency': `${(gflops / best).toFixed(2)} (${gflops.toFixed(2)} GFLOP/s vs best matmul ${best.toFixed(2)} GFLOP/s)` };
    }
    report.rows.push(...rec);
  }
  log.textContent = JSON.stringify(report, null, 2);
  gpu.destroy();
}

main()
  .catch((e) => {
    report.error = String((e as Error).stack ?? e);
    log.textContent = `error: ${report.error}`;
  })
  .finally(() => {
    (window as unknown as { __seqgpuBench: BenchReport }).__seqgpuBench = report;
  });

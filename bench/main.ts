// The benchmark page: runs every selected row and publishes the report on
// `window.__seqgpuBench` (bench/run.mjs reads it, prints the table, writes JSON).
import { requestGpu } from '../src/index.js';
import { matmulRows } from './matmul.js';
import { loadTfWebgpu } from './tf.js';
import type { BenchReport } from './stats.js';

const q = new URLSearchParams(location.search);
const full = q.get('full') === '1';
const options = {
  filter: q.get('filter') ?? '',
  reps: Math.max(5, Number(q.get('reps') ?? 5)),
  peerReps: Math.max(1, Number(q.get('peerReps') ?? 5)),
  full,
  matmulSizes: full ? [128, 256, 512, 1024, 2048] : [128, 256, 512, 1024],
};
const log = document.getElementById('log')!;
const report: BenchReport = { date: new Date().toISOString(), userAgent: navigator.userAgent, adapter: null, features: null, options, rows: [] };

async function main(): Promise<void> {
  const gpu = await requestGpu();
  report.adapter = gpu.adapterInfo;
  report.features = gpu.features;
  const filter = new RegExp(options.filter || '.', 'i');
  const tf = await loadTfWebgpu();
  const sizes = options.matmulSizes.filter((n) => filter.test(`matmul ${n}×${n}×${n}`));
  report.rows.push(...(await matmulRows(gpu, tf, sizes, options.reps, options.peerReps)));
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

// The benchmark page: runs every selected row and publishes the report on
// `window.__seqgpuBench` (bench/run.mjs reads it, prints the table, writes JSON).
import { requestGpu } from '../src/index.js';
import { loadTfWebgpu } from './tf.js';
import { loadOrtWebgpu } from './ort.js';
import { benchOptions, runSuite } from './suite.js';
import type { BenchReport } from './stats.js';

const q = new URLSearchParams(location.search);
const options = benchOptions((k) => q.get(k));
const log = document.getElementById('log')!;
const report: BenchReport = {
  date: new Date().toISOString(),
  userAgent: navigator.userAgent,
  adapter: null,
  features: null,
  options,
  rows: [],
};

async function main(): Promise<void> {
  const gpu = await requestGpu();
  report.adapter = gpu.adapterInfo;
  report.features = gpu.features;
  const say = (m: string) => {
    log.textContent = m;
    console.info(`[bench] ${m}`);
  };
  report.rows = await runSuite(
    gpu,
    options,
    {
      // ?tf=0 / ?ort=0 skip a peer (e.g. tfjs's LSTM model build alone takes minutes on SwiftShader).
      tf: q.get('tf') === '0' ? async () => ({ error: 'not run (tf=0)' }) : loadTfWebgpu,
      ort:
        q.get('ort') === '0'
          ? async () => ({ error: 'not run (ort=0)' })
          : () => loadOrtWebgpu('/node_modules/onnxruntime-web/dist/'),
    },
    say,
  );
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

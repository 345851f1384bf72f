// Runs the shared kernel checks in the browser and publishes the per-check results on
// `window.__seqgpuChecks` for the puppeteer test (test/browser/kernels.test.ts) to read.
import { requestGpu } from '../../src/index.js';
import { kernelChecks } from '../checks/kernels.js';
import { recurrentChecks } from '../checks/recurrent.js';
import { recurrentGradChecks } from '../checks/recurrentGrad.js';
import { trainingChecks } from '../checks/training.js';
import { modelGradChecks } from '../checks/modelGrad.js';
import { attentionChecks } from '../checks/attention.js';
import { multiHeadAttentionChecks } from '../checks/multiHeadAttention.js';
import { rnnAttentionChecks } from '../checks/rnnAttention.js';
import { decodeChecks } from '../checks/decode.js';
import { seq2seqChecks } from '../checks/seq2seq.js';
import { nanGuardChecks } from '../checks/nanGuard.js';

export interface BrowserCheckReport {
  adapter: unknown;
  features: unknown;
  error: string | null;
  results: Array<{ name: string; ok: boolean; ms: number; error?: string }>;
}

const log = document.getElementById('log')!;
const report: BrowserCheckReport = { adapter: null, features: null, error: null, results: [] };

async function main(): Promise<void> {
  const gpu = await requestGpu();
  report.adapter = gpu.adapterInfo;
  report.features = gpu.features;
  for (const check of [
    ...kernelChecks,
    ...recurrentChecks,
    ...recurrentGradChecks,
    ...trainingChecks,
    ...modelGradChecks,
    ...attentionChecks,
    ...multiHeadAttentionChecks,
    ...rnnAttentionChecks,
    ...decodeChecks,
    ...seq2seqChecks,
    ...nanGuardChecks,
  ]) {
    const t0 = performance.now();
    try {
      await check.run(gpu);
      await gpu.sync();
      report.results.push({ name: check.name, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      report.results.push({
        name: check.name,
        ok: false,
        ms: performance.now() - t0,
        error: String((e as Error).stack ?? e),
      });
    }
    log.textContent = report.results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.name}`).join('\n');
  }
  gpu.destroy();
}

main()
  .catch((e) => {
    report.error = String((e as Error).message ?? e);
    log.textContent = `error: ${report.error}`;
  })
  .finally(() => {
    (window as unknown as { __seqgpuChecks: BrowserCheckReport }).__seqgpuChecks = report;
  });

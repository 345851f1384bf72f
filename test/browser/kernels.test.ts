// The kernel checks of test/checks, run inside headless Debian Chromium (WebGPU on
// SwiftShader) on a page served by Vite on 127.0.0.1. One vitest test per check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runPage, startServer } from '../../tools/chromium.mjs';
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
import type { BrowserCheckReport } from './main.js';

let report: BrowserCheckReport;
const cleanup: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const server = await startServer();
  cleanup.push(server.close);
  const chromium = await launchChromium();
  cleanup.push(chromium.close);
  report = (await runPage(
    chromium.browser,
    `${server.url}/test/browser/index.html`,
    '__seqgpuChecks',
  )) as BrowserCheckReport;
}, 600_000);

afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

describe('kernels and recurrent layers vs float64 references and torch fixtures (headless Chromium)', () => {
  it('has a WebGPU adapter in Chromium', () => {
    // No adapter must fail the run, never pass it silently.
    expect(report.error, `the page could not run: ${report.error}`).toBeNull();
    console.log(`chromium adapter: ${JSON.stringify(report.adapter)}; features: ${JSON.stringify(report.features)}`);
  });
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
    it(check.name, () => {
      const r = report.results.find((x) => x.name === check.name);
      expect(r, `no result for '${check.name}' (page error: ${report.error})`).toBeDefined();
      expect(r!.ok, r!.error).toBe(true);
    });
  }
});

// The Chromium side of bench/stepOverhead.mjs --chromium: runs bench/stepOverheadCore.ts with the
// options in `?o=` (JSON) and leaves the report in window.__seqgpuStepOverhead.
import { requestGpu } from '../src/index.js';
import { stepOverhead, type StepOverheadOptions } from './stepOverheadCore.js';

const w = window as unknown as { __seqgpuStepOverhead?: { lines: string[] } | { error: string } };
const log = document.getElementById('log')!;
try {
  const o = JSON.parse(new URLSearchParams(location.search).get('o') ?? '{}') as StepOverheadOptions;
  const gpu = await requestGpu();
  const lines = await stepOverhead(gpu, o, (s) => console.log(s));
  log.textContent = lines.join('\n');
  w.__seqgpuStepOverhead = { lines };
} catch (e) {
  w.__seqgpuStepOverhead = { error: String((e as Error)?.stack ?? e) };
}

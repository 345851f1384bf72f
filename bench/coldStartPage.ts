// The Chromium side of bench/coldStart.mjs --chromium: one case from `?o=` (JSON), its result in
// window.__seqgpuColdStart.
import { requestGpu } from '../src/index.js';
import { coldStart, type ColdStartCase, type ColdStartResult } from './coldStartCore.js';

const w = window as unknown as { __seqgpuColdStart?: ColdStartResult | { error: string } };
const log = document.getElementById('log')!;
try {
  const c = JSON.parse(new URLSearchParams(location.search).get('o') ?? '{}') as ColdStartCase;
  const gpu = await requestGpu();
  const r = await coldStart(gpu, c);
  gpu.destroy();
  log.textContent = JSON.stringify(r, null, 2);
  w.__seqgpuColdStart = r;
} catch (e) {
  w.__seqgpuColdStart = { error: String((e as Error)?.stack ?? e) };
}

// The addition toy as a reader runs it: the demo page in headless Chromium (WebGPU; SwiftShader
// where there is no GPU), seq2seq task, toy "add two numbers" (its preset loads), start; prints the
// held-out exact match of each preview (every 20 steps) with the step and the wall time since the
// click, until it reaches --target (default 0.9) on --confirm (default 3) previews in a row, or --time
// seconds (default 900) pass.
//   bash tools/with-swiftshader.sh node demo/train/additionPage.mjs [--target=0.9] [--time=900]
import { launchChromium, startServer } from '../../tools/chromium.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const target = Number(args.target ?? 0.9);
const confirm = Number(args.confirm ?? 3);
const limit = Number(args.time ?? 900) * 1000;

const server = await startServer();
const chromium = await launchChromium();
const hook = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__seqgpuDemo)));
async function until(page, what, ok, ms = 180_000) {
  for (const deadline = Date.now() + ms; ;) {
    const h = (await page.evaluate(() => '__seqgpuDemo' in window)) ? await hook(page) : null;
    if (h && ok(h)) return h;
    if (h?.state === 'error') throw new Error(`${what}: ${h.lastError}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
try {
  const page = await chromium.browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(`${server.url}/demo/index.html`, { waitUntil: 'load' });
  await until(page, 'the first model', (h) => h.state === 'ready');
  await page.select('[data-key="task"] select', 'seq2seq with attention');
  await until(page, 'the seq2seq model', (h) => h.task === 'seq2seq' && h.state === 'ready');
  await page.select('[data-key="toy"] select', 'add two numbers');
  const h0 = await until(page, 'the addition model', (h) => h.params.toy === 'addition' && h.state === 'ready');
  console.log(`adapter: ${h0.adapter}`);
  console.log(`model: ${h0.model}; ${h0.log[h0.log.length - 1]}`);
  await page.click('[data-action="start"] button');
  const t0 = Date.now();
  let last = -1;
  let streak = 0;
  for (;;) {
    const h = await hook(page);
    if (h.state === 'nan' || h.state === 'error') throw new Error(`state ${h.state}: ${h.lastError}`);
    const seen = h.valLosses.length;
    if (h.accuracy !== null && seen !== last) {
      last = seen;
      streak = h.accuracy >= target ? streak + 1 : 0;
      console.log(
        `step ${h.step}: held-out exact match ${(100 * h.accuracy).toFixed(1)} % of 64, ` +
          `${((Date.now() - t0) / 1000).toFixed(0)} s since start, ${h.stepsPerSec.toFixed(1)} steps/s`,
      );
      if (streak >= confirm) break;
    }
    if (Date.now() - t0 > limit) {
      console.log(`stopped after ${limit / 1000} s`);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
} finally {
  await chromium.close();
  await server.close();
}

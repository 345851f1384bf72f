// End to end: the demo page (demo/index.html) in headless Debian Chromium (WebGPU on SwiftShader),
// served by Vite on 127.0.0.1. The test drives the page through its DOM — the tweakpane panel's
// buttons and inputs, the state banners' buttons, the file chooser — and reads what happened from
// `window.__seqgpuDemo` (demo/hook.ts). Every wait polls with a deadline; no fixed sleeps.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors.js';
import type { DemoHook } from '../../demo/hook.js';
import {
  demoHook,
  openDemoPage,
  setPanelValue as setDemoPanelValue,
  startDemo,
  waitForDemo,
  type Snapshot,
} from './demoPage.js';

const ARTIFACTS = resolve('test/artifacts');
const DOWNLOADS = join(ARTIFACTS, 'demo-downloads');
/** Steps of the char LM before the loss is compared (≈ 10 s on SwiftShader at the page's small preset). */
const STEPS = 60;

let browser: Browser;
let url: string;
let page: Page;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ browser, url, close } = await startDemo(DOWNLOADS));
}, 120_000);

afterAll(() => close());

const openPage = () => openDemoPage(browser);
const hook = (p: Page = page) => demoHook(p);
/** Polls the hook until `ok` holds (state error / no-webgpu fails at once, unless that is what is awaited). */
const waitFor = (what: string, ok: (h: Snapshot) => boolean, ms = 120_000, p: Page = page) =>
  waitForDemo(p, what, ok, ms, what.includes('no-webgpu') ? [] : ['error', 'no-webgpu']);
const setPanelValue = (key: string, value: string) => setDemoPanelValue(page, key, value);
const clickAction = (action: string) => page.click(`[data-action="${action}"] button`);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('demo page (headless Chromium, WebGPU on SwiftShader)', () => {
  it('says how to enable WebGPU when the browser has none', async () => {
    const p = await openPage();
    await p.evaluateOnNewDocument(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    await p.goto(url, { waitUntil: 'load' });
    const h = await waitFor('the no-webgpu state', (s) => s.state === 'no-webgpu', 60_000, p);
    expect(h.banner).toBe('WebGPU is not available in this browser');
    const text = await p.$eval('#banner', (e) => e.textContent ?? '');
    expect(text).toContain('--enable-unsafe-webgpu');
    expect(text).toContain('chrome://flags');
    await p.close();
  }, 120_000);

  it('opens with a model built on a WebGPU adapter', async () => {
    page = await openPage();
    await page.goto(url, { waitUntil: 'load' });
    const h = await waitFor('the model to be built', (s) => s.state === 'ready');
    console.log(`demo adapter: ${h.adapter}; timestamp queries: ${h.timestampQuery}; model: ${h.model}`);
    expect(h.task).toBe('charLM');
    expect(h.model).toMatch(/^char LM: LSTM 1×32/);
    expect(h.step).toBe(0);
    // Cold start: the model's pipelines were compiled before the first step, with progress shown.
    const w = h.warmup!;
    console.log(`demo warmup: ${w.compiled} pipelines in ${(w.ms / 1000).toFixed(1)} s`);
    expect(w.finished).toBe(true);
    expect(w.compiled).toBeGreaterThan(5);
    expect(w.done).toBe(w.total);
    expect(h.log.some((l) => /^compiled \d+ GPU pipelines before the first step/.test(l))).toBe(true);
    expect(await page.$eval('#warmup', (e) => (e as HTMLElement).hidden)).toBe(true);
  }, 180_000);

  it(`trains the char LM from the panel: the loss falls within ${STEPS} steps and samples appear`, async () => {
    const t0 = Date.now();
    await clickAction('start');
    const h = await waitFor(
      `${STEPS} steps and a sample`,
      (s) => s.step >= STEPS && s.samples.length > 0 && s.valLosses.length >= 2,
      240_000,
    );
    const first = mean(h.losses.slice(0, 5));
    const last = mean(h.losses.slice(-10));
    console.log(
      `char LM: loss ${first.toFixed(3)} (first 5 steps) → ${last.toFixed(3)} (last ` +
        `10 of ${h.step}); validation ${h.valLosses[0][1].toFixed(3)} ` +
        `@${h.valLosses[0][0]} → ${h.valLosses[h.valLosses.length - 1][1].toFixed(3)} ` +
        `@${h.valLosses[h.valLosses.length - 1][0]}; ${h.stepsPerSec.toFixed(1)} ` +
        `steps/s, ${Math.round(h.tokensPerSec)} tokens/s (page, training ` +
        `time); ${((Date.now() - t0) / 1000).toFixed(1)} s wall from the click`,
    );
    console.log(`char LM sample at step ${h.step}: ${JSON.stringify(h.samples[h.samples.length - 1])}`);
    expect(h.losses.every(Number.isFinite)).toBe(true);
    expect(first).toBeGreaterThan(3.5); // ≈ ln(vocabulary 56) = 4.03 at the start
    expect(last).toBeLessThan(first - 0.5);
    expect(h.valLosses[h.valLosses.length - 1][1]).toBeLessThan(h.valLosses[0][1]);
    expect(h.samples[0].startsWith('Shall I ')).toBe(true);
    expect(h.samples[0].length).toBeGreaterThan('Shall I '.length + 40);
    expect(h.stepsPerSec).toBeGreaterThan(0);
    expect(
      h.gradNorms.every((g) => Number.isFinite(g) && g > 0),
      `gradient norms ${JSON.stringify(h.gradNorms)}`,
    ).toBe(true);
    // The samples and the charts are on the page, not only in the hook.
    expect(await page.$$eval('.sample', (els) => els.length)).toBeGreaterThan(0);
  }, 300_000);

  it('saves a screenshot of the page that is not blank', async () => {
    await waitFor('a kernel profile', (s) => s.kernelTimes !== null || !s.timestampQuery, 60_000);
    await mkdir(ARTIFACTS, { recursive: true });
    const png = await page.screenshot({ encoding: 'binary', fullPage: false });
    await writeFile(join(ARTIFACTS, 'demo.png'), png);
    // Decode it in the page: many distinct colours and a good share of non-background pixels.
    const stats = await page.evaluate(async (b64: string) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      const colours = new Set<number>();
      let ink = 0;
      for (let i = 0; i < d.length; i += 4) {
        colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        if (d[i] + d[i + 1] + d[i + 2] < 600) ink++;
      }
      return { width: c.width, height: c.height, colours: colours.size, inkShare: ink / (d.length / 4) };
    }, Buffer.from(png).toString('base64'));
    console.log(
      `screenshot ` +
        `test/artifacts/demo.png: ${stats.width}×${stats.height}, ${stats.colours} ` +
        `colours, ${(100 * stats.inkShare).toFixed(1)}% non-background`,
    );
    expect(stats.width).toBe(1400);
    expect(stats.colours).toBeGreaterThan(200);
    expect(stats.inkShare).toBeGreaterThan(0.05);
  }, 120_000);

  it('takes a learning-rate change at once, without rebuilding', async () => {
    const before = await hook();
    await setPanelValue('lr', '0.002');
    const h = await waitFor(
      'the optimizer to use lr 0.002',
      (s) => Math.abs(s.lr - 0.002) < 1e-9 && s.step > before.step,
    );
    expect(h.params.lr).toBe(0.002);
    expect(h.builds).toBe(before.builds);
    expect(h.log.some((l) => l.startsWith('lr 0.01 → 0.002'))).toBe(true);
    expect(h.step).toBeGreaterThan(before.step); // the same model kept training
  }, 120_000);

  it('rebuilds the model when the hidden size changes, and trains it', async () => {
    const before = await hook();
    await setPanelValue('hiddenSize', '48');
    const h = await waitFor(
      'the rebuilt model to train',
      (s) => s.builds === before.builds + 1 && /LSTM 1×48/.test(s.model) && s.state === 'running' && s.step >= 5,
      180_000,
    );
    expect(h.params.hiddenSize).toBe(48);
    expect(h.log.some((l) => l.startsWith('hiddenSize 32 → 48: rebuilt'))).toBe(true);
    expect(h.step).toBeLessThan(before.step); // a new model starts at step 0
  }, 240_000);

  it('survives a lost device: restart keeps the weights', async () => {
    const snap = await waitFor(
      'a CPU copy of the weights of a trained model',
      (s) => s.snapshotStep !== null && s.snapshotStep >= 40,
      180_000,
    );
    const fresh = mean(snap.losses.slice(0, 5)); // this model's first steps, from its initial weights
    await page.evaluate(() => (window as unknown as { __seqgpuDemo: DemoHook }).__seqgpuDemo.simulateDeviceLoss());
    const lost = await waitFor('the lost state', (s) => s.state === 'lost', 60_000);
    expect(lost.banner).toBe('The GPU device was lost');
    const kept = lost.snapshotStep!;
    const lossAtSnapshot = mean(
      lost.losses.filter((_, i) => lost.lossSteps[i] > kept - 5 && lost.lossSteps[i] <= kept),
    );
    await page.click('#banner .actions button');
    const h = await waitFor(
      'training on the new device',
      (s) => s.state === 'running' && s.step >= kept + 5 && s.builds === lost.builds + 1,
      180_000,
    );
    const resumed = h.losses.slice(h.lossSteps.indexOf(kept + 1), h.lossSteps.indexOf(kept + 1) + 5);
    console.log(
      `device loss: fresh model loss ≈ ${fresh.toFixed(3)}; snapshot at step ${kept} ` +
        `(loss ≈ ${lossAtSnapshot.toFixed(3)}); resumed at ${kept + 1} on a new device ` +
        `with loss ≈ ${mean(resumed).toFixed(3)}`,
    );
    expect(/LSTM 1×48/.test(h.model)).toBe(true);
    expect(resumed.length).toBe(5);
    // The training continues where the snapshot was, far from where fresh weights start.
    expect(lossAtSnapshot).toBeLessThan(fresh - 0.3);
    expect(Math.abs(mean(resumed) - lossAtSnapshot)).toBeLessThan(0.25);
  }, 300_000);

  it('stops on a NaN loss, says what to change, and rolls back', async () => {
    await page.evaluate(() => (window as unknown as { __seqgpuDemo: DemoHook }).__seqgpuDemo.poisonWeights());
    const h = await waitFor('the NaN state', (s) => s.state === 'nan', 60_000);
    expect(h.banner).toMatch(/^The loss became NaN at step \d+: training stopped$/);
    const text = await page.$eval('#banner', (e) => e.textContent ?? '');
    expect(text).toContain('learning rate');
    expect(text).toContain('clip');
    const steps = h.step;
    const rollBack = await page.$$eval('#banner .actions button', (bs) => bs.map((b) => b.textContent));
    expect(rollBack[0]).toMatch(/^Roll back to step \d+$/);
    await page.click('#banner .actions button');
    const back = await waitFor('the rolled-back model', (s) => s.state === 'paused' && s.step < steps);
    await clickAction('start');
    const again = await waitFor('training after the roll-back', (s) => s.step >= back.step + 5);
    expect(again.losses.slice(-5).every(Number.isFinite)).toBe(true);
  }, 180_000);

  it('saves the weights as safetensors with PyTorch names and loads them back', async () => {
    await clickAction('pause');
    const paused = await waitFor('pause', (s) => s.state === 'paused');
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: DOWNLOADS });
    await clickAction('save');
    let file = '';
    for (const deadline = Date.now() + 60_000; !file;) {
      file = (await readdir(DOWNLOADS)).find((f) => f.endsWith('.safetensors')) ?? '';
      if (!file && Date.now() > deadline) throw new Error('no .safetensors download appeared');
      if (!file) await new Promise((r) => setTimeout(r, 250));
    }
    const tensors = parseSafetensors(await readFile(join(DOWNLOADS, file)));
    expect(Object.keys(tensors).sort()).toEqual([
      'embedding.weight',
      'head.bias',
      'head.weight',
      'rnn.bias_hh_l0',
      'rnn.bias_ih_l0',
      'rnn.weight_hh_l0',
      'rnn.weight_ih_l0',
    ]);
    expect(tensors['rnn.weight_ih_l0'].shape).toEqual([4 * 48, 16]);
    expect(tensors['rnn.weight_hh_l0'].shape).toEqual([4 * 48, 48]);
    expect(file).toBe(`seqgpu-charlm-sonnets-lstm-1x48-step${paused.step}.safetensors`);
    // A different model first; loading the file rebuilds the one it was saved from.
    await setPanelValue('hiddenSize', '40');
    await waitFor('the 40-unit model', (s) => /LSTM 1×40/.test(s.model) && s.state !== 'building');
    const [chooser] = await Promise.all([page.waitForFileChooser(), clickAction('load')]);
    await chooser.accept([join(DOWNLOADS, file)]);
    const h = await waitFor('the loaded weights', (s) => s.loaded?.name === file && /LSTM 1×48/.test(s.model));
    expect(h.step).toBe(paused.step);
    expect(h.params.hiddenSize).toBe(48);
    expect(await page.$eval('[data-key="hiddenSize"] .tp-txtv_i', (e) => (e as HTMLInputElement).value)).toBe('48');
    // The loaded weights are the trained ones: the first steps' loss is far below a fresh model's.
    await clickAction('start');
    const after = await waitFor('training from the loaded weights', (s) => s.step >= paused.step + 5);
    const resumed = after.losses.slice(-5);
    expect(mean(resumed)).toBeLessThan(3.7);
    await clickAction('pause');
  }, 240_000);

  it('runs the time-series task: forecast plotted, MSE falls', async () => {
    // tweakpane's options are valued by their labels
    await page.select('[data-key="task"] select', 'time-series forecasting');
    await waitFor(
      'the time-series model',
      (s) => s.task === 'timeSeries' && s.state === 'ready' && s.model.startsWith('time series'),
    );
    await clickAction('start');
    const h = await waitFor(
      'a forecast',
      (s) => s.step >= 40 && s.forecastMse !== null && s.valLosses.length >= 2,
      180_000,
    );
    console.log(
      `time series (noisy sine, GRU): MSE ${mean(h.losses.slice(0, 5)).toFixed(4)} ` +
        `→ ${mean(h.losses.slice(-5)).toFixed(4)} in ${h.step} steps; forecast ` +
        `MSE ${h.forecastMse!.toFixed(4)}; ${h.stepsPerSec.toFixed(1)} steps/s`,
    );
    expect(mean(h.losses.slice(-5))).toBeLessThan(mean(h.losses.slice(0, 5)) * 0.7);
    await clickAction('pause');
    await waitFor('pause', (s) => s.state === 'paused');
  }, 240_000);

  it('runs the seq2seq task: attention heat map drawn, held-out accuracy reported', async () => {
    await page.select('[data-key="task"] select', 'seq2seq with attention');
    await waitFor(
      'the seq2seq model',
      (s) => s.task === 'seq2seq' && s.state === 'ready' && s.model.startsWith('seq2seq'),
    );
    await clickAction('start');
    const h = await waitFor('a decoded preview', (s) => s.step >= 30 && s.accuracy !== null, 180_000);
    console.log(
      `seq2seq (reverse, LSTM + general attention): ` +
        `loss ${mean(h.losses.slice(0, 5)).toFixed(3)} ` +
        `→ ${mean(h.losses.slice(-5)).toFixed(3)} in ${h.step} steps; held-out exact ` +
        `match ${(100 * h.accuracy!).toFixed(0)}%; ${h.stepsPerSec.toFixed(1)} steps/s`,
    );
    expect(mean(h.losses.slice(-5))).toBeLessThan(mean(h.losses.slice(0, 5)));
    // The heat map canvas has been drawn: coloured cells, not only the empty-state text.
    const blue = await page.$eval('canvas.heat', (c) => {
      const cv = c as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 2] > d[i] + 30) n++;
      return n;
    });
    expect(blue).toBeGreaterThan(500);
    await clickAction('pause');
  }, 240_000);

  it('builds as a static site (npm run demo:build) that loads and builds its model', async () => {
    const { build, preview } = await import('vite');
    const outDir = await mkdtemp(join(tmpdir(), 'seqgpu-demo-dist-'));
    const configFile = resolve('demo/vite.config.ts');
    try {
      await build({ configFile, build: { outDir, emptyOutDir: true }, logLevel: 'error' });
      expect((await readdir(outDir)).includes('index.html')).toBe(true);
      const server = await preview({
        configFile,
        build: { outDir },
        preview: { host: '127.0.0.1', port: 0, strictPort: false },
        logLevel: 'error',
      });
      try {
        const p = await openPage();
        await p.goto(new URL('index.html', server.resolvedUrls!.local[0]).href, { waitUntil: 'load' });
        const h = await waitFor('the built page to build its model', (s) => s.state === 'ready', 120_000, p);
        expect(h.model).toMatch(/^char LM: LSTM 1×32/);
        await p.close();
      } finally {
        await server.close();
      }
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  }, 240_000);
});

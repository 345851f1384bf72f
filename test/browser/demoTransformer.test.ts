// End to end: the demo's char LM model selector (LSTM / GRU / Transformer), the loss chart's
// overlaid runs and the Transformer's per-head attention heat maps, in headless Debian Chromium
// (WebGPU on SwiftShader) served by Vite on 127.0.0.1. Like demo.test.ts it drives the page through
// the panel's DOM and reads `window.__seqgpuDemo` (demo/hook.ts); every wait polls with a deadline.
// Small shapes: a 2-layer Transformer of width 16 trains its steps in well under a minute here.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors.js';
import {
  demoHook,
  openDemoPage,
  setPanelValue as setDemoPanelValue,
  startDemo,
  waitForDemo,
  type Snapshot,
} from './demoPage.js';

const ARTIFACTS = resolve('test/artifacts');
const DOWNLOADS = join(ARTIFACTS, 'demo-transformer-downloads');
const LSTM_STEPS = 20;
const TRANSFORMER_STEPS = 12;
/** The Transformer of the test: small enough for SwiftShader. */
const TF = { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, seqLen: 16 };

let browser: Browser;
let url: string;
let page: Page;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ browser, url, close } = await startDemo(DOWNLOADS));
}, 120_000);

afterAll(() => close());

const hook = () => demoHook(page);
const waitFor = (what: string, ok: (h: Snapshot) => boolean, ms = 120_000) =>
  waitForDemo(page, what, ok, ms, ['error', 'no-webgpu', 'nan']);
const setPanelValue = (key: string, value: string) => setDemoPanelValue(page, key, value);

const clickAction = (action: string) => page.click(`[data-action="${action}"] button`);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Pixels of `canvas` (a selector) within a small distance of the colour `hex`. */
function countColour(selector: string, hex: string, index = 0): Promise<number> {
  return page.$$eval(
    selector,
    (els, hex, index) => {
      const cv = els[index] as HTMLCanvasElement;
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4)
        if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 40 && d[i + 3] > 200) n++;
      return n;
    },
    hex,
    index,
  );
}

describe('demo char LM: LSTM / GRU / Transformer, overlaid runs, attention heat maps', () => {
  it('trains an LSTM run first', async () => {
    page = await openDemoPage(browser);
    await page.goto(url, { waitUntil: 'load' });
    await waitFor('the LSTM model', (s) => s.state === 'ready' && /^char LM: LSTM 1×32/.test(s.model));
    // The selector is there, the Transformer's sizes are hidden for a recurrent model.
    const options = await page.$$eval('[data-key="lmModel"] option', (os) => os.map((o) => o.textContent));
    expect(options).toEqual(['RNN', 'LSTM', 'GRU', 'Transformer']);
    expect(await page.$eval('[data-key="dModel"]', (e) => (e as HTMLElement).offsetParent === null)).toBe(true);
    // GRU through the same selector (a SequenceModel), then back to the LSTM.
    await page.select('[data-key="lmModel"] select', 'GRU');
    await waitFor(
      'the GRU',
      (s) => s.state === 'ready' && /^char LM: GRU 1×32/.test(s.model) && s.params.cell === 'gru',
    );
    await page.select('[data-key="lmModel"] select', 'LSTM');
    await waitFor('the LSTM again', (s) => s.state === 'ready' && /^char LM: LSTM 1×32/.test(s.model));
    await clickAction('start');
    await waitFor(`${LSTM_STEPS} LSTM steps`, (s) => s.step >= LSTM_STEPS, 120_000);
    await clickAction('pause');
    const h = await waitFor('pause', (s) => s.state === 'paused');
    expect(h.runs.length).toBe(1);
    expect(h.runs[0].label).toMatch(/^LSTM 1×32 · T16 B8 Adam 0.01/);
  }, 240_000);

  it('selects the Transformer, trains it, and overlays both runs on the loss chart', async () => {
    await page.select('[data-key="lmModel"] select', 'Transformer');
    await waitFor('the Transformer', (s) => s.state === 'ready' && /^char LM: Transformer 2×/.test(s.model));
    const shown = await page.$eval('[data-key="dModel"]', (e) => (e as HTMLElement).offsetParent !== null);
    expect(shown).toBe(true);
    for (const [key, value] of Object.entries(TF)) {
      await setPanelValue(key, String(value));
      await waitFor(
        `${key} ${value}`,
        (s) => (s.params as unknown as Record<string, number>)[key] === value && s.state === 'ready',
      );
    }
    await setPanelValue('previewEvery', '6');
    let h = await waitFor('the small Transformer', (s) => s.params.previewEvery === 6 && s.state === 'ready');
    expect(h.model).toMatch(/^char LM: Transformer 2×16, 2 heads, feed-forward 32/);
    expect(h.log.some((l) => l.startsWith('lmModel lstm → transformer: its preset loaded'))).toBe(true);

    const t0 = Date.now();
    await clickAction('start');
    h = await waitFor(
      `${TRANSFORMER_STEPS} Transformer steps, a sample and the heat maps`,
      (s) => s.step >= TRANSFORMER_STEPS && s.samples.length > 0 && s.attention !== null && s.valLosses.length > 0,
      120_000,
    );
    await clickAction('pause');
    h = await waitFor('pause', (s) => s.state === 'paused');
    const wall = (Date.now() - t0) / 1000;
    console.log(
      `Transformer (2×16, 2 heads, T16 B8): loss ${mean(h.losses.slice(0, 3)).toFixed(3)} → ` +
        `${mean(h.losses.slice(-3)).toFixed(3)} in ${h.step} steps, ${h.stepsPerSec.toFixed(2)} steps/s, ` +
        `${wall.toFixed(1)} s wall from the click; sample ${JSON.stringify(h.samples[h.samples.length - 1])}`,
    );
    expect(wall).toBeLessThan(90);
    expect(h.losses.every(Number.isFinite)).toBe(true);
    expect(h.gradNorms.every((g) => Number.isFinite(g) && g > 0)).toBe(true);
    expect(mean(h.losses.slice(0, 3))).toBeGreaterThan(3.5); // ≈ ln 56 at the start
    expect(mean(h.losses.slice(-3))).toBeLessThan(mean(h.losses.slice(0, 3)));

    // Both runs, in the hook and in the chart's legend, each with its own colour.
    expect(h.runs.length).toBe(2);
    const [lstm, tf] = h.runs;
    expect(lstm.label).toMatch(/^LSTM 1×32/);
    expect(tf.label).toMatch(/^Transformer 2×16\/2h · T16 B8 AdamW 3e-3/);
    expect(lstm.steps).toBeGreaterThanOrEqual(LSTM_STEPS);
    expect(tf.steps).toBe(h.step);
    expect(lstm.color).not.toBe(tf.color);
    expect(h.lossLegend).toContain(lstm.label);
    expect(h.lossLegend).toContain(`${tf.label} (now)`);
    // Both curves are drawn: pixels of both colours on the loss canvas.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const lstmPixels = await countColour('#chart-loss', lstm.color);
    const tfPixels = await countColour('#chart-loss', tf.color);
    console.log(`loss chart: ${lstmPixels} px of the LSTM run's colour, ${tfPixels} of the Transformer's`);
    expect(lstmPixels).toBeGreaterThan(50);
    expect(tfPixels).toBeGreaterThan(50);

    // Generated text on the page.
    const sample = h.samples[h.samples.length - 1];
    expect(sample.startsWith('Shall I ')).toBe(true);
    expect(sample.length).toBe('Shall I '.length + h.params.sampleLength);
    const shownText = await page.$eval('.sample .text', (e) => e.textContent ?? '');
    expect(shownText).toBe(sample);
  }, 300_000);

  it('draws one attention heat map per head; the weights are causal rows that sum to 1', async () => {
    const h = await hook();
    const a = h.attention!;
    expect(a.nhead).toBe(TF.nhead);
    expect(a.numLayers).toBe(TF.numLayers);
    expect(a.weights.length).toBe(TF.numLayers);
    const T = a.chars.length;
    expect(T).toBe(Math.min(24, TF.seqLen));
    expect(h.samples[h.samples.length - 1].endsWith(a.chars.join(''))).toBe(true);
    let worstSum = 0;
    let worstFuture = 0;
    for (const w of a.weights) {
      expect(w.length).toBe(TF.nhead * T * T);
      for (let hd = 0; hd < TF.nhead; hd++) {
        for (let i = 0; i < T; i++) {
          const row = w.slice((hd * T + i) * T, (hd * T + i + 1) * T);
          expect(row.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
          worstSum = Math.max(worstSum, Math.abs(row.reduce((s, v) => s + v, 0) - 1));
          for (let j = i + 1; j < T; j++) worstFuture = Math.max(worstFuture, row[j]);
        }
      }
    }
    console.log(`attention: rows sum to 1 within ${worstSum.toExponential(1)}; largest future weight ${worstFuture}`);
    expect(worstSum).toBeLessThan(1e-4);
    expect(worstFuture).toBeLessThan(1e-6);

    // nhead canvases, each with coloured cells; the layer select switches the layer shown.
    expect(await page.$$eval('canvas.head', (cs) => cs.length)).toBe(TF.nhead);
    for (let i = 0; i < TF.nhead; i++) {
      const blue = await page.$$eval(
        'canvas.head',
        (cs, i) => {
          const cv = cs[i] as HTMLCanvasElement;
          const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
          let n = 0;
          for (let k = 0; k < d.length; k += 4) if (d[k + 2] > d[k] + 30) n++;
          return n;
        },
        i,
      );
      expect(blue, `head ${i + 1}`).toBeGreaterThan(200);
    }
    expect(a.layer).toBe(TF.numLayers - 1);
    await page.select('#attention-layer', '0');
    const first = await hook();
    expect(first.attention!.layer).toBe(0);
    expect(await page.$eval('.attention .muted', (e) => e.textContent)).toContain(`layer 1 of ${TF.numLayers}`);
    await writeFile(join(ARTIFACTS, 'demo-transformer.png'), await page.screenshot({ fullPage: true }));
  }, 120_000);

  it("saves the Transformer's weights with its PyTorch names", async () => {
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: DOWNLOADS });
    const { step } = await hook();
    await clickAction('save');
    let file = '';
    for (const deadline = Date.now() + 60_000; !file;) {
      file = (await readdir(DOWNLOADS)).find((f) => f.endsWith('.safetensors')) ?? '';
      if (!file && Date.now() > deadline) throw new Error('no .safetensors download appeared');
      if (!file) await new Promise((r) => setTimeout(r, 250));
    }
    expect(file).toBe(`seqgpu-charlm-sonnets-transformer-2x16h2-step${step}.safetensors`);
    const tensors = parseSafetensors(await readFile(join(DOWNLOADS, file)));
    const names = Object.keys(tensors);
    for (const n of ['tok_embed.weight', 'pos_embed.weight', 'layers.1.self_attn.in_proj_weight', 'head.weight'])
      expect(names).toContain(n);
    expect(tensors['tok_embed.weight'].shape).toEqual([56, 16]);
  }, 120_000);
});

// End to end: the demo page's controls beyond training (issue 21), in headless Debian Chromium
// (WebGPU on SwiftShader) served by Vite on 127.0.0.1: warnings next to bad hyperparameters, the
// char LM's Generate button (text of the requested length), a bad weight file in a dismissable
// error panel, chart export as CSV (parsed) and PNG, the forecast horizon (the forecast's length),
// and the page at 360 px. Tiny models and few steps; every wait polls with a deadline.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoHook, setPanelValue as setDemoPanelValue, startDemo, waitForDemo, type Snapshot } from './demoPage.js';

const ARTIFACTS = resolve('test/artifacts');
const DOWNLOADS = join(ARTIFACTS, 'demo-controls-downloads');

let browser: Browser;
let page: Page;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  let url: string;
  ({ browser, url, close } = await startDemo(DOWNLOADS));
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  page.on('pageerror', (e) => process.stderr.write(`[demo page error] ${(e as Error).message}\n`));
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: DOWNLOADS });
  await page.goto(url, { waitUntil: 'load' });
}, 120_000);

afterAll(() => close());

const hook = () => demoHook(page);
/** Polls the hook until `ok` holds (an error state is a result here: the tests provoke some). */
const waitFor = (what: string, ok: (h: Snapshot) => boolean, ms = 120_000) => waitForDemo(page, what, ok, ms, []);
const setPanelValue = (key: string, value: string) => setDemoPanelValue(page, key, value);

async function fill(selector: string, value: string): Promise<void> {
  await page.$eval(selector, (e) => ((e as HTMLInputElement).value = ''));
  await page.type(selector, value);
}

/** Waits for a downloaded file named `name` (complete: Chromium writes `.crdownload` first). */
async function download(name: string): Promise<Buffer> {
  for (const deadline = Date.now() + 30_000; ;) {
    if ((await readdir(DOWNLOADS)).includes(name)) return readFile(join(DOWNLOADS, name));
    if (Date.now() > deadline) throw new Error(`no download ${name} (have ${await readdir(DOWNLOADS)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const clickAction = (action: string) => page.click(`[data-action="${action}"] button`);
const warningText = (key: string) =>
  page.$eval(`[data-warning="${key}"]`, (e) => ((e as HTMLElement).hidden ? '' : (e.textContent ?? '')));

describe('demo page controls (headless Chromium, WebGPU on SwiftShader)', () => {
  it('shows compile progress, then a model; every panel input is labelled', async () => {
    const h = await waitFor('the model to be built', (s) => s.state === 'ready', 180_000);
    expect(h.warmup?.finished).toBe(true);
    expect(h.log.some((l) => /^compiled \d+ GPU pipelines/.test(l))).toBe(true);
    const unlabelled = await page.$$eval('#panel input, #panel select, #task-view input', (els) =>
      els.filter((e) => !e.getAttribute('aria-label') && !e.closest('label')).map((e) => e.outerHTML.slice(0, 80)),
    );
    expect(unlabelled).toEqual([]);
  }, 240_000);

  it('warns next to hyperparameters outside their sane range, with the reason', async () => {
    expect((await hook()).warnings).toEqual([]);
    await setPanelValue('lr', '10');
    await waitFor('the lr warning', (s) => s.warnings.some((w) => w.key === 'lr'));
    expect(await warningText('lr')).toMatch(/lr 10 is above 0\.05 for Adam: .*diverges/);
    await setPanelValue('seqLen', '1');
    await waitFor('the seqLen warning', (s) => s.warnings.some((w) => w.key === 'seqLen'));
    expect(await warningText('seqLen')).toMatch(/seqLen 1: .*backpropagation through time/);
    // The input points at its warning (screen readers read it with the control).
    expect(await page.$eval('[data-key="lr"] input', (e) => e.getAttribute('aria-describedby'))).toBe('warning-lr');
    await setPanelValue('lr', '0.01');
    await setPanelValue('seqLen', '16');
    const h = await waitFor('no warnings', (s) => s.warnings.length === 0 && s.params.seqLen === 16);
    expect(h.params.lr).toBe(0.01);
    expect(await page.$$('[data-warning="lr"]')).toHaveLength(0);
  }, 60_000);

  it('generates text of the requested length with the Generate button', async () => {
    await fill('#generate-prompt', 'Shall I');
    await fill('#generate-length', '37');
    await fill('#generate-temperature', '0.8');
    await fill('#generate-topK', '5');
    await page.click('[data-action="generate"]');
    const h = await waitFor('generated text', (s) => s.generated !== null, 60_000);
    const g = h.generated!;
    console.log(`generated (untrained, ${g.ms.toFixed(0)} ms): ${JSON.stringify(g.prompt + g.text)}`);
    expect(g.prompt).toBe('Shall I');
    expect(g.length).toBe(37);
    expect([...g.text]).toHaveLength(37);
    expect(g.temperature).toBe(0.8);
    expect(g.topK).toBe(5);
    await page.waitForSelector('.generated .meta[data-length="37"]');
    expect(await page.$eval('.generated .text', (e) => e.textContent)).toBe(g.prompt + g.text);
    // A length out of range is refused with the reason, nothing generated.
    await fill('#generate-length', '0');
    await page.click('[data-action="generate"]');
    await page.waitForSelector('.generated.invalid');
    expect(await page.$eval('.generated', (e) => e.textContent)).toMatch(/length 0: a whole number .* 1 to 2000/);
  }, 90_000);

  it('shows a bad weight file in an error panel naming what was wrong, and dismisses it', async () => {
    const bad = join(DOWNLOADS, 'notes.txt');
    await writeFile(bad, 'these are not the weights you are looking for\n');
    const [chooser] = await Promise.all([page.waitForFileChooser(), clickAction('load')]);
    await chooser.accept([bad]);
    const h = await waitFor('the error panel', (s) => s.banner !== null, 30_000);
    expect(h.banner).toBe('Could not load weights from notes.txt');
    const text = await page.$eval('#banner', (e) => e.textContent ?? '');
    expect(text).toContain('not a safetensors file');
    expect(text).toContain('header length');
    expect(h.state).toBe('ready'); // the model is untouched
    await page.click('#banner [data-action="dismiss-banner"]');
    await waitFor('the dismissed panel', (s) => s.banner === null, 10_000);
    expect(await page.$eval('#banner', (e) => (e as HTMLElement).hidden)).toBe(true);
    expect(await page.$eval('#banner', (e) => e.childElementCount)).toBe(0);
  }, 60_000);

  it('exports the loss chart as CSV that parses, and as PNG', async () => {
    await clickAction('start');
    await waitFor('a few steps', (s) => s.step >= 6, 120_000);
    await clickAction('pause');
    // Paused, and the tick in flight has recorded its steps (pause's weight copy runs after it).
    const h = await waitFor('pause', (s) => s.state === 'paused' && s.snapshotStep === s.step);
    await page.click('[data-chart="loss"] [data-chart-action="csv"]');
    const csv = (await download('seqgpu-loss.csv')).toString('utf8');
    const [header, ...rows] = csv.trim().split('\n');
    expect(header).toBe('series,training step,loss (nats / character)');
    const parsed = rows.map((r) => {
      const [series, x, y] = r.split(',');
      return { series, x: Number(x), y: Number(y) };
    });
    const train = parsed.filter((r) => r.series === 'train');
    expect(train.map((r) => r.x)).toEqual(h.lossSteps);
    expect(train.map((r) => r.y)).toEqual(h.losses);
    expect(parsed.every((r) => Number.isFinite(r.x) && Number.isFinite(r.y))).toBe(true);
    await page.click('[data-chart="loss"] [data-chart-action="png"]');
    const png = await download('seqgpu-loss.png');
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // The log-scale toggle redraws the chart on a log axis.
    await page.click('[data-chart="loss"] [data-chart-action="log"]');
    expect(
      await page.$eval('[data-chart="loss"] [data-chart-action="log"]', (e) => (e as HTMLInputElement).checked),
    ).toBe(true);
  }, 180_000);

  it('forecasts as many months as the horizon says (airline series)', async () => {
    await page.select('[data-key="task"] select', 'time-series forecasting');
    await waitFor('the time-series model', (s) => s.task === 'timeSeries' && s.state === 'ready', 120_000);
    await page.select('[data-key="series"] select', 'airline passengers 1949–1960');
    await waitFor('the airline series', (s) => s.params.series === 'airline');
    await setPanelValue('horizon', '12');
    const a = await waitFor('a 12-month forecast', (s) => s.forecast?.horizon === 12, 60_000);
    expect(a.forecast!.values).toHaveLength(12);
    expect(a.forecast!.truthSteps).toBe(12);
    await setPanelValue('horizon', '30');
    const b = await waitFor('a 30-month forecast', (s) => s.forecast?.horizon === 30, 60_000);
    expect(b.forecast!.values).toHaveLength(30);
    expect(b.forecast!.truthSteps).toBe(24); // the data ends in Dec 1960
    expect(b.forecast!.values.every(Number.isFinite)).toBe(true);
    // The chart's CSV has the 30 forecast months (plus the history's last point it starts from).
    await page.click('[data-chart="forecast"] [data-chart-action="csv"]');
    const rows = (await download('seqgpu-forecast.csv')).toString('utf8').trim().split('\n');
    expect(rows[0]).toBe('series,year,passengers (thousands / month)');
    expect(rows.filter((r) => r.startsWith('forecast,'))).toHaveLength(31);
  }, 180_000);

  it('shows a failed build in the error panel with the reason; a fixed value builds again', async () => {
    await page.select('[data-key="task"] select', 'character language model');
    await waitFor('the char LM', (s) => s.task === 'charLM' && s.state === 'ready', 120_000);
    await page.select('[data-key="lmModel"] select', 'Transformer');
    const t = await waitFor('the Transformer', (s) => /^char LM: Transformer/.test(s.model) && s.state === 'ready');
    expect(t.params.dModel % 3).not.toBe(0);
    await setPanelValue('nhead', '3');
    const h = await waitFor('the failed build', (s) => s.state === 'error', 60_000);
    expect(h.banner).toBe('Could not build the model');
    expect(h.warnings.map((w) => w.key)).toContain('nhead');
    expect(await warningText('nhead')).toMatch(/not divisible by 3 heads/);
    const text = await page.$eval('#banner', (e) => e.textContent ?? '');
    console.log(`failed build: ${text.slice(0, 200)}`);
    expect(text).toMatch(/nhead/);
    await page.click('#banner [data-action="dismiss-banner"]');
    await waitFor('the dismissed panel', (s) => s.banner === null, 10_000);
    await setPanelValue('nhead', '4');
    await waitFor('the rebuilt Transformer', (s) => s.state === 'ready' && s.params.nhead === 4, 120_000);
  }, 240_000);

  it('fits a 360 px wide screen: no horizontal scrolling, panel below the page', async () => {
    await page.setViewport({ width: 360, height: 740 });
    await new Promise((r) => setTimeout(r, 300));
    const m = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      panel: getComputedStyle(document.getElementById('panel')!).position,
      charts: [...document.querySelectorAll('#charts canvas')].map((c) => (c as HTMLCanvasElement).clientWidth),
    }));
    expect(m.scroll).toBeLessThanOrEqual(360);
    expect(m.panel).toBe('static');
    expect(Math.max(...m.charts)).toBeLessThanOrEqual(340);
    // Resized charts redraw at their new size (the backing store follows the CSS box).
    await new Promise((r) => setTimeout(r, 300));
    const sized = await page.$eval('#chart-loss', (c) => {
      const cv = c as HTMLCanvasElement;
      return Math.abs(cv.width - Math.round(cv.clientWidth * devicePixelRatio)) <= 1;
    });
    expect(sized).toBe(true);
  }, 30_000);

  it('follows prefers-color-scheme, and its controls are reachable by keyboard', async () => {
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    expect(await background()).toBe('rgb(22, 24, 27)');
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
    expect(await background()).toBe('rgb(250, 250, 250)');
    // From the skip link, Tab walks into the page's controls; the panel's buttons are reachable too.
    const focused: string[] = [];
    await page.focus('a.skip');
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      focused.push(
        await page.evaluate(() => {
          const e = document.activeElement as HTMLElement | null;
          return `${e?.tagName.toLowerCase()}:${e?.getAttribute('aria-label') ?? e?.textContent?.trim() ?? ''}`;
        }),
      );
    }
    expect(focused).toContain('button:save the data of the loss chart as CSV');
    expect(focused.some((f) => f.startsWith('button:') && /start/.test(f))).toBe(true);
  }, 30_000);
});

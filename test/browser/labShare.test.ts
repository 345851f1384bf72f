// End to end: what the kernel lab (demo/lab.html) gives a performance engineer to trust and share
// its numbers (issue 21), in headless Debian Chromium (WebGPU on SwiftShader), tiny shapes, 2 reps:
// - a permalink (the URL's hash) restores the configuration, and the address follows the panel;
// - a wrong output shows "wrong output" and its error, and no ratio: the page is opened with its
//   test hook `?perturb=tfjs` (demo/lab/perturb.ts: tf.softmax / tf.matMul outputs + 0.5), so the
//   bench's own tfjs-vs-seqgpu comparison finds tfjs wrong, deterministically;
// - min / median / max and every raw sample, seqgpu against the float64 reference, the compile time
//   of each pipeline, the matmul and LSTM tile sweeps, the measured peak and the share of it;
// - at 360 px wide: the panel above the results, no page-wide horizontal scroll, every control
//   labelled and reached by Tab; light and dark colours from prefers-color-scheme;
// - the CSV download happens (Chromium's download directory) and parses back to the page's numbers.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'puppeteer';
import { launchChromium, startServer } from '../../tools/chromium.mjs';
import { CSV_COLUMNS } from '../../demo/lab/csv.js';
import { labState, openLab, press, setField } from './labPage.js';

let url: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let downloads: string;
const cleanup: Array<() => Promise<void>> = [];

/** RFC 4180: quoted fields with doubled quotes, CRLF line ends. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') ((f += '"'), i++);
      else if (ch === '"') quoted = false;
      else f += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') (row.push(f), (f = ''));
    else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(f);
      rows.push(row);
      ((row = []), (f = ''), i++);
    } else f += ch;
  }
  expect(f === '' && row.length === 0, 'the CSV ends with CRLF').toBe(true);
  return rows;
}

const CONFIG = 'kernel=softmax&rows=5&cols=3&reps=2&peerReps=1&tfjs=1&ort=0&sweep=0';

beforeAll(async () => {
  const server = await startServer();
  cleanup.push(server.close);
  url = server.url;
  const chromium = await launchChromium();
  cleanup.push(chromium.close);
  browser = chromium.browser;
  downloads = await mkdtemp(join(tmpdir(), 'seqgpu-lab-share-'));
  cleanup.push(() => rm(downloads, { recursive: true, force: true }));
  context = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || process.env.SEQGPU_PAGE_LOG)
      process.stderr.write(`[lab page ${m.type()}] ${m.text()}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`[lab page error] ${(e as Error).message}\n`));
  await page.setViewport({ width: 360, height: 800 });
  await openLab(page, `${url}/demo/lab.html?perturb=tfjs#${CONFIG}`);
}, 300_000);

afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

describe('kernel lab: share, export and trust its numbers (headless Chromium)', () => {
  it('a permalink restores the configuration into the panel', async () => {
    const s = await labState(page);
    expect(s.restored).toEqual(['kernel', 'rows', 'cols', 'reps', 'peerReps', 'tfjs', 'ort', 'sweep']);
    expect(s.config!.settings).toMatchObject({ kernel: 'softmax', reps: 2, peerReps: 1, tfjs: true, ort: false });
    expect(s.config!.params).toEqual({ rows: 5, cols: 3 });
    // The panel shows it: the softmax folder, its fields, the reps.
    expect(await page.$eval('[data-field="softmax.rows"] input', (el) => (el as HTMLInputElement).value)).toBe('5');
    expect(await page.$eval('[data-field="softmax.cols"] input', (el) => (el as HTMLInputElement).value)).toBe('3');
    expect(await page.$eval('[data-field="lab.reps"] input', (el) => (el as HTMLInputElement).value)).toBe('2');
    expect(
      await page.$eval('[data-field="lab.kernel"] select', (el) => {
        const select = el as HTMLSelectElement;
        return select.options[select.selectedIndex].textContent;
      }),
    ).toBe('softmax (rows)');
    expect(await page.$eval('[data-field="matmul.M"]', (el) => (el as HTMLElement).offsetParent)).toBeNull();
  });

  it('the address follows the panel, and that link opens the same configuration', async () => {
    await setField(page, 'softmax.cols', 4);
    const hash = await page.evaluate(() => location.hash);
    expect(hash).toBe(`#${CONFIG.replace('cols=3', 'cols=4')}`);
    expect(await page.$eval('#permalink', (el) => (el as HTMLAnchorElement).hash)).toBe(hash);
    const other = await context.newPage();
    try {
      const s = await openLab(other, `${url}/demo/lab.html${hash}`);
      expect(s.config!.params).toEqual({ rows: 5, cols: 4 });
      expect(s.config!.settings.kernel).toBe('softmax');
    } finally {
      await other.close();
    }
    await setField(page, 'softmax.cols', 3);
  });

  it('a wrong output shows "wrong output" and its error, and no ratio', async () => {
    const s = await press(page, 'lab.run');
    expect(s.error).toBeNull();
    const r = s.results.at(-1)!;
    expect(r.workload).toBe('softmax 5×3');
    // seqgpu is right: checked against float64 at this shape.
    expect(r.reference).toMatchObject({ checked: true });
    expect((r.reference as { maxRel: number }).maxRel).toBeLessThan(1e-5);
    const [seqgpu, tfjs] = r.metrics;
    expect(seqgpu.wrong).toBeUndefined();
    expect(tfjs.name).toBe('tfjs-webgpu');
    expect(tfjs.wrong).toMatch(/^max \|tfjs − seqgpu\| = 5\.00e-1$/);
    expect(tfjs.ratio).toBeUndefined();
    expect(tfjs.gpuRatio).toBeUndefined();
    expect(tfjs.noRatio).toBe(`wrong output: ${tfjs.wrong}`);
    const cells = await page.$$eval('section[data-workload="softmax 5×3"] tr[data-metric="vs seqgpu"] td', (tds) =>
      tds.map((td) => td.textContent ?? ''),
    );
    expect(cells).toEqual(['', 'wrong output (error 5.00e-1)']);
    expect(cells.join('')).not.toContain('×');
    // min / median / max and every sample: seqgpu's 2 timed runs, the peer's 1.
    for (const m of [seqgpu, tfjs]) {
      const reps = m.name === 'seqgpu' ? 2 : 1;
      expect(m.wallRuns).toHaveLength(reps);
      expect(m.wall!.n).toBe(reps);
      expect(m.wall!.min).toBe(Math.min(...m.wallRuns!));
      expect(m.wall!.max).toBe(Math.max(...m.wallRuns!));
      expect(m.wall!.min).toBeLessThanOrEqual(m.wall!.median);
      if (m.gpuMs !== undefined) expect(m.gpuRuns!.length).toBeGreaterThan(0);
      // GPU > wall is flagged, and only then.
      expect(m.gpuOverWall !== undefined).toBe(m.gpuMs !== undefined && m.gpuMs > m.wallMs!);
    }
    const samples = await page.$$eval('section[data-workload="softmax 5×3"] details.samples li', (lis) =>
      lis.map((li) => li.textContent),
    );
    expect(samples[0]).toBe(`seqgpu wall: ${seqgpu.wallRuns!.map((x) => x.toPrecision(4)).join(', ')}`);
    // The compile time of the softmax pipeline, measured on the probe device.
    expect(r.compile.length).toBeGreaterThan(0);
    expect(r.compile.some((c) => c.pipeline.startsWith('softmax'))).toBe(true);
    for (const c of r.compile) expect(c.ms).toBeGreaterThan(0);
  });

  it('measures the peak, then a matmul row shows its share; the tile sweep gives a result per tile', async () => {
    let s = await press(page, 'lab.peak', 120_000);
    expect(s.error).toBeNull();
    expect(s.peak!.gflops).toBeGreaterThan(0);
    expect(await page.$eval('#adapter-line', (el) => el.textContent)).toContain('measured peak');
    expect(Object.keys(s.limits!)).toContain('maxStorageBufferBindingSize');
    await setField(page, 'lab.kernel', 'matmul');
    for (const [k, v] of Object.entries({ M: 16, N: 8, K: 12, batch: 1 })) await setField(page, `matmul.${k}`, v);
    await setField(page, 'lab.sweep', true);
    s = await press(page, 'lab.run');
    expect(s.error).toBeNull();
    const r = s.results.at(-1)!;
    expect(r.workload).toBe('matmul 16×8×12');
    const seqgpu = r.metrics[0];
    expect(seqgpu.peakFraction).toBeCloseTo(seqgpu.gflops! / s.peak!.gflops, 9);
    expect(r.reference).toMatchObject({ checked: true });
    // The perturbed tfjs matMul is wrong too: no ratio.
    expect(r.metrics[1].ratio).toBeUndefined();
    expect(r.metrics[1].wrong).toMatch(/^max \|tfjs − seqgpu\| ÷ max \|seqgpu\|/);
    const entries = r.sweep!.entries;
    expect(entries.map((e) => e.tile)).toEqual([
      'registers 8×8',
      'registers 4×4',
      'registers 16×8',
      'registers 16×16',
      'subgroups 8×4',
      'subgroups 4×4',
      'subgroups 16×2',
      'workgroup 16×16 K16',
      'workgroup 8×8 K16',
      'workgroup 16×16 K32',
      'workgroup 8×8 K32',
    ]);
    expect(entries.filter((e) => e.isDefault)).toHaveLength(1);
    for (const e of entries) {
      if (e.error) continue; // a tile this device refuses says why
      expect(e.wrong, e.tile).toBeUndefined();
      expect(e.maxRel!).toBeLessThan(1e-5);
      expect(e.wallRuns).toHaveLength(2);
    }
    expect(entries.filter((e) => !e.error).length).toBeGreaterThanOrEqual(6);
    // Chromium's SwiftShader has subgroups of exactly 4: the 'subgroups' kernel runs (and is right).
    expect(entries.filter((e) => e.tile.startsWith('subgroups') && !e.error)).toHaveLength(3);
    const rows = await page.$$eval('section[data-workload="matmul 16×8×12"] .sweep tr[data-tile]', (trs) => trs.length);
    expect(rows).toBe(entries.length);
    await setField(page, 'lab.sweep', false);
  });

  it('the LSTM tile sweep: every step tile (wg × bt ≤ batch), persistent, wavefront; same output', async () => {
    await setField(page, 'lab.kernel', 'LSTM / GRU layer forward');
    const fields = { cell: 'lstm', batch: 2, seqLen: 3, inputSize: 4, hidden: 8 };
    for (const [k, v] of Object.entries(fields)) await setField(page, `forward.${k}`, v);
    await setField(page, 'lab.tfjs', false);
    await setField(page, 'lab.ort', false);
    await setField(page, 'lab.sweep', true);
    const s = await press(page, 'lab.run');
    expect(s.error).toBeNull();
    const r = s.results.at(-1)!;
    expect(r.workload).toBe('lstm fwd B2 T3 I4 H8');
    const entries = r.sweep!.entries;
    expect(entries.map((e) => e.tile)).toEqual([
      'step 64×1',
      'step 64×2',
      'step 32×1',
      'step 16×1',
      'step 8×1',
      'step 128×1',
      'step 256×1',
      'step 8×2',
      'persistent',
      'wavefront',
    ]);
    // SwiftShader is a fallback adapter: its default tile has min(8, batch) rows per thread and
    // 64 threads per workgroup halved (down to 8) for ≥ 4 workgroups; H 8 with 4 units per thread
    // is 2 threads: 8 × 2, not in the sweep's list, so swept as well.
    expect(entries.find((e) => e.isDefault)?.tile).toBe('step 8×2');
    for (const e of entries) {
      expect(e.error, e.tile).toBeUndefined();
      expect(e.wall!.n).toBe(2);
      if (e !== entries[0]) expect(e.maxRel!, e.tile).toBeLessThan(1e-5);
    }
    await setField(page, 'lab.sweep', false);
    await setField(page, 'lab.tfjs', true);
    await setField(page, 'lab.ort', true);
  });

  it('exports CSV: the download happens and parses back to the numbers on the page', async () => {
    const s = await labState(page);
    await page.click('[data-field="lab.csv"] button');
    const name = await waitForFile('.csv');
    expect((await labState(page)).exportedCsv).toBe(name);
    const rows = parseCsv(await readFile(join(downloads, name), 'utf8'));
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    const col = (c: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(c);
    const lines = rows.slice(1);
    const impl = s.results.flatMap((r) => r.metrics.map((m) => ({ r, m })));
    const tiles = s.results.flatMap((r) => r.sweep?.entries ?? []);
    expect(lines).toHaveLength(impl.length + tiles.length);
    for (const { r, m } of impl) {
      const line = lines.find((l) => l[col('workload')] === r.workload && l[col('implementation')] === m.name)!;
      expect(line, `${r.workload} ${m.name}`).toBeDefined();
      if (m.error) {
        expect(line[col('status')]).toBe(`error: ${m.error}`); // a peer switched off
        continue;
      }
      expect(Number(line[col('wall median ms')])).toBe(m.wall!.median);
      expect(Number(line[col('GFLOP/s')])).toBe(m.gflops);
      expect(line[col('wall samples ms')].split(' ').map(Number)).toEqual(m.wallRuns!.map((x) => +x.toFixed(4)));
      expect(line[col('status')]).toBe(m.wrong ? `wrong output: ${m.wrong}` : 'ok');
      expect(line[col('ratio vs seqgpu (wall)')]).toBe(m.ratio === undefined ? '' : String(m.ratio));
    }
    const sweepLines = lines.filter((l) => l[col('implementation')].startsWith('seqgpu tile '));
    expect(sweepLines).toHaveLength(tiles.length);
    if (process.env.SEQGPU_LAB_SCREENSHOT)
      await page.screenshot({ path: process.env.SEQGPU_LAB_SCREENSHOT as `${string}.png`, fullPage: true });
  });

  it('works at 360 px: the panel sits above the results, nothing wider than the page but scrolled tables', async () => {
    const layout = await page.evaluate(() => {
      const panel = document.getElementById('panel')!.getBoundingClientRect();
      const results = document.getElementById('results')!.getBoundingClientRect();
      return {
        width: document.documentElement.clientWidth,
        scrollWidth: document.documentElement.scrollWidth,
        panelRight: panel.right,
        panelAbove: panel.bottom <= results.top,
        unlabelled: [...document.querySelectorAll('#panel input, #panel select, #panel button')]
          // A folder's button is named by its visible title.
          .filter((el) => !el.getAttribute('aria-label') && !(el.tagName === 'BUTTON' && el.textContent?.trim()))
          .map((el) => el.outerHTML.slice(0, 80)),
      };
    });
    expect(layout.width).toBe(360);
    expect(layout.scrollWidth).toBe(360);
    expect(layout.panelRight).toBeLessThanOrEqual(360);
    expect(layout.panelAbove).toBe(true);
    expect(layout.unlabelled).toEqual([]);
    // prefers-color-scheme: dark text on light, light text on dark.
    const colours = async (scheme: 'light' | 'dark') => {
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: scheme }]);
      return page.evaluate(() => {
        const body = getComputedStyle(document.body);
        return { fg: body.color, bg: body.backgroundColor };
      });
    };
    expect(await colours('light')).toEqual({ fg: 'rgb(27, 27, 27)', bg: 'rgb(255, 255, 255)' });
    expect(await colours('dark')).toEqual({ fg: 'rgb(230, 230, 230)', bg: 'rgb(21, 23, 26)' });
    await page.emulateMediaFeatures([]);
    // Keyboard: Tab from the top reaches the Run button.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(
        () => document.activeElement?.closest('[data-field]')?.getAttribute('data-field') === 'lab.run',
      );
    }
    expect(reached).toBe(true);
  });
});

async function waitForFile(ext: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const f = (await readdir(downloads)).find((x) => x.endsWith(ext));
    if (f) return f;
    if (Date.now() > deadline) throw new Error(`no ${ext} download after 20 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

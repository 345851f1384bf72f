// Using the package as people do: `npm pack` + `npm install` into a throwaway app
// (tools/package-app.mjs), whose page (test/fixtures/consumer) runs a matmul, a one-layer LSTM
// forward and a ShapeError with `import * as seqgpu from 'seqgpu'`:
//   (a) under Vite's dev server (dependency pre-bundling of the package's browser entry),
//   (b) from `vite build` (minified) served by `vite preview`, both loaded in headless Chromium
//       (WebGPU on SwiftShader), and
//   (c) in plain Node (`node app.mjs`, the package's Node entry on Dawn), which without the
//       `webgpu` package says to install it.
// The numbers are checked against float64 references. Then bundle size: a one-LSTM app
// (forward only) bundled from the package ships the LSTM step kernel and not the attention,
// decoding or optimizer kernels, and less WGSL than an app that keeps every export; the sizes
// are printed.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer';
import { launchChromium, runPage } from '../../tools/chromium.mjs';
import { linkFromRepo, packAndInstall } from '../../tools/package-app.mjs';
import {
  LSTM_SIZES,
  MATMUL_A,
  MATMUL_B,
  lstmInput,
  lstmWeights,
  type ConsumerResult,
} from '../fixtures/consumer/compute.mjs';
import { matmulRef } from '../../src/reference/matmul.js';
import { rnnForwardRef } from '../../src/reference/rnn.js';

const root = resolve('.');
const fixtures = join(root, 'test/fixtures/consumer');
const FIXTURE_FILES = ['index.html', 'main.js', 'compute.mjs', 'app.mjs', 'lstm-only.js', 'full.js', 'no-webgpu.mjs'];

let app: string;
let cleanup = () => {};
let chromium: { browser: Browser; close(): Promise<void> } | null = null;
const closers: Array<() => Promise<void>> = [];

beforeAll(() => {
  for (const f of ['dist/index.js', 'dist/index.browser.js'])
    expect(existsSync(join(root, f)), `${f} is missing: run npm run build`).toBe(true);
  ({ app, cleanup } = packAndInstall(root));
  linkFromRepo(app, ['vite']); // as `npm install -D vite` would add it; `webgpu` only for Node, below
  for (const f of FIXTURE_FILES) copyFileSync(join(fixtures, f), join(app, f));
}, 180_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await chromium?.close();
  cleanup();
});

async function browser(): Promise<Browser> {
  chromium ??= await launchChromium();
  return chromium.browser;
}

/** The float64 references of what compute.mjs runs. */
function references() {
  const { T, B, I, H } = LSTM_SIZES;
  const mm = matmulRef(MATMUL_A, MATMUL_B, { M: 2, N: 4, K: 3 });
  const lstm = rnnForwardRef(
    { cell: 'lstm', inputSize: I, hiddenSize: H, numLayers: 1, bias: true, batchFirst: false, bidirectional: false },
    lstmWeights(),
    lstmInput(),
    T,
    B,
  );
  return { mm, lstm };
}

function expectClose(what: string, got: number[], want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect(worst, `${what}: max |gpu − float64 reference|`).toBeLessThan(tol);
}

/** Checks one run of compute.mjs: the numbers and how a ShapeError prints. */
function checkResult(where: string, r: ConsumerResult): void {
  const ref = references();
  expectClose(`${where} matmul`, r.matmul, ref.mm);
  expectClose(`${where} LSTM output`, r.lstm.output, ref.lstm.output);
  expectClose(`${where} LSTM hN`, r.lstm.hN, ref.lstm.hN);
  expectClose(`${where} LSTM cN`, r.lstm.cN, ref.lstm.cN!);
  // Error classes keep their names through minification: `ShapeError: …`, not `n [ShapeError]` or `e: …`.
  expect(r.shapeError, `${where}: matmul of [2, 3]·[2, 3] did not throw`).not.toBeNull();
  expect(r.shapeError!.string).toMatch(/^ShapeError: matmul/);
  expect(r.shapeError!.name).toBe('ShapeError');
  expect(r.shapeError!.constructorName).toBe('ShapeError');
  expect(r.shapeError!.isShapeError).toBe(true);
}

async function runInChromium(url: string): Promise<ConsumerResult> {
  const out = (await runPage(await browser(), url, '__consumer', 120_000)) as {
    result?: ConsumerResult;
    error?: string;
  };
  expect(out.error, `${url}: ${out.error}`).toBeUndefined();
  return out.result!;
}

describe('a consumer app with the packed package installed, in Chromium', () => {
  it(
    '(a) `vite` dev server: pre-bundles the browser entry (no `webgpu`) and the ' + 'page computes in Chromium',
    async () => {
      // A browser app does not install Dawn's `webgpu`: the old single entry's `import(spec)`,
      // which Vite's pre-bundling turned into import("webgpu"), failed here to resolve.
      expect(existsSync(join(app, 'node_modules/webgpu'))).toBe(false);
      const { createServer } = await import('vite');
      const t0 = performance.now();
      // A fresh app's defaults: no config file, the package pre-bundled from node_modules.
      const server = await createServer({
        root: app,
        configFile: false,
        logLevel: 'warn',
        clearScreen: false,
        server: { host: '127.0.0.1', port: 0, hmr: false },
      });
      closers.push(() => server.close());
      await server.listen();
      const address = server.httpServer!.address();
      if (!address || typeof address === 'string') throw new Error('vite dev server has no TCP address');
      checkResult('vite dev', await runInChromium(`http://127.0.0.1:${address.port}/`));
      // The page got seqgpu from Vite's pre-bundle of the browser entry.
      const optimized = JSON.parse(readFileSync(join(app, 'node_modules/.vite/deps/_metadata.json'), 'utf8')) as {
        optimized: Record<string, { src: string }>;
      };
      expect(optimized.optimized.seqgpu?.src).toMatch(/seqgpu\/dist\/index\.browser\.js$/);
      console.log(`consumer (a) vite dev: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    },
    180_000,
  );

  it(
    '(b) `vite build` (minified) + `vite preview`: the built page computes in ' + 'Chromium and prints `ShapeError: …`',
    async () => {
      const { build, preview } = await import('vite');
      const t0 = performance.now();
      await build({
        root: app,
        configFile: false,
        logLevel: 'warn',
        build: { outDir: 'dist', chunkSizeWarningLimit: 4096 },
      });
      const assets = readdirSync(join(app, 'dist/assets')).filter((f) => f.endsWith('.js'));
      const bundle = assets.map((f) => readFileSync(join(app, 'dist/assets', f), 'utf8')).join('\n');
      expect(bundle).not.toMatch(/dawn\.node|["'`]webgpu["'`]/); // Dawn stays out of a browser build
      const server = await preview({
        root: app,
        configFile: false,
        logLevel: 'warn',
        preview: { host: '127.0.0.1', port: 0 },
      });
      closers.push(async () => {
        await server.close();
      });
      const url = server.resolvedUrls?.local[0];
      expect(url, 'vite preview has no local URL').toBeDefined();
      checkResult('vite build + preview', await runInChromium(url!));
      console.log(`consumer (b) vite build + preview: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    },
    180_000,
  );
});

/**
 * For each shader, a line of its source found in no other shader (ASCII, no quotes, `$` or backslashes, so it reads the
 * same inside any JS string literal).
 */
function shaderMarkers(): Map<string, { marker: string; bytes: number }> {
  const dir = join(root, 'shaders');
  const sources = new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.wgsl'))
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
  const out = new Map<string, { marker: string; bytes: number }>();
  for (const [name, text] of sources) {
    const others = [...sources].filter(([n]) => n !== name).map(([, t]) => t);
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[\x20-\x7e]+$/.test(l) && !/["'`\\$]/.test(l) && !others.some((t) => t.includes(l)))
      .sort((a, b) => b.length - a.length);
    expect(lines[0]?.length ?? 0, `${name}: no distinctive line`).toBeGreaterThan(20);
    out.set(name, { marker: lines[0], bytes: Buffer.byteLength(text) });
  }
  return out;
}

describe('bundle size: an app ships the kernels it can reach', () => {
  it(
    'a one-LSTM app (forward only) bundles the LSTM step kernel, not attention / ' + 'decoding / optimizer kernels',
    async () => {
      const { build } = await import('vite');
      const bundles: Record<string, string> = {};
      for (const entry of ['lstm-only', 'full']) {
        // Minified app builds of the one entry (seqgpu has no runtime dependency to include).
        await build({
          root: app,
          configFile: false,
          logLevel: 'warn',
          build: {
            outDir: `dist-${entry}`,
            minify: true,
            chunkSizeWarningLimit: 4096,
            rollupOptions: { input: join(app, `${entry}.js`), output: { entryFileNames: `${entry}.js` } },
          },
        });
        bundles[entry] = readdirSync(join(app, `dist-${entry}`), { recursive: true, encoding: 'utf8' })
          .filter((f) => f.endsWith('.js'))
          .map((f) => readFileSync(join(app, `dist-${entry}`, f), 'utf8'))
          .join('\n');
      }
      const markers = shaderMarkers();
      const shipped = (bundle: string) =>
        [...markers]
          .filter(([, m]) => bundle.includes(m.marker))
          .map(([name]) => name)
          .sort();
      const full = shipped(bundles.full);
      const lean = shipped(bundles['lstm-only']);
      const payload = (names: string[]) => names.reduce((n, s) => n + markers.get(s)!.bytes, 0);
      expect(full, 'an app keeping every export ships every shader').toEqual([...markers.keys()].sort());
      for (const s of [
        'lstm_step.wgsl',
        'activations.wgsl',
        'step_params.wgsl',
        'recurrent_matvec.wgsl',
        'matmul.wgsl',
      ])
        expect(lean, s).toContain(s);
      for (const s of [
        'attention.wgsl',
        'attention_backward.wgsl',
        'rnn_attention.wgsl',
        'beam_search_step.wgsl',
        'next_token.wgsl',
        'optimizer.wgsl',
        'nan_guard.wgsl',
        'cross_entropy.wgsl',
        'embedding.wgsl',
      ]) {
        expect(lean, s).not.toContain(s);
      }
      expect(payload(lean)).toBeLessThan(payload(full));
      const size = (s: string) =>
        `${(Buffer.byteLength(s) / 1024).toFixed(1)} KiB minified, ${(gzipSync(s).length / 1024).toFixed(1)} KiB gzip`;
      console.log(
        [
          `bundle: every export: ${size(bundles.full)}; ` +
            `WGSL ${(payload(full) / 1024).toFixed(1)} KiB in ${full.length} shaders`,
          `bundle: one LSTM (forward): ${size(bundles['lstm-only'])}; ` +
            `WGSL ${(payload(lean) / 1024).toFixed(1)} KiB in ${lean.length} ` +
            `shaders: ${lean.join(', ')}`,
        ].join('\n'),
      );
    },
    180_000,
  );
});

// Last: these add `webgpu` to the app, which a browser app does not have (with it installed, the
// old single entry's `import(spec)` resolved in Vite's dev server and hid the bug).
describe('the same app in plain Node', () => {
  it('(c) plain Node: without `webgpu` installed, requestGpu says to install it', () => {
    const out = execFileSync(process.execPath, ['no-webgpu.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toMatch(/^GpuError: seqgpu: Node has no WebGPU\. Install Dawn's bindings: `npm install webgpu`/);
  });

  it('(c) plain Node: `node app.mjs` runs matmul and LSTM on Dawn through the Node entry', () => {
    linkFromRepo(app, ['webgpu']); // as `npm install webgpu` would add it
    const resolved = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `console.log(import.meta.resolve('seqgpu'))`],
      { cwd: app, encoding: 'utf8' },
    ).trim();
    expect(resolved).toBe(`file://${app}/node_modules/seqgpu/dist/index.js`);
    const t0 = performance.now();
    const out = execFileSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    checkResult('node', JSON.parse(out.trim().split('\n').pop()!) as ConsumerResult);
    console.log(`consumer (c) node app.mjs: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 180_000);
});

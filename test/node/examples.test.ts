// Runs every program in examples/ as a user would, and checks what it prints:
//   - the Node ones as child processes (`node examples/<file>` from the repo root: 'seqgpu' is the
//     built package, dist/, found by its own name through package.json "exports", the Node entry
//     on Dawn — SwiftShader here, from the environment tools/with-swiftshader.sh set for vitest),
//     with small sizes where the example takes arguments;
//   - the quick start's page (examples/quickstart.html) under Vite's dev server in headless
//     Chromium, where 'seqgpu' resolves to the browser entry.
// The quick start's output also has to match what README.md says it prints.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../tools/chromium.mjs';
import { codeBlocks } from '../../tools/readme-code.mjs';

const root = resolve('.');
const run = promisify(execFile);
const tested = new Set<string>();
const tmp: string[] = [];

beforeAll(() => {
  for (const f of ['dist/index.js', 'dist/index.browser.js'])
    expect(existsSync(join(root, f)), `${f} is missing: run npm run build`).toBe(true);
});

afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

/** Runs `node examples/<file> ...args` from the repo root; returns its stdout (fails with its stderr). */
async function example(file: string, args: string[] = [], timeoutMs = 150_000): Promise<string> {
  tested.add(file);
  const t0 = performance.now();
  try {
    const { stdout } = await run(process.execPath, [join('examples', file), ...args], {
      cwd: root,
      env: process.env,
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
    });
    console.log(
      `examples/${file} ${args.join(' ')}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${stdout.trimEnd()}`,
    );
    return stdout;
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string; message: string };
    throw new Error(`examples/${file} failed (exit ${err.code}):\n${err.stdout ?? ''}\n${err.stderr ?? err.message}`);
  }
}

/** The quick start's printout: `step N: loss X` lines and the generated line. */
function quickStartOutput(out: string): { steps: number[]; losses: number[]; sample: string } {
  const lines = out.trimEnd().split('\n');
  const steps: number[] = [];
  const losses: number[] = [];
  for (const l of lines.slice(0, -1)) {
    const m = /^step (\d+): loss (\d+\.\d{3})$/.exec(l);
    expect(m, `not a loss line: ${JSON.stringify(l)}`).not.toBeNull();
    steps.push(Number(m![1]));
    losses.push(Number(m![2]));
  }
  return { steps, losses, sample: lines.at(-1)! };
}

/** What README.md says the quick start prints (the text block after the quick start). */
function readmeQuickStart(): ReturnType<typeof quickStartOutput> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const quick = readme.slice(readme.indexOf('\n## Quick start\n'), readme.indexOf('\n## Examples\n'));
  const text = codeBlocks(quick).find((b) => b.lang === 'text');
  expect(text, 'README Quick start has no ```text block of the output').toBeDefined();
  return quickStartOutput(text!.code);
}

function checkQuickStart(where: string, out: string): number[] {
  const got = quickStartOutput(out);
  const want = readmeQuickStart();
  expect(got.steps, where).toEqual([0, 20, 40, 60, 80, 100]);
  expect(got.losses[0], `${where}: first loss ≈ ln(vocab)`).toBeGreaterThan(2.5);
  expect(got.losses.at(-1)!, `${where}: the loss went down`).toBeLessThan(got.losses[0] / 4);
  // README shows the numbers a user gets: within 0.05 of this run's (SwiftShader; a GPU may differ slightly).
  for (let i = 0; i < got.losses.length; i++)
    expect(
      Math.abs(got.losses[i] - want.losses[i]),
      `${where}: README's step ${got.steps[i]} loss ${want.losses[i]} vs ${got.losses[i]}`,
    ).toBeLessThan(0.05);
  expect(got.sample, where).toMatch(/^Shall I.{40}$/s);
  return got.losses;
}

let nodeLosses: number[] = [];

describe('examples/ in Node', () => {
  it('quickstart.mjs: the loss goes down, as README says, and it writes', async () => {
    nodeLosses = checkQuickStart('node quickstart.mjs', await example('quickstart.mjs'));
  }, 180_000);

  it('train-char-lm.mjs: training and held-out loss go down', async () => {
    const out = await example('train-char-lm.mjs', ['--steps=80', '--hidden=32', '--seqLen=16', '--batch=8']);
    expect(out).toMatch(/^step {4}1 {2}loss/m);
    expect(out).toMatch(/^step {3}80 {2}loss/m);
    expect(out).toMatch(/^sample: "Shall I /m);
    const m = /^training loss (\d+\.\d+) → (\d+\.\d+), held-out (\d+\.\d+) → (\d+\.\d+)/m.exec(out);
    expect(m, 'no summary line').not.toBeNull();
    const [first, last, heldFirst, heldLast] = m!.slice(1).map(Number);
    expect(last).toBeLessThan(first - 1);
    expect(heldLast).toBeLessThan(heldFirst - 0.5);
  }, 180_000);

  it('checkpoint.mjs: the restored model continues bit for bit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqgpu-example-'));
    tmp.push(dir);
    const file = join(dir, 'model.safetensors');
    const out = await example('checkpoint.mjs', [file]);
    expect(existsSync(file)).toBe(true);
    expect(out).toContain(`saved ${file} after 20 steps`);
    expect(out).toMatch(/^SequenceModel, optimizer Adam at step 20; 21 tensors: embedding\.weight/m);
    const steps = [...out.matchAll(/^step (\d+): original (\S+), restored (\S+)$/gm)];
    expect(steps.length).toBe(5);
    for (const [, , a, b] of steps) expect(a).toBe(b);
    expect(out.trimEnd().split('\n').at(-1)).toBe('training continued bit for bit');
  }, 180_000);

  it('sentiment.mjs: a user-written Module trained with a Trainer learns the toy reviews', async () => {
    const out = await example('sentiment.mjs');
    const acc = (when: string) => Number(new RegExp(`^accuracy ${when} training: (\\S+)$`, 'm').exec(out)?.[1]);
    expect(acc('before')).toBeLessThan(0.75);
    expect(acc('after')).toBeGreaterThanOrEqual(0.9);
    const losses = [...out.matchAll(/^step +\d+ {2}loss (\d+\.\d+)$/gm)].map((m) => Number(m[1]));
    expect(losses.length).toBe(3);
    expect(losses[2]).toBeLessThan(losses[0]);
  }, 180_000);

  it('interchange.mjs: a TensorFlow.js model in, trained on the GPU, out as ONNX that onnxruntime runs', async () => {
    const out = await example('interchange.mjs', ['--steps=80']);
    const num = (re: RegExp) => Number(re.exec(out)?.[1]);
    expect(num(/^TensorFlow\.js → seqgpu: max \|difference\| (\S+)$/m)).toBeLessThan(1e-5);
    const before = num(/^accuracy before training: (\S+)$/m);
    const after = num(/^accuracy after 80 steps: (\S+)$/m);
    expect(before).toBeLessThan(0.8);
    expect(after).toBeGreaterThanOrEqual(0.9);
    expect(num(/^seqgpu → ONNX \(\d+ bytes\) in onnxruntime: max \|difference\| (\S+)$/m)).toBeLessThan(1e-4);
  }, 180_000);

  it('seq2seq-reverse.mjs: trains, decodes 100 strings greedily, beam search, attention', async () => {
    const out = await example('seq2seq-reverse.mjs', ['--steps=20', '--hidden=32', '--batch=16']);
    const losses = [...out.matchAll(/^step +\d+ {2}loss (\d+\.\d+)$/gm)].map((m) => Number(m[1]));
    expect(losses.length).toBe(2);
    expect(losses[1]).toBeLessThan(losses[0]);
    expect(out).toMatch(/^greedy decoding: \d+ of 100 new strings reversed exactly$/m);
    expect(out).toMatch(/^ {2}(\d )+\d {2}→ {2}.*$/m);
    expect(out).toMatch(/^ {2}source position each output step attended to most: [\d ]*$/m);
    expect(out).toMatch(/^beam search \(width 4\): .* \(log-probability -?\d+\.\d+\)$/m);
  }, 180_000);
});

describe('examples/ in Chromium', () => {
  it('quickstart.html (Vite dev server): prints on the page what Node printed', async () => {
    tested.add('quickstart.html');
    const { createServer } = await import('vite');
    const cacheDir = mkdtempSync(join(tmpdir(), 'seqgpu-example-vite-'));
    tmp.push(cacheDir);
    // As `npx vite examples` in a clone: 'seqgpu' is this package by its own name (the browser
    // entry). Its own dep cache, and no dependency discovery (which could reload the page mid-run).
    const server = await createServer({
      root: join(root, 'examples'),
      configFile: false,
      cacheDir,
      logLevel: 'warn',
      clearScreen: false,
      optimizeDeps: { noDiscovery: true, include: [] },
      server: { host: '127.0.0.1', port: 0, hmr: false, fs: { allow: [root] } },
    });
    const chromium = await launchChromium();
    try {
      await server.listen();
      const address = server.httpServer!.address();
      if (!address || typeof address === 'string') throw new Error('vite dev server has no TCP address');
      const page = await chromium.browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push((e as Error).message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      const t0 = performance.now();
      await page.goto(`http://127.0.0.1:${address.port}/quickstart.html`, { waitUntil: 'load' });
      const status = () => page.$eval('#status', (e) => e.textContent ?? '');
      const deadline = Date.now() + 150_000;
      while ((await status()) === 'running…' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      const out = await page.$eval('#out', (e) => e.textContent ?? '');
      expect(await status(), `${out}\n${errors.join('\n')}`).toBe('done');
      console.log(
        `examples/quickstart.html in Chromium: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${out.trimEnd()}`,
      );
      const losses = checkQuickStart('quickstart.html', out);
      if (nodeLosses.length)
        for (let i = 0; i < losses.length; i++) expect(Math.abs(losses[i] - nodeLosses[i])).toBeLessThan(0.05);
    } finally {
      await chromium.close();
      await server.close();
    }
  }, 240_000);
});

describe('examples/', () => {
  it('every example was run above', () => {
    const files = readdirSync(join(root, 'examples'))
      .filter((f) => /\.(mjs|html)$/.test(f))
      .sort();
    expect([...tested].sort()).toEqual(files);
  });
});

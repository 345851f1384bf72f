// Headless Debian Chromium with WebGPU, and a Vite server on 127.0.0.1 to serve pages to it.
// Used by the browser tests (test/browser) and the benchmarks (bench/run.mjs).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Launches Debian's chromium (`CHROMIUM_PATH` overrides) headless with WebGPU enabled. */
export async function launchChromium({ extraArgs = [] } = {}) {
  const { default: puppeteer } = await import('puppeteer');
  const userDataDir = await mkdtemp(join(tmpdir(), 'seqgpu-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    protocolTimeout: 600_000,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      // Unquantized timestamp queries, for per-kernel GPU times in benchmarks.
      '--enable-webgpu-developer-features',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--disable-default-apps',
      '--disable-extensions',
      `--user-data-dir=${userDataDir}`,
      ...extraArgs,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Starts the project's Vite dev server on 127.0.0.1 (a free port) and returns its URL. */
export async function startServer() {
  const { createServer } = await import('vite');
  const server = await createServer({
    configFile: resolve('vite.config.ts'),
    // No HMR: an edit to src/ during a long bench or test run must not reload the page mid-run.
    server: { host: '127.0.0.1', port: 0, hmr: false },
    logLevel: 'warn',
    clearScreen: false,
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite server has no TCP address');
  return { url: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}

/**
 * Opens `url` and waits for the page to set `window[globalName]`; returns its value.
 * Page console errors are forwarded to this process's stderr, and so are `[bench]`/`[check]`
 * progress lines (every line with SEQGPU_PAGE_LOG=1). The wait polls with short evaluations, so
 * a run longer than puppeteer's protocol timeout is fine; it fails after `timeoutMs`.
 */
export async function runPage(browser, url, globalName, timeoutMs = 600_000) {
  const page = await browser.newPage();
  page.on('console', (m) => {
    const text = m.text();
    if (m.type() === 'error' || m.type() === 'warn') process.stderr.write(`[page ${m.type()}] ${text}\n`);
    else if (process.env.SEQGPU_PAGE_LOG || text.startsWith('[bench]')) process.stderr.write(`[page] ${text}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(url, { waitUntil: 'load' });
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(`window.${globalName} !== undefined`))) {
    if (Date.now() > deadline) throw new Error(`${url}: window.${globalName} was not set within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const value = await page.evaluate(`window.${globalName}`);
  await page.close();
  return value;
}

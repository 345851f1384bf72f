// The demo page's test harness, shared by test/browser/demo*.test.ts: Vite and headless Chromium,
// a page with its console forwarded, the page's `window.__seqgpuDemo` hook (demo/hook.ts), polling
// it with a deadline, and typing into the tweakpane panel.
import { mkdir, rm } from 'node:fs/promises';
import type { Browser, Page } from 'puppeteer';
import { launchChromium, startServer } from '../../tools/chromium.mjs';
import type { DemoHook } from '../../demo/hook.js';

/** What the hook holds, as JSON (without its functions). */
export type Snapshot = Omit<DemoHook, 'simulateDeviceLoss' | 'poisonWeights'>;

/** Starts the server and Chromium and empties `downloads`; `close` stops both. */
export async function startDemo(downloads: string): Promise<{ browser: Browser; url: string; close(): Promise<void> }> {
  const server = await startServer();
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  try {
    chromium = await launchChromium();
  } catch (e) {
    await server.close();
    throw e;
  }
  await rm(downloads, { recursive: true, force: true });
  await mkdir(downloads, { recursive: true });
  return {
    browser: chromium.browser,
    url: `${server.url}/demo/index.html`,
    close: async () => {
      await chromium.close();
      await server.close();
    },
  };
}

/** A 1400 × 1000 page whose errors and warnings (everything with SEQGPU_PAGE_LOG set) go to stderr. */
export async function openDemoPage(browser: Browser): Promise<Page> {
  const p = await browser.newPage();
  await p.setViewport({ width: 1400, height: 1000 });
  p.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn' || process.env.SEQGPU_PAGE_LOG)
      process.stderr.write(`[demo ${m.type()}] ${m.text()}\n`);
  });
  p.on('pageerror', (e) => process.stderr.write(`[demo page error] ${(e as Error).message}\n`));
  return p;
}

/** The page's hook now. */
export const demoHook = (p: Page): Promise<Snapshot> =>
  p.evaluate(() => {
    const h = (window as unknown as { __seqgpuDemo: DemoHook }).__seqgpuDemo;
    return JSON.parse(JSON.stringify(h)) as Snapshot;
  });

/**
 * Polls the hook until `ok` holds; fails at once when the page reaches a state in `failOn`, else
 * after `ms` with what the page last said.
 */
export async function waitForDemo(
  p: Page,
  what: string,
  ok: (h: Snapshot) => boolean,
  ms = 120_000,
  failOn: readonly string[] = ['error', 'no-webgpu'],
): Promise<Snapshot> {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = (await p.evaluate(() => '__seqgpuDemo' in window)) ? await demoHook(p) : null;
    if (last && ok(last)) return last;
    if (last && failOn.includes(last.state))
      throw new Error(`waiting for ${what}: the page is in state '${last.state}': ${last.lastError} (${last.banner})`);
    if (Date.now() > deadline) {
      const brief = last && {
        state: last.state,
        step: last.step,
        banner: last.banner,
        lastError: last.lastError,
        log: last.log.slice(-3),
        model: last.model,
      };
      throw new Error(`waiting for ${what}: timed out after ${ms / 1000} s; page: ${JSON.stringify(brief)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Types a value into a tweakpane text input (found by the binding's data-key) and commits it with Enter. */
export async function setPanelValue(p: Page, key: string, value: string): Promise<void> {
  const input = `[data-key="${key}"] input`;
  await p.click(input, { count: 3 });
  await p.keyboard.press('End');
  await p.keyboard.down('Shift');
  await p.keyboard.press('Home');
  await p.keyboard.up('Shift');
  await p.keyboard.type(value);
  await p.keyboard.press('Enter');
}

// Drives the kernel lab (demo/lab.html) in headless Chromium through its panel's DOM, as a user:
// helpers shared by test/browser/lab*.test.ts.
import { expect } from 'vitest';
import type { Page } from 'puppeteer';
import type { LabState } from '../../demo/lab/main.js';

/** The page's state (window.__seqgpuLab). */
export const labState = (page: Page): Promise<LabState> =>
  page.evaluate(() => (window as unknown as { __seqgpuLab: LabState }).__seqgpuLab);

/** Polls `probe` every 250 ms until it returns something truthy; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Sets a panel control (`data-field`) the way a user commits it: a typed number, a checkbox click, a list choice. */
export async function setField(page: Page, field: string, value: number | boolean | string): Promise<void> {
  const root = `[data-field="${field}"]`;
  if (typeof value === 'boolean') {
    const box = await page.$(`${root} input[type=checkbox]`);
    expect(box, `checkbox ${field}`).not.toBeNull();
    if ((await box!.evaluate((el) => (el as HTMLInputElement).checked)) !== value)
      await (await box!.evaluateHandle((el) => el.parentElement!)).click();
    expect(await box!.evaluate((el) => (el as HTMLInputElement).checked)).toBe(value);
  } else if (typeof value === 'string') {
    const option = await page.$$eval(
      `${root} select option`,
      (os, text) => os.find((o) => o.textContent === text)?.value ?? null,
      value,
    );
    expect(option, `no option '${value}' in ${field}`).not.toBeNull();
    expect(await page.select(`${root} select`, option!)).toEqual([option]);
  } else {
    const input = await page.$(`${root} input`);
    expect(input, `number field ${field}`).not.toBeNull();
    await input!.evaluate((el, v) => {
      (el as HTMLInputElement).value = v;
      el.dispatchEvent(new Event('change'));
    }, String(value));
    expect(await input!.evaluate((el) => (el as HTMLInputElement).value)).toBe(String(value));
  }
}

/** Opens the lab at `url` and waits until it is ready (or failed). */
export async function openLab(page: Page, url: string): Promise<LabState> {
  await page.goto(url, { waitUntil: 'load' });
  const s = await waitFor(
    'the lab to open WebGPU',
    async () => {
      const v = await labState(page);
      return v && (v.ready || v.error) ? v : null;
    },
    120_000,
  );
  expect(s.error, `the lab could not start: ${s.error}`).toBeNull();
  return s;
}

/** Presses a panel button (`lab.run`, `lab.peak`, …) and waits for the action it starts to finish. */
export async function press(page: Page, field: string, timeoutMs = 150_000): Promise<LabState> {
  const before = (await labState(page)).completed;
  await page.click(`[data-field="${field}"] button`);
  return waitFor(
    `${field} to finish`,
    async () => {
      const s = await labState(page);
      return s.completed > before && !s.running ? s : null;
    },
    timeoutMs,
  );
}

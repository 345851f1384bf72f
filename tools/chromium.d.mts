import type { Browser } from 'puppeteer';
export function launchChromium(opts?: { extraArgs?: string[] }): Promise<{ browser: Browser; close(): Promise<void> }>;
export function startServer(): Promise<{ url: string; close(): Promise<void> }>;
export function runPage(browser: Browser, url: string, globalName: string, timeoutMs?: number): Promise<unknown>;

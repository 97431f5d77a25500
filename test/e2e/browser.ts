/**
 * Real Chromium for the web UI tests: Debian's /usr/bin/chromium driven by playwright-core (no
 * browser download). Playwright gives every launch a fresh temporary profile, so no state leaks
 * between runs. Pages record script errors, console errors and CSP violations, so a test can
 * assert that nothing went wrong silently.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from '../helpers/server.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go; CI keeps this folder as the run's artifacts. */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'ui');

export async function launchChromium(): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Uncaught script errors and CSP violations seen so far. */
  problems: string[];
}

/** A new browser context (own cookies) with one page whose failures are collected. */
export async function openPage(
  browser: Browser,
  options: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
    colorScheme: options.colorScheme ?? 'light',
  });
  // An init script is injected by the browser, not the page, so the CSP does not block it.
  await context.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) =>
      console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().startsWith('CSP violation')) {
      problems.push(message.text());
    }
  });
  return { page, context, problems };
}

/** A full-page screenshot into the artifacts folder. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (scripts/test.sh installs it when missing); playwright-core never downloads a browser. */
export const CHROMIUM = process.env.ARC_TEST_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: tests run as root in containers, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

export interface ConsolePage {
  page: Page;
  /** Page errors and console errors (CSP violations among them) seen so far. */
  problems: string[];
}

export async function openConsole(browser: Browser, url: string): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A 4xx the console handles (an invalid query, a revoked token) is logged by Chromium as a failed resource load.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/** Replaces the editor's text (CodeMirror's content element takes keyboard input). */
export async function typeSql(page: Page, sql: string): Promise<void> {
  await page.locator('#editor .cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(sql);
  await page.keyboard.press('Escape'); // closes a completion popup, if one opened
}

/** Types the SQL, presses Ctrl+Enter and waits until the status shows an outcome. */
export async function runSql(page: Page, sql: string): Promise<string> {
  await typeSql(page, sql);
  const before = Number((await page.locator('#query-status').getAttribute('data-run')) ?? '0');
  await page.keyboard.press('Control+Enter');
  // data-run counts finished runs: wait for this one.
  await page.locator(`#query-status[data-run="${before + 1}"]`).waitFor({ state: 'attached' });
  return (await page.locator('#query-status').textContent()) ?? '';
}

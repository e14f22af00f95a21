import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { TestServer } from './server.js';

/** What the console's browser tests (test/console*.test.ts) share: API calls as a token, and signing in. */
export interface ApiAnswer {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

/** Calls the server's HTTP API as `token` (JSON bodies as JSON, strings as they are). */
export async function callApi(server: TestServer, token: string, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const response = await fetch(server.url + urlPath, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined || typeof body === 'string' ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** Creates a token as `admin`; resolves its id and secret. */
export async function createToken(server: TestServer, admin: string, name: string, permissions: string[], extra: Record<string, unknown> = {}): Promise<{ id: number; token: string }> {
  const created = await callApi(server, admin, 'POST', '/api/v1/auth/tokens', { name, permissions, ...extra });
  assert.equal(created.status, 201, created.text);
  const list = await callApi(server, admin, 'GET', '/api/v1/auth/tokens');
  const id = (list.json.tokens as Array<{ id: number; name: string }>).find((t) => t.name === name)!.id;
  return { id, token: String(created.json.token) };
}

/** Fills the sign-in form and submits it (the caller waits for what should follow). */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.locator('#token').fill(token);
  await page.locator('#signin').click();
}

/** The console's token in the tab's sessionStorage (null once signed out). */
export function storedToken(page: Page): Promise<string | null> {
  return page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('arc.console.token'));
}

/** Polls `probe` until it is true; rejects after `timeoutMs` with `what`. For conditions outside the page. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchBrowser, openConsole } from './helpers/browser.js';
import { callApi, createToken, signIn, storedToken, waitUntil } from './helpers/console.js';
import { startServer, type TestServer } from './helpers/server.js';

/** The web console's sign-in (issue #16): what a refused, revoked, under-permitted or expired token does to the page. */
const ADMIN = 'admin-token-for-console-signin-tests-0123456789';
let server: TestServer;
let browser: Browser;

before(async () => {
  assert.ok(chromiumAvailable(), 'Chromium is missing: scripts/test.sh installs the Debian package chromium');
  [server, browser] = await Promise.all([startServer({ env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN } }), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  assert.equal(await server.stop(), 0);
});

test('a token without read permission is told what it lacks; a revoked token returns to sign-in', async () => {
  const writer = await createToken(server, ADMIN, 'console-writer', ['write']);
  const { page } = await openConsole(browser, server.url + '/ui/query');
  await signIn(page, writer.token);
  await page.locator('.page .error-text', { hasText: 'lacks the "read" permission' }).waitFor();

  const bad = await openConsole(browser, server.url + '/');
  await signIn(bad.page, 'not-a-token');
  await bad.page.locator('#signin-message', { hasText: 'refused this token' }).waitFor();
  await bad.page.context().close();

  await page.locator('#signout').click();
  const reader = await createToken(server, ADMIN, 'console-revoked', ['read']);
  await signIn(page, reader.token);
  // Revoked once the page has loaded its completion names, so the query is the call that meets the 401.
  await page.locator('#editor[data-schema="loaded"]').waitFor();
  assert.equal((await callApi(server, ADMIN, 'POST', `/api/v1/auth/tokens/${reader.id}/revoke`)).status, 200);
  await page.locator('#editor .cm-content').click();
  await page.keyboard.insertText('SELECT 1 AS one');
  await page.keyboard.press('Control+Enter');
  const message = page.locator('#signin-message', { hasText: 'The server refused the token' });
  await message.waitFor();
  assert.doesNotMatch((await message.textContent()) ?? '', /expired at/, 'a revoked token that has no expiry is not called expired');
  assert.equal(await storedToken(page), null);
  await page.context().close();
});

/**
 * Signs in with a token that expires soon, and waits until the server refuses it. The token has to
 * outlive the sign-in (verify, then the page's first calls) and then die. A fixed lifetime would
 * bet on how long signing in takes; instead each attempt doubles it, until one sign-in finishes
 * before the expiry (the first, on a machine that is not overloaded).
 */
async function signedInPastExpiry(name: string, permissions: string[], path: string, ready: string): Promise<{ page: Page; problems: string[]; token: string }> {
  for (const seconds of [3, 6, 12, 24, 48]) {
    const { token } = await createToken(server, ADMIN, `${name}-${seconds}s`, permissions, { expires_in: `${seconds}s` });
    const { page, problems } = await openConsole(browser, server.url + path);
    await signIn(page, token);
    // Either state is stable: once `ready`, the page calls the API only when the test acts, and a
    // refused sign-in (or a first call that met the expiry) stays on the sign-in page.
    await page.locator(`${ready}, #signin-message.error-text`).first().waitFor({ timeout: (seconds + 30) * 1000 });
    if ((await page.locator(ready).count()) === 0) {
      await page.context().close();
      continue; // expired before the page was ready: again, with a longer life
    }
    // The auth cache's entry ends at the token's expiry, not later: the server refuses it then.
    const refused = async () => (await fetch(`${server.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } })).status === 401;
    await waitUntil('the server to refuse the expired token', refused, (seconds + 30) * 1000, 200);
    return { page, problems, token };
  }
  throw new Error('no sign-in finished within a 48 s token lifetime');
}

const EXPIRED = /The token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(the server answered: Invalid or expired token\); sign in again/;

test('a token that expires while signed in returns to sign-in, saying it expired', async () => {
  const { page, problems, token } = await signedInPastExpiry('console-expiring', ['read'], '/ui/query', '#editor[data-schema="loaded"]');
  // The next call the page makes meets the 401 and returns to sign-in, naming the expiry.
  await page.locator('#editor .cm-content').click();
  await page.keyboard.insertText('SELECT 1 AS one');
  await page.keyboard.press('Control+Enter');
  const message = page.locator('#signin-message', { hasText: 'The token expired at' });
  await message.waitFor();
  assert.match((await message.textContent()) ?? '', EXPIRED);
  assert.equal(await storedToken(page), null);
  assert.equal(await page.locator('#editor').count(), 0, 'the query page is gone');
  // Signing in again with it is refused with the server's reason; another token works.
  await signIn(page, token);
  await page.locator('#signin-message', { hasText: 'refused this token: Invalid or expired token' }).waitFor();
  await signIn(page, ADMIN);
  await page.locator('#editor .cm-content').waitFor();
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('an expired token on a page that makes several calls at once still says it expired', async () => {
  // The Admin page lists tokens, retention policies, compaction status and continuous queries at
  // once: every one of them meets the 401, and the first one's reason must be the one shown.
  const { page, problems } = await signedInPastExpiry('console-expiring-admin', ['read', 'admin'], '/ui/query', '#editor[data-schema="loaded"]');
  const calls: string[] = [];
  page.on('requestfinished', (request) => {
    void request.response().then((response) => {
      if (response?.status() === 401) calls.push(new URL(request.url()).pathname);
    });
  });
  await page.locator('a[data-page="admin"]').click();
  const message = page.locator('#signin-message', { hasText: 'The token expired at' });
  await message.waitFor();
  // Every call the page started has answered, and none of the later 401s replaced the reason.
  await waitUntil('the Admin page\'s calls to meet the 401', async () => calls.length >= 4);
  // A task in the page after those answers: their handlers have run by then.
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
  assert.match((await message.textContent()) ?? '', EXPIRED);
  assert.equal(await storedToken(page), null);
  assert.deepEqual(problems, []);
  await page.context().close();
});

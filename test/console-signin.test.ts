import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
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

test('a token that expires while signed in returns to sign-in, saying it expired', async () => {
  // The token has to outlive the sign-in (verify, then the schema for completion) and then die. A
  // fixed lifetime would bet on how long signing in takes; instead each attempt doubles it, until
  // one sign-in finishes before the expiry (the first, on a machine that is not overloaded).
  for (const seconds of [3, 6, 12, 24, 48]) {
    const { token } = await createToken(server, ADMIN, `console-expiring-${seconds}s`, ['read'], { expires_in: `${seconds}s` });
    const { page, problems } = await openConsole(browser, server.url + '/ui/query');
    await signIn(page, token);
    // Either state is stable: on the query page nothing calls the API until the test runs a query,
    // and a refused sign-in (or a schema load that met the expiry) stays on the sign-in page.
    const settled = page.locator('#editor[data-schema="loaded"], #signin-message.error-text').first();
    await settled.waitFor({ timeout: (seconds + 30) * 1000 });
    if ((await page.locator('#editor[data-schema="loaded"]').count()) === 0) {
      await page.context().close();
      continue; // expired before the page was ready: try again with a longer life
    }

    // Wait for the server to refuse it (the auth cache's entry ends at the token's expiry, not later).
    const refused = async () => (await fetch(`${server.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } })).status === 401;
    await waitUntil('the server to refuse the expired token', refused, (seconds + 30) * 1000, 200);

    // The next call the page makes meets the 401 and returns to sign-in, naming the expiry.
    await page.locator('#editor .cm-content').click();
    await page.keyboard.insertText('SELECT 1 AS one');
    await page.keyboard.press('Control+Enter');
    const message = page.locator('#signin-message', { hasText: 'The token expired at' });
    await message.waitFor();
    assert.match((await message.textContent()) ?? '', /expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(the server answered: Invalid or expired token\); sign in again/);
    assert.equal(await storedToken(page), null);
    assert.equal(await page.locator('#editor').count(), 0, 'the query page is gone');
    // Signing in again with it is refused with the server's reason; the page keeps working.
    await signIn(page, token);
    await page.locator('#signin-message', { hasText: 'refused this token: Invalid or expired token' }).waitFor();
    await signIn(page, ADMIN);
    await page.locator('#editor .cm-content').waitFor();
    assert.deepEqual(problems, []);
    await page.context().close();
    return;
  }
  assert.fail('no sign-in finished within a 48 s token lifetime');
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchBrowser, openConsole, runSql } from './helpers/browser.js';
import { REPO, get, startServer, tempDir, type TestServer } from './helpers/server.js';

/** The web console (issue #16): served from the API's port, tested in a real headless Chromium. */
const ADMIN = 'admin-token-for-console-tests-0123456789';
const CONSOLE_DIR = path.join(REPO, 'dist/console');
let server: TestServer;
let browser: Browser;

async function api(method: string, urlPath: string, body?: unknown, token = ADMIN) {
  const response = await fetch(server.url + urlPath, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function createToken(name: string, permissions: string[]): Promise<{ id: number; token: string }> {
  const created = await api('POST', '/api/v1/auth/tokens', { name, permissions });
  assert.equal(created.status, 201, created.text);
  const list = await api('GET', '/api/v1/auth/tokens');
  const id = (list.json.tokens as Array<{ id: number; name: string }>).find((t) => t.name === name)!.id;
  return { id, token: String(created.json.token) };
}

before(async () => {
  assert.ok(fs.existsSync(path.join(CONSOLE_DIR, 'index.html')), 'dist/console is built by scripts/ensure-deps.sh (node scripts/build-console.mjs)');
  assert.ok(chromiumAvailable(), 'Chromium is missing: scripts/test.sh installs the Debian package chromium');
  [server, browser] = await Promise.all([
    startServer({ env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN } }),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  assert.equal(await server.stop(), 0);
});

test('GET / and /ui/<page> answer index.html uncached, with a strict CSP; hashed assets are immutable', async () => {
  for (const urlPath of ['/', '/ui', '/ui/query', '/ui/query/']) {
    const page = await get(server, urlPath);
    assert.equal(page.status, 200, urlPath);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline or foreign scripts');
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    // The style nonce is fresh for each answer and matches the page's meta tag.
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce && page.text.includes(`content="${nonce}"`), 'the page carries its nonce');
  }
  const first = await get(server, '/');
  const second = await get(server, '/');
  assert.notEqual(first.headers.get('content-security-policy'), second.headers.get('content-security-policy'));

  const script = /src="(\/ui\/assets\/console-[A-Za-z0-9]+\.js)"/.exec(first.text)?.[1];
  const style = /href="(\/ui\/assets\/console-[A-Za-z0-9]+\.css)"/.exec(first.text)?.[1];
  assert.ok(script && style, first.text);
  const js = await get(server, script);
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
  const css = await get(server, style);
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
  // The API is untouched by the console routes, and the console pages need no token.
  assert.equal((await get(server, '/api/v1/databases')).status, 401);
  const info = await get(server, '/api/v1/console/info');
  assert.equal(info.status, 200);
  assert.equal(info.json.auth_enabled, true);
  assert.equal(info.json.retention_enabled, true);
});

test('the console serves only its own built files: traversal, unknown names and pages are 404', async () => {
  const probes = [
    '/ui/assets/..%2F..%2Fpackage.json',
    '/ui/assets/..%2Findex.html',
    '/ui/assets/%2e%2e%2f%2e%2e%2fsrc%2Fserver%2Fconsole-routes.js',
    '/ui/assets/sizes.json',
    '/ui/assets/.built',
    '/ui/assets/console-AAAAAAAA.js',
    '/ui/assets/..',
    '/ui/assets/../../package.json',
    '/ui/assets/../index.html',
    '/ui/..',
    '/ui/../package.json',
    '/ui/%2e%2e/package.json',
    '/ui/assets/%2Fetc%2Fpasswd',
    '/ui/nosuchpage',
    '/ui/query/extra',
  ];
  for (const probe of probes) {
    // Sent byte for byte: fetch() would resolve the dots before the server sees them.
    const answer = await rawGet(probe);
    assert.equal(answer.status, 404, `${probe}: ${answer.status} ${answer.text.slice(0, 200)}`);
    assert.equal(JSON.parse(answer.text).code, 'ARC_ERR_NOT_FOUND', probe);
    assert.doesNotMatch(answer.text, /"name":\s*"arc-ts"|root:|import fs/, probe);
  }
});

test('without a build the console answers ARC_ERR_CONSOLE_NOT_BUILT (JSON, or HTML for a browser); the API still works', async () => {
  const empty = tempDir('arc-console-missing-');
  const bare = await startServer({ env: { ARC_SERVER_CONSOLE_DIRECTORY: empty } });
  try {
    const json = await get(bare, '/');
    assert.equal(json.status, 503);
    assert.equal(json.json.code, 'ARC_ERR_CONSOLE_NOT_BUILT');
    assert.match(String(json.json.error), /not built.*build-console/);
    const html = await get(bare, '/ui/query', { accept: 'text/html,application/xhtml+xml' });
    assert.equal(html.status, 503);
    assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(html.text, /ARC_ERR_CONSOLE_NOT_BUILT/);
    assert.equal((await get(bare, '/ui/assets/console-ABCDEF12.js')).status, 404);
    assert.equal((await get(bare, '/health')).status, 200);
  } finally {
    assert.equal(await bare.stop(), 0);
  }
});

test('sign in, query written rows into the table and a chart; invalid SQL shows DuckDB\'s error; 100,000 rows render in under 1 s', async () => {
  const { token } = await createToken('console-reader', ['read']);
  const lines: string[] = [];
  const base = Date.UTC(2026, 0, 1) * 1e6; // ns
  for (let i = 0; i < 60; i++) for (const host of ['alpha', 'beta', 'gamma']) lines.push(`cpu,host=${host} usage=${(i % 10) + (host === 'beta' ? 20 : 0)},load=${i} ${base + i * 1e9}`);
  const write = await api('POST', '/api/v1/write/line-protocol', lines.join('\n'));
  assert.equal(write.status, 204, write.text);
  assert.equal((await api('POST', '/api/v1/write/flush')).status, 200);

  const { page, problems } = await openConsole(browser, server.url + '/');
  await page.locator('#token').fill(token);
  await page.locator('#signin').click();
  await page.locator('#editor .cm-content').waitFor();
  assert.match((await page.locator('.topbar .who').textContent()) ?? '', /read/);

  const status = await runSql(page, "SELECT time, host, usage FROM cpu WHERE host IN ('alpha', 'beta') ORDER BY time");
  assert.match(status, /^120 rows/, status);
  assert.equal(await page.locator('#results .vt-header .vt-cell').allTextContents().then((c) => c.slice(1).join(',')), 'time,host,usage');
  assert.equal(await page.locator('#results .vt-row').first().locator('.vt-cell').nth(1).textContent(), '2026-01-01 00:00:00.000');
  assert.ok((await page.locator('#results .vt-row', { hasText: 'beta' }).count()) > 0);
  // One line per host (a tag column with one numeric column), drawn on the canvas.
  await page.locator('#chart canvas').waitFor();
  assert.deepEqual(await page.locator('#chart .u-legend .u-series .u-label').allTextContents().then((l) => l.slice(1)), ['host=alpha', 'host=beta']);
  assert.ok(await canvasHasInk(page), 'the chart canvas has drawn pixels');

  const failed = await runSql(page, 'SELECT no_such_column FROM cpu');
  assert.match(failed, /Failed \(400 ARC_ERR_BAD_QUERY\)/);
  assert.match((await page.locator('#query-error').textContent()) ?? '', /no_such_column/);
  // The page still works after the error, and the history has both queries.
  const again = await runSql(page, 'SELECT count(*) AS n FROM cpu');
  assert.match(again, /^1 rows/);
  assert.equal(await page.locator('#query-error').isHidden(), true);
  assert.equal(await page.locator('#results .vt-row .vt-cell').nth(1).textContent(), '180');
  assert.ok((await page.locator('#history li').count()) >= 3);

  const big = await runSql(page, "SELECT TIMESTAMP '2026-01-01' + range * INTERVAL 1 second AS time, range AS n, sin(range / 100.0) AS wave FROM range(100000)");
  assert.match(big, /^100,000 rows/, big);
  const report = (await page.evaluate(() => (globalThis as unknown as { arcConsole: { lastRender: unknown } }).arcConsole.lastRender)) as { rows: number; renderMs: number; chart: boolean };
  assert.equal(report.rows, 100_000);
  assert.equal(report.chart, true);
  assert.ok(report.renderMs < 1000, `rendering 100,000 rows took ${report.renderMs} ms in the page`);
  // Virtual scrolling: only the visible rows are in the DOM, and scrolling to the end shows the last row.
  assert.ok((await page.locator('#results .vt-row').count()) < 100);
  await page.locator('#results').evaluate((element: { scrollTop: number; scrollHeight: number }) => {
    element.scrollTop = element.scrollHeight;
  });
  await page.locator('#results .vt-row[data-row="99999"]').waitFor();
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('a token without read permission is told what it lacks; a revoked token returns to sign-in', async () => {
  const writer = await createToken('console-writer', ['write']);
  const { page } = await openConsole(browser, server.url + '/ui/query');
  await page.locator('#token').fill(writer.token);
  await page.locator('#signin').click();
  await page.locator('.page .error-text', { hasText: 'lacks the "read" permission' }).waitFor();

  const bad = await openConsole(browser, server.url + '/');
  await bad.page.locator('#token').fill('not-a-token');
  await bad.page.locator('#signin').click();
  await bad.page.locator('#signin-message', { hasText: 'refused this token' }).waitFor();
  await bad.page.context().close();

  await page.locator('#signout').click();
  const reader = await createToken('console-revoked', ['read']);
  await page.locator('#token').fill(reader.token);
  await page.locator('#signin').click();
  // Revoked once the page has loaded its completion names, so the query is the call that meets the 401.
  await page.locator('#editor[data-schema="loaded"]').waitFor();
  assert.equal((await api('POST', `/api/v1/auth/tokens/${reader.id}/revoke`)).status, 200);
  await page.locator('#editor .cm-content').click();
  await page.keyboard.insertText('SELECT 1 AS one');
  await page.keyboard.press('Control+Enter');
  await page.locator('#signin-message', { hasText: 'refused the token' }).waitFor();
  assert.equal(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('arc.console.token')), null);
  await page.context().close();
});

test('explore: databases, measurements with rows, time range, files and bytes, columns with types; a click opens a starter query', async () => {
  const lines = Array.from({ length: 40 }, (_, i) => `weather,station=s${i % 4} temp=${i}.5,ok=true ${Date.UTC(2026, 1, 1, 0, i) * 1e6}`);
  assert.equal((await api('POST', '/api/v1/write/line-protocol', lines.join('\n'), ADMIN).then((r) => r.status)), 204);
  const write = await fetch(`${server.url}/api/v1/write/line-protocol`, { method: 'POST', body: lines.join('\n'), headers: { authorization: `Bearer ${ADMIN}`, 'x-arc-database': 'fieldwork' } });
  assert.equal(write.status, 204);
  assert.equal((await api('POST', '/api/v1/write/flush')).status, 200);

  const overview = await api('GET', '/api/v1/console/explore?database=fieldwork');
  assert.equal(overview.status, 200, overview.text);
  const [weather] = overview.json.measurements as Array<Record<string, unknown>>;
  assert.equal(weather!.name, 'weather');
  assert.equal(weather!.rows, 40);
  assert.equal(weather!.first_time, '2026-02-01T00:00:00Z');
  assert.equal(weather!.last_time, '2026-02-01T00:39:00Z');
  assert.ok(Number(weather!.file_count) >= 1 && Number(weather!.bytes_on_disk) > 0);
  const types = Object.fromEntries((weather!.columns as Array<{ name: string; type: string }>).map((c) => [c.name, c.type]));
  assert.deepEqual(types, { time: 'TIMESTAMPTZ', station: 'VARCHAR', temp: 'DOUBLE', ok: 'BOOLEAN' });
  // Error paths: bad name, unknown database, no token, a token without read.
  const invalid = await api('GET', '/api/v1/console/explore?database=1bad');
  assert.equal(invalid.status, 400);
  assert.equal(invalid.json.code, 'ARC_ERR_INVALID_DATABASE');
  const missing = await api('GET', '/api/v1/console/explore?database=nowhere');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.code, 'ARC_ERR_DATABASE_NOT_FOUND');
  assert.equal((await get(server, '/api/v1/console/explore?database=fieldwork')).status, 401);
  const writer = await createToken('explore-writer', ['write']);
  const refused = await api('GET', '/api/v1/console/explore?database=fieldwork', undefined, writer.token);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.code, 'ARC_ERR_FORBIDDEN');

  const { page, problems } = await openConsole(browser, server.url + '/ui/explore');
  await page.locator('#token').fill(ADMIN);
  await page.locator('#signin').click();
  await page.locator('#explore-databases li[data-database="fieldwork"]').click();
  const row = page.locator('#explore-measurements tr[data-measurement="weather"]');
  assert.equal(await row.locator('td').nth(1).textContent(), '40');
  await row.click();
  assert.match((await page.locator('#explore-columns').textContent()) ?? '', /tempDOUBLE/);
  await page.locator('#starter-query').click();
  await page.locator('#editor[data-schema="loaded"]').waitFor();
  assert.equal(await page.locator('#database').inputValue(), 'fieldwork');
  await page.locator('#run').click();
  await page.locator('#query-status[data-rows="40"]').waitFor();
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('ingest, live: the records/s rate rises above zero while a writer runs; latency and charts are drawn', async () => {
  const { page, problems } = await openConsole(browser, server.url + '/ui/ingest');
  await page.locator('#token').fill(ADMIN);
  await page.locator('#signin').click();
  const rate = page.locator('.tile[data-metric="records-lineprotocol"]');
  await rate.waitFor();
  let writing = true;
  let sent = 0;
  // Bounded: at most 2,000 requests or 30 s, stopped as soon as the page saw the rate.
  const writer = (async () => {
    const deadline = Date.now() + 30_000;
    while (writing && sent < 2000 && Date.now() < deadline) {
      const body = Array.from({ length: 200 }, (_, i) => `live,src=console v=${i} ${(Date.now() * 1000 + i) * 1000}`).join('\n');
      const response = await fetch(`${server.url}/api/v1/write/line-protocol`, { method: 'POST', body, headers: { authorization: `Bearer ${ADMIN}`, 'x-arc-database': 'live' } });
      assert.equal(response.status, 204);
      sent++;
    }
  })();
  try {
    await page.locator('.tile[data-metric="records-lineprotocol"]:not([data-value=""]):not([data-value="0"])').waitFor({ timeout: 20_000 });
  } finally {
    writing = false;
    await writer;
  }
  const shown = Number(await rate.getAttribute('data-value'));
  assert.ok(shown > 0, `records/s shown: ${shown}`);
  assert.ok(sent > 0);
  // The latency table lists the write route; the charts drew.
  await page.locator('#ingest-latency code', { hasText: '/api/v1/write/line-protocol' }).waitFor();
  assert.equal(await page.locator('.mini-chart canvas').count(), 6);
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('profile: records the server for a second, then shows a zoomable, searchable flamegraph and the stage table', async () => {
  const { page, problems } = await openConsole(browser, server.url + '/ui/profile');
  await page.locator('#token').fill(ADMIN);
  await page.locator('#signin').click();
  await page.locator('#profile-seconds').fill('1');
  await page.locator('#profile-start').click();
  // Work to sample: queries while the profile records.
  for (let i = 0; i < 5; i++) await api('POST', '/api/v1/query', { sql: 'SELECT count(*) FROM range(200000)' });
  await page.locator('#profile-status.ok').waitFor({ timeout: 20_000 });
  const bars = page.locator('#profile-flame .fg-bar');
  assert.ok((await bars.count()) > 3, 'the flamegraph has bars');
  assert.equal(await page.locator('#profile-stages tr[data-stage]').count(), 9);
  // Zoom: clicking a thread bar makes it span the whole width.
  const thread = page.locator('#profile-flame .fg-bar[data-name="thread main"]');
  await thread.click();
  assert.match((await page.locator('#flame-info').textContent()) ?? '', /^thread main/);
  assert.equal(await page.locator('#profile-flame .fg-bar[data-name="thread main"]').evaluate((el: { style: { width: string } }) => el.style.width), '100%');
  await page.locator('#flame-reset').click();
  await page.locator('#flame-search').fill('thread');
  await page.locator('#profile-flame .fg-match').first().waitFor();
  assert.match((await page.locator('#flame-info').textContent()) ?? '', /"thread": 100\.0% of the view/);
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('admin: create a token with permissions, see it work, revoke it; compaction and continuous queries are shown', async () => {
  const { page, problems } = await openConsole(browser, server.url + '/ui/admin');
  await page.locator('#token').fill(ADMIN);
  await page.locator('#signin').click();
  await page.locator('#new-token-name').fill('made-in-console');
  await page.locator('#new-token input[data-permission="read"]').uncheck();
  await page.locator('#new-token input[data-permission="write"]').check();
  await page.locator('#create-token').click();
  const secret = (await page.locator('#created-token-value').textContent()) ?? '';
  const row = page.locator('#admin-tokens tr[data-token="made-in-console"]');
  await row.waitFor();
  assert.equal(await row.locator('td').nth(2).textContent(), 'write');
  // The token shown once works for writing, and only for writing.
  const write = await fetch(`${server.url}/api/v1/write/line-protocol`, { method: 'POST', body: 'm v=1', headers: { authorization: `Bearer ${secret}` } });
  assert.equal(write.status, 204);
  assert.equal((await api('POST', '/api/v1/query', { sql: 'SELECT 1' }, secret)).status, 403);

  await row.locator('button[data-action="revoke"]').click();
  await page.locator('#admin-tokens tr[data-token="made-in-console"] td.state', { hasText: 'revoked' }).waitFor();
  const afterRevoke = await fetch(`${server.url}/api/v1/write/line-protocol`, { method: 'POST', body: 'm v=1', headers: { authorization: `Bearer ${secret}` } });
  assert.equal(afterRevoke.status, 401);
  // A bad request shows the server's message instead of breaking the page.
  await page.locator('#new-token-name').fill('bad-expiry');
  await page.locator('#new-token-expires').fill('soon');
  await page.locator('#create-token').click();
  await page.locator('#admin-message.error-text').waitFor();
  await page.locator('#admin-compaction table').waitFor();
  await page.locator('#admin-cqs :is(table, p)').first().waitFor();
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('admin, retention: create a policy, dry run counts the old rows, a run deletes them, delete the policy; bad input shows the API\'s message', async () => {
  // 25 rows 100 days old, 5 from now: a 30-day policy removes exactly the 25.
  const old = Date.now() - 100 * 86_400_000;
  const lines = [...Array.from({ length: 25 }, (_, i) => `aged,src=test v=${i} ${(old + i * 60_000) * 1e6}`), ...Array.from({ length: 5 }, (_, i) => `aged,src=test v=${i} ${(Date.now() - i * 1000) * 1e6}`)];
  const write = await fetch(`${server.url}/api/v1/write/line-protocol`, { method: 'POST', body: lines.join('\n'), headers: { authorization: `Bearer ${ADMIN}`, 'x-arc-database': 'retained' } });
  assert.equal(write.status, 204);
  assert.equal((await api('POST', '/api/v1/write/flush')).status, 200);
  const count = async () => {
    const answer = await api('POST', '/api/v1/query', { sql: 'SELECT count(*) AS n FROM retained.aged' });
    assert.equal(answer.status, 200, answer.text);
    return Number((answer.json.data as unknown[][])[0]![0]);
  };
  assert.equal(await count(), 30);

  const { page, problems } = await openConsole(browser, server.url + '/ui/admin');
  // Run and Delete ask window.confirm; Playwright would dismiss it.
  page.on('dialog', (dialog) => void dialog.accept());
  await page.locator('#token').fill(ADMIN);
  await page.locator('#signin').click();
  await page.locator('#retention-list p', { hasText: 'No retention policies' }).waitFor();
  const message = page.locator('#retention-message');

  // Bad bodies: the server's words in the panel, and the page keeps working.
  await page.locator('#retention-name').fill('bad-days');
  await page.locator('#retention-database').fill('retained');
  await page.locator('#retention-days').fill('0');
  await page.locator('#create-retention').click();
  await page.locator('#retention-message.error-text', { hasText: 'retention_days must be greater than 0 (400 ARC_ERR_BAD_REQUEST)' }).waitFor();
  await page.locator('#retention-name').fill('');
  await page.locator('#retention-days').fill('30');
  await page.locator('#create-retention').click();
  await page.locator('#retention-message.error-text', { hasText: 'name is required' }).waitFor();
  assert.equal(await api('GET', '/api/v1/retention').then((r) => r.text), 'null', 'nothing was created');

  await page.locator('#retention-name').fill('aged-30d');
  await page.locator('#retention-measurement').fill('aged');
  await page.locator('#create-retention').click();
  const row = page.locator('#retention-list tr[data-policy="aged-30d"]');
  await row.waitFor();
  assert.match((await message.textContent()) ?? '', /Created policy aged-30d/);
  assert.deepEqual(await row.locator('td').allTextContents().then((cells) => cells.slice(1, 8)), ['aged-30d', 'retained', 'aged', '30', '0', 'yes', 'never']);
  const listed = JSON.parse((await api('GET', '/api/v1/retention')).text) as Array<Record<string, unknown>>;
  assert.deepEqual(listed.map((p) => [p.name, p.database, p.measurement, p.retention_days, p.is_active]), [['aged-30d', 'retained', 'aged', 30, true]]);

  await row.locator('button[data-action="dry-run"]').click();
  const dry = page.locator('#retention-result span[data-dry-run="true"]');
  await dry.waitFor();
  assert.equal(await dry.getAttribute('data-deleted'), '25');
  assert.match((await dry.textContent()) ?? '', /would delete 25 rows/);
  assert.equal(await count(), 30, 'a dry run deletes nothing');

  await row.locator('button[data-action="run"]').click();
  const ran = page.locator('#retention-result span[data-dry-run="false"]');
  await ran.waitFor();
  assert.equal(await ran.getAttribute('data-deleted'), '25');
  assert.equal(await count(), 5);
  await page.locator('#retention-list tr[data-policy="aged-30d"] td.last-run', { hasText: 'completed · 25 rows' }).waitFor();

  await page.locator('#retention-list tr[data-policy="aged-30d"] button[data-action="delete"]').click();
  await page.locator('#retention-list p', { hasText: 'No retention policies' }).waitFor();
  assert.match((await message.textContent()) ?? '', /Deleted policy aged-30d/);
  assert.equal(await api('GET', '/api/v1/retention').then((r) => r.text), 'null');
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('admin with retention.enabled = false says retention is off instead of calling the absent routes', async () => {
  const off = await startServer({ env: { ARC_RETENTION_ENABLED: 'false' } });
  try {
    assert.equal((await get(off, '/api/v1/console/info')).json.retention_enabled, false);
    const { page, problems } = await openConsole(browser, off.url + '/ui/admin');
    await page.locator('#admin-retention p.hint', { hasText: 'Retention is off (retention.enabled = false)' }).waitFor();
    assert.equal(await page.locator('#new-retention').count(), 0);
    assert.deepEqual(problems, []);
    await page.context().close();
  } finally {
    assert.equal(await off.stop(), 0);
  }
});

test('a token that expires while signed in returns to sign-in, saying it expired', async () => {
  // Long enough to sign in on a loaded machine; the wait below is for the server, not a fixed sleep.
  const created = await api('POST', '/api/v1/auth/tokens', { name: 'console-expiring', permissions: ['read'], expires_in: '8s' });
  assert.equal(created.status, 201, created.text);
  const token = String(created.json.token);
  const { page, problems } = await openConsole(browser, server.url + '/ui/query');
  await page.locator('#token').fill(token);
  await page.locator('#signin').click();
  // The page's own calls have put the token in the server's auth cache, whose entry must end at the expiry.
  await page.locator('#editor[data-schema="loaded"]').waitFor();

  const verify = () => fetch(`${server.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
  const deadline = Date.now() + 30_000;
  let status = (await verify()).status;
  while (status === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = (await verify()).status;
  }
  assert.equal(status, 401, 'the server refuses the token once it expired');

  await page.locator('#editor .cm-content').click();
  await page.keyboard.insertText('SELECT 1 AS one');
  await page.keyboard.press('Control+Enter');
  const message = page.locator('#signin-message', { hasText: 'The token expired at' });
  await message.waitFor();
  assert.match((await message.textContent()) ?? '', /Invalid or expired token.*sign in again/);
  assert.equal(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('arc.console.token')), null);
  // Signing in again with it is refused with the server's reason.
  await page.locator('#token').fill(token);
  await page.locator('#signin').click();
  await page.locator('#signin-message', { hasText: 'refused this token: Invalid or expired token' }).waitFor();
  assert.deepEqual(problems, []);
  await page.context().close();
});

function rawGet(rawPath: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    // With the admin token: an unrouted path would otherwise be a 401 (Arc checks the token before the route).
    const request = http.get({ host: '127.0.0.1', port: server.port, path: rawPath, headers: { authorization: `Bearer ${ADMIN}` } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
  });
}

/** True when some pixel of the chart's canvas is not transparent. */
async function canvasHasInk(page: import('playwright-core').Page): Promise<boolean> {
  // Runs in the page (the console's CSP forbids evaluating strings there); the test compiles without DOM types.
  return page.locator('#chart canvas').evaluate((canvas: { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } }) => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let colored = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) colored++;
    return colored > 500;
  });
}

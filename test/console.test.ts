import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchBrowser, openConsole, runSql } from './helpers/browser.js';
import { callApi, createToken as createTokenAs, signIn } from './helpers/console.js';
import { REPO, get, startServer, tempDir, type TestServer } from './helpers/server.js';

/**
 * The web console (issue #16): served from the API's port, tested in a real headless Chromium.
 * Sign-in and token expiry: console-signin.test.ts; the Admin page: console-admin.test.ts.
 */
const ADMIN = 'admin-token-for-console-tests-0123456789';
const CONSOLE_DIR = path.join(REPO, 'dist/console');
let server: TestServer;
let browser: Browser;

const api = (method: string, urlPath: string, body?: unknown, token = ADMIN) => callApi(server, token, method, urlPath, body);
const createToken = (name: string, permissions: string[]) => createTokenAs(server, ADMIN, name, permissions);

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
  await signIn(page, token);
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

  // Invalid SQL: DuckDB's own message (a binder and a parser error), the page unbroken.
  const failed = await runSql(page, 'SELECT no_such_column FROM cpu');
  assert.match(failed, /Failed \(400 ARC_ERR_BAD_QUERY\)/);
  assert.match((await page.locator('#query-error').textContent()) ?? '', /Binder Error: Referenced column "no_such_column" not found/);
  const unparsable = await runSql(page, 'SELEC 1');
  assert.match(unparsable, /Failed \(400 ARC_ERR_BAD_QUERY\)/);
  assert.match((await page.locator('#query-error').textContent()) ?? '', /syntax error at or near "SELEC"/);
  // The page still works after the errors, and the history has the queries.
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
  await signIn(page, ADMIN);
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
  await signIn(page, ADMIN);
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
  await signIn(page, ADMIN);
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

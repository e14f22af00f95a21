import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchBrowser, openConsole } from './helpers/browser.js';
import { callApi, signIn, waitUntil } from './helpers/console.js';
import { get, startServer, type TestServer } from './helpers/server.js';

/** The web console's Admin page (issue #16): tokens, retention policies, compaction status, continuous queries. */
const ADMIN = 'admin-token-for-console-admin-tests-0123456789';
const DAY_MS = 86_400_000;
let server: TestServer;
let browser: Browser;

const api = (method: string, urlPath: string, body?: unknown, headers?: Record<string, string>) => callApi(server, ADMIN, method, urlPath, body, headers);

before(async () => {
  assert.ok(chromiumAvailable(), 'Chromium is missing: scripts/test.sh installs the Debian package chromium');
  [server, browser] = await Promise.all([startServer({ env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN } }), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  assert.equal(await server.stop(), 0);
});

test('admin: create a token with permissions, see it work, revoke it; a bad expiry shows the server\'s message', async () => {
  const { page, problems } = await openConsole(browser, server.url + '/ui/admin');
  await signIn(page, ADMIN);
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
  assert.equal((await callApi(server, secret, 'POST', '/api/v1/query', { sql: 'SELECT 1' })).status, 403);

  await row.locator('button[data-action="revoke"]').click();
  await page.locator('#admin-tokens tr[data-token="made-in-console"] td.state', { hasText: 'revoked' }).waitFor();
  const afterRevoke = await fetch(`${server.url}/api/v1/write/line-protocol`, { method: 'POST', body: 'm v=1', headers: { authorization: `Bearer ${secret}` } });
  assert.equal(afterRevoke.status, 401);
  // A bad request shows the server's message instead of breaking the page.
  await page.locator('#new-token-name').fill('bad-expiry');
  await page.locator('#new-token-expires').fill('soon');
  await page.locator('#create-token').click();
  await page.locator('#admin-message.error-text', { hasText: 'Invalid expires_in format' }).waitFor();
  assert.equal(await page.locator('#admin-tokens tr[data-token="bad-expiry"]').count(), 0);
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('admin, retention: create a policy, dry run counts the old rows, a run deletes them, delete the policy; bad input shows the API\'s message', async () => {
  // 25 rows 100 days old, 5 from now: a 30-day policy removes exactly the 25.
  const old = Date.now() - 100 * DAY_MS;
  const lines = [...Array.from({ length: 25 }, (_, i) => `aged,src=test v=${i} ${(old + i * 60_000) * 1e6}`), ...Array.from({ length: 5 }, (_, i) => `aged,src=test v=${i} ${(Date.now() - i * 1000) * 1e6}`)];
  assert.equal((await api('POST', '/api/v1/write/line-protocol', lines.join('\n'), { 'x-arc-database': 'retained' })).status, 204);
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
  await signIn(page, ADMIN);
  await page.locator('#retention-list p', { hasText: 'No retention policies' }).waitFor();
  const message = page.locator('#retention-message');

  // Bad bodies: the server's words in the panel, and the page keeps working.
  await page.locator('#retention-name').fill('bad-days');
  await page.locator('#retention-database').fill('retained');
  await page.locator('#retention-days').fill('0');
  await page.locator('#create-retention').click();
  await page.locator('#retention-message.error-text', { hasText: 'retention_days must be greater than 0 (400 ARC_ERR_BAD_REQUEST)' }).waitFor();
  await page.locator('#retention-days').fill('30');
  await page.locator('#retention-buffer').fill('30');
  await page.locator('#create-retention').click();
  await page.locator('#retention-message.error-text', { hasText: 'retention_days must be greater than buffer_days' }).waitFor();
  await page.locator('#retention-buffer').fill('');
  await page.locator('#retention-name').fill('');
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
  assert.deepEqual(listed.map((p) => [p.name, p.database, p.measurement, p.retention_days, p.buffer_days, p.is_active]), [['aged-30d', 'retained', 'aged', 30, 0, true]]);

  await row.locator('button[data-action="dry-run"]').click();
  const dry = page.locator('#retention-result span[data-dry-run="true"]');
  await dry.waitFor();
  assert.equal(await dry.getAttribute('data-deleted'), '25');
  assert.match((await dry.textContent()) ?? '', /would delete 25 rows older than \d{4}-\d\d-\d\dT/);
  assert.equal(await count(), 30, 'a dry run deletes nothing');
  assert.equal(await row.locator('td.last-run').textContent(), 'never', 'a dry run is not recorded as a run');

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
  assert.equal(await count(), 5, 'deleting the policy leaves the data');
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('admin: the compaction status and the continuous queries are the API\'s, shown as tables', async () => {
  // Two flushes into one closed hour, merged by a forced cycle (the files themselves are new): the status then counts a job.
  const hour = Math.floor((Date.now() - 3 * DAY_MS) / 3_600_000) * 3_600_000;
  for (const round of [0, 1]) {
    const lines = Array.from({ length: 10 }, (_, i) => `cpu,host=h${i % 2} value=${round * 10 + i} ${(hour + round * 60_000 + i * 1000) * 1e6}`);
    assert.equal((await api('POST', '/api/v1/write/line-protocol', lines.join('\n'), { 'x-arc-database': 'lifecycle' })).status, 204);
    assert.equal((await api('POST', '/api/v1/write/flush')).status, 200);
  }
  const trigger = await api('POST', '/api/v1/compaction/trigger?tier=hourly&database=lifecycle&force=true');
  assert.equal(trigger.status, 200, trigger.text);
  const status = async () => (await api('GET', '/api/v1/compaction/status')).json as { cycle_running: boolean; current_cycle_id: number; manager: { total_completed: number } };
  await waitUntil('the compaction cycle to finish', async () => {
    const now = await status();
    return !now.cycle_running && now.current_cycle_id >= Number(trigger.json.cycle_id);
  });
  const completed = (await status()).manager.total_completed;
  assert.ok(completed >= 1, `completed jobs: ${completed}`);

  const cq = await api('POST', '/api/v1/continuous_queries', {
    name: 'cpu_1m',
    database: 'lifecycle',
    source_measurement: 'cpu',
    destination_measurement: 'cpu_1m',
    query: "SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(value) AS value FROM lifecycle.cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2",
    interval: '1m',
    tag_columns: ['host'],
    is_active: true,
  });
  assert.equal(cq.status, 201, cq.text);

  const { page, problems } = await openConsole(browser, server.url + '/ui/admin');
  await signIn(page, ADMIN);
  const cell = (key: string) => page.locator(`#admin-compaction tr[data-key="${key}"] td`);
  await cell('manager.total_completed').waitFor();
  assert.equal(await cell('manager.total_completed').textContent(), String(completed));
  assert.equal(await cell('manager.total_failed').textContent(), '0');
  assert.equal(await cell('cycle_running').textContent(), 'false');
  assert.match((await cell('schedulers.hourly.schedule').textContent()) ?? '', /\S/);

  const row = page.locator('#admin-cqs tr[data-name="cpu_1m"]');
  await row.waitFor();
  assert.deepEqual(await page.locator('#admin-cqs thead th').allTextContents(), ['Id', 'Name', 'Database', 'Source → destination', 'Interval', 'Active', 'Last run', 'Processed up to']);
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual(cells.slice(0, 6), [String(cq.json.id), 'cpu_1m', 'lifecycle', 'cpu → cpu_1m', '1m', 'yes']);
  // The scheduler may have run it already (its first window), or not yet.
  assert.match(cells[6]!, /^(never|\d{4}-\d\d-\d\dT\S+ · \w+ · \d+ rows)$/);
  assert.equal(await row.locator('td').nth(1).getAttribute('title'), String(cq.json.query), 'the SQL is the name\'s tooltip');
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('admin with retention, compaction and continuous queries off says so instead of calling the absent routes', async () => {
  const off = await startServer({ env: { ARC_RETENTION_ENABLED: 'false', ARC_COMPACTION_ENABLED: 'false', ARC_CONTINUOUS_QUERY_ENABLED: 'false' } });
  try {
    const info = (await get(off, '/api/v1/console/info')).json;
    assert.deepEqual([info.retention_enabled, info.compaction_enabled, info.continuous_queries_enabled], [false, false, false]);
    // Auth is off on this server: no sign-in.
    const { page, problems } = await openConsole(browser, off.url + '/ui/admin');
    const called: string[] = [];
    page.on('request', (request) => called.push(new URL(request.url()).pathname));
    await page.reload(); // the first load may have rendered before the listener was attached
    await page.locator('#admin-retention p.hint', { hasText: 'Retention is off (retention.enabled = false)' }).waitFor();
    await page.locator('#admin-compaction p.hint', { hasText: 'Compaction is off (compaction.enabled = false)' }).waitFor();
    await page.locator('#admin-cqs p.hint', { hasText: 'Continuous queries are off (continuous_query.enabled = false)' }).waitFor();
    await page.locator('#admin-tokens p.hint', { hasText: 'Authentication is off' }).waitFor();
    assert.equal(await page.locator('#new-retention').count(), 0);
    assert.deepEqual(called.filter((p) => /^\/api\/v1\/(retention|compaction|continuous_queries)/.test(p)), []);
    assert.equal(await page.locator('#admin-message.error-text').count(), 0);
    assert.deepEqual(problems, []);
    await page.context().close();
  } finally {
    assert.equal(await off.stop(), 0);
  }
});

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Reader, quote } from './helpers/duckdb.js';
import { flush, get, post, runArc, startServer, tempDir, type HttpResult, type TestServer } from './helpers/server.js';

/**
 * Retention policies (issue #14): Arc's CRUD bodies and checks, exact runs (no row older than the
 * cutoff left in any query or file, every newer row intact, buffered old rows removed too), the
 * history, the built-in schedule's trigger, definitions that survive a restart, and `arc retention list`.
 */
const DB = 'ret';
const DAY = 86_400_000;
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Data is stamped relative to this; no point lies within 30 minutes of a 3-day cutoff. */
const NOW = Date.now();

let root: string;
let dir: string;
let server: TestServer;
let reader: Reader;

function env(): Record<string, string> {
  return { ARC_WAL_ENABLED: 'true', ARC_WAL_DIRECTORY: path.join(dir, 'wal'), ARC_COMPACTION_ENABLED: 'false', ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' };
}

function send(method: string, urlPath: string, body?: unknown): Promise<HttpResult> {
  return fetch(server.url + urlPath, { method, headers: JSON_HEADERS, body: body === undefined ? undefined : JSON.stringify(body) }).then(async (response) => {
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  });
}

async function count(where: string): Promise<number> {
  const response = await post(server, '/api/v1/query', JSON.stringify({ sql: `SELECT count(*) FROM ${DB}.cpu WHERE ${where}` }), JSON_HEADERS);
  assert.equal(response.status, 200, response.text);
  return Number((response.json.data as number[][])[0]![0]);
}

/** Ten days of points every 6 hours for hosts a and b, plus the measurement `mem` (not in the policy). */
function lines(): string[] {
  const out: string[] = [];
  for (let d = 0; d < 10; d++) {
    for (let h = 0; h < 4; h++) {
      const t = NOW - d * DAY - h * 6 * 3_600_000 - 30 * 60_000;
      out.push(`cpu,host=a value=${d * 10 + h} ${t * 1e6}`, `cpu,host=b value=${d * 10 + h + 0.5} ${t * 1e6}`, `mem,host=a used=${d} ${t * 1e6}`);
    }
  }
  return out;
}

before(async () => {
  reader = await Reader.open();
  dir = tempDir('arc-retention-');
  root = path.join(dir, 'data');
  server = await startServer({ root, env: env() });
  assert.equal((await post(server, `/write?db=${DB}`, lines().join('\n'))).status, 204);
  await flush(server);
  // Old rows still buffered when the policy runs: removed with the rest.
  assert.equal((await post(server, `/write?db=${DB}`, `cpu,host=c value=-1 ${(NOW - 8 * DAY) * 1e6}`)).status, 204);
});

after(async () => {
  reader.close();
  assert.equal(await server.stop(), 0);
});

const POLICY = { name: 'raw-3d', database: DB, measurement: 'cpu', retention_days: 3, buffer_days: 0, is_active: true };

test('a 3-day policy over 10 days of data: dry run counts, the run removes every older row from queries and files, newer rows intact', async () => {
  const created = await send('POST', '/api/v1/retention', POLICY);
  assert.equal(created.status, 201, created.text);
  const id = created.json.id as number;
  assert.deepEqual(
    { ...created.json, id: 0, created_at: '', updated_at: '' },
    { ...POLICY, id: 0, last_execution_time: null, last_execution_status: null, last_deleted_count: null, created_at: '', updated_at: '' },
  );
  const cutoff = `'${new Date(NOW - 3 * DAY).toISOString()}'`;
  const older = await count(`time < ${cutoff}`);
  const newer = await sql(`SELECT epoch_ms(time) AS t, host, value FROM ${DB}.cpu WHERE time >= ${cutoff} ORDER BY t, host`);
  assert.equal(older, 7 * 4 * 2 + 1);
  const memBefore = await sql(`SELECT count(*) FROM ${DB}.mem`);

  const refused = await send('POST', `/api/v1/retention/${id}/execute`, {});
  assert.deepEqual([refused.status, refused.json.error], [400, 'Confirmation required for retention policy execution. Set confirm=true']);
  const dry = await send('POST', `/api/v1/retention/${id}/execute`, { dry_run: true });
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.deleted_count, older);
  assert.equal(dry.json.dry_run, true);
  assert.equal(await count(`time < ${cutoff}`), older, 'a dry run changes nothing');

  const run = await send('POST', `/api/v1/retention/${id}/execute`, { confirm: true });
  assert.equal(run.status, 200, run.text);
  assert.deepEqual(Object.keys(run.json).sort(), ['affected_measurements', 'cutoff_date', 'deleted_count', 'dry_run', 'execution_time_ms', 'files_deleted', 'files_rewritten', 'policy_id', 'policy_name'].sort());
  assert.deepEqual([run.json.policy_id, run.json.policy_name, run.json.deleted_count, run.json.dry_run, run.json.affected_measurements], [id, 'raw-3d', older, false, ['cpu']]);
  assert.match(String(run.json.cutoff_date), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok((run.json.files_deleted as number) + (run.json.files_rewritten as number) > 0);

  assert.equal(await count(`time < ${cutoff}`), 0, 'no older row in any query');
  assert.deepEqual(await sql(`SELECT epoch_ms(time) AS t, host, value FROM ${DB}.cpu ORDER BY t, host`), newer, 'every newer row intact');
  const glob = quote(path.join(root, DB, 'cpu', '**', '*.parquet'));
  const [disk] = await reader.query(`SELECT count(*) FILTER (WHERE "time" < ${cutoff}::TIMESTAMPTZ) AS older, count(*) AS total FROM read_parquet(${glob}, union_by_name = true)`);
  assert.deepEqual([Number(disk!.older), Number(disk!.total)], [0, newer.length], 'no older row in any file');
  assert.deepEqual(await sql(`SELECT count(*) FROM ${DB}.mem`), memBefore, 'other measurements untouched');

  const history = await get(server, `/api/v1/retention/${id}/executions`);
  assert.equal(history.json.policy_id, id);
  const [execution] = history.json.executions as Array<Record<string, unknown>>;
  assert.deepEqual([execution!.status, execution!.deleted_count, execution!.cutoff_date, execution!.error_message], ['completed', older, run.json.cutoff_date, null]);
  const policy = (await get(server, `/api/v1/retention/${id}`)).json;
  assert.deepEqual([policy.last_execution_status, policy.last_deleted_count], ['completed', older]);
});

async function sql(text: string): Promise<unknown[][]> {
  const response = await post(server, '/api/v1/query', JSON.stringify({ sql: text }), JSON_HEADERS);
  assert.equal(response.status, 200, response.text);
  return response.json.data as unknown[][];
}

test('policy routes answer Arc\'s errors; a partial PUT is refused instead of blanking the policy', async () => {
  const bad: Array<[unknown, number, string]> = [
    [{ database: DB, retention_days: 3 }, 400, 'name is required'],
    [{ name: 'x', retention_days: 3 }, 400, 'database is required'],
    [{ name: 'x', database: DB, retention_days: 0 }, 400, 'retention_days must be greater than 0'],
    [{ name: 'x', database: DB, retention_days: 3, buffer_days: 3 }, 400, 'retention_days must be greater than buffer_days'],
    [{ name: 'x', database: DB, retention_days: '3' }, 400, 'Invalid request body: retention_days must be an integer'],
    [{ name: 'raw-3d', database: DB, retention_days: 5 }, 400, "Retention policy with name 'raw-3d' already exists"],
  ];
  for (const [body, status, error] of bad) {
    const response = await send('POST', '/api/v1/retention', body);
    assert.deepEqual([response.status, response.json.error], [status, error], JSON.stringify(body));
  }
  const notJson = await post(server, '/api/v1/retention', '{}', { 'content-type': 'text/plain' });
  assert.deepEqual([notJson.status, notJson.json.error], [400, 'Invalid request body: Unprocessable Entity']);
  assert.deepEqual([(await get(server, '/api/v1/retention/abc')).status, (await get(server, '/api/v1/retention/abc')).json.error], [400, 'Invalid policy ID']);
  const missing = await get(server, '/api/v1/retention/999');
  assert.deepEqual([missing.status, missing.json.error, missing.json.code], [404, 'Retention policy not found', 'ARC_ERR_RETENTION_NOT_FOUND']);
  assert.deepEqual((await get(server, '/api/v1/retention/999/executions')).json, { policy_id: 999, executions: null });
  const unconfirmed = await send('POST', '/api/v1/retention/999/execute', {});
  assert.equal(unconfirmed.status, 400, 'confirmation is checked before the lookup, as in Arc');
  assert.equal((await send('POST', '/api/v1/retention/999/execute', { confirm: true })).status, 404);

  const other = await send('POST', '/api/v1/retention', { name: 'mem-5d', database: DB, measurement: 'mem', retention_days: 5, is_active: false });
  assert.equal(other.status, 201, other.text);
  const id = other.json.id as number;
  const inactive = await send('POST', `/api/v1/retention/${id}/execute`, { confirm: true });
  assert.deepEqual([inactive.status, inactive.json.error], [400, 'Retention policy is not active']);
  const partial = await send('PUT', `/api/v1/retention/${id}`, { retention_days: 9 }); // the Python SDK's update()
  assert.equal(partial.status, 400);
  assert.match(String(partial.json.error), /PUT replaces the whole policy; the body lacks name, database, measurement, buffer_days, is_active/);
  assert.equal((await get(server, `/api/v1/retention/${id}`)).json.retention_days, 5, 'unchanged');
  const full = await send('PUT', `/api/v1/retention/${id}`, { name: 'mem-9d', database: DB, measurement: 'mem', retention_days: 9, buffer_days: 1, is_active: false });
  assert.equal(full.status, 200, full.text);
  assert.deepEqual([full.json.name, full.json.retention_days, full.json.buffer_days], ['mem-9d', 9, 1]);
  const list = (await get(server, '/api/v1/retention')).json as unknown as Array<{ name: string }>;
  assert.deepEqual(list.map((p) => p.name), ['mem-9d', 'raw-3d'], 'newest first');
  assert.deepEqual((await send('DELETE', `/api/v1/retention/${id}`)).json, { message: 'Retention policy deleted successfully' });
  assert.equal((await get(server, `/api/v1/retention/${id}`)).status, 404);
});

test('the built-in schedule: reported by /api/v1/schedulers, run now by the trigger route; policies survive a restart and list in the CLI', async () => {
  const status = (await get(server, '/api/v1/schedulers')).json.retention_scheduler as Record<string, unknown>;
  assert.deepEqual([status.running, status.schedule], [true, '0 4 * * *']);
  assert.match(String(status.next_run), /^\d{4}-\d\d-\d\dT04:00:00Z$/);
  assert.equal((await post(server, `/write?db=${DB}`, `cpu,host=d value=-9 ${(NOW - 6 * DAY) * 1e6}`)).status, 204);
  const trigger = await post(server, '/api/v1/schedulers/retention/trigger');
  assert.deepEqual([trigger.status, trigger.json], [200, { message: 'Retention triggered successfully' }]);
  assert.equal(await count(`host = 'd'`), 0, 'the triggered run removed the new old row');

  await server.stop();
  server = await startServer({ root, env: env() });
  const list = (await get(server, '/api/v1/retention')).json as unknown as Array<{ name: string; last_execution_status: string }>;
  assert.deepEqual(list.map((p) => [p.name, p.last_execution_status]), [['raw-3d', 'completed']]);
  const cli = await runArc(['retention', 'list', '--url', server.url]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /ID\s+NAME\s+DATABASE\s+MEASUREMENT\s+KEEP/);
  assert.match(cli.stdout, /raw-3d\s+ret\s+cpu\s+3d\s+yes/);
});

test('retention.enabled = false: the routes are absent (404), the trigger answers 503, the scheduler says why', async () => {
  const off = await startServer({ env: { ARC_RETENTION_ENABLED: 'false' } });
  try {
    assert.equal((await get(off, '/api/v1/retention')).status, 404);
    const trigger = await post(off, '/api/v1/schedulers/retention/trigger');
    assert.deepEqual([trigger.status, trigger.json.error], [503, 'Retention scheduler is not running - retention.enabled is false']);
    assert.deepEqual((await get(off, '/api/v1/schedulers')).json.retention_scheduler, { enabled: false, reason: 'Retention feature not enabled (retention.enabled=false)' });
  } finally {
    await off.stop();
  }
});

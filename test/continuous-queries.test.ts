import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encode, f64 } from './helpers/msgpack.js';
import { flush, get, listFiles, post, runArc, startServer, tempDir, writeMsgpack, type HttpResult, type TestServer } from './helpers/server.js';

/**
 * Continuous queries (issue #14): CRUD with Arc's bodies, runs whose output equals the same SQL run
 * by hand, exactly one copy per window however often it runs, late data re-aggregated by a re-run,
 * a scheduler that catches up missed windows after downtime, and kill -9 in the middle of a swap.
 */
const DB = 'cq';
const MINUTE = 60_000;
/** 20 minutes before the start of the current minute: ten closed 1-minute windows of data follow. */
const BASE = Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE;
const CQ_SQL = `SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(value) AS value, count(*) AS n FROM ${DB}.cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2`;
const JSON_HEADERS = { 'content-type': 'application/json' };

let server: TestServer;

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** Points every 5 s for ten minutes from BASE, two hosts, value = a function of time and host. */
async function writeSource(target: TestServer): Promise<void> {
  const time: number[] = [];
  const host: string[] = [];
  const value: ReturnType<typeof f64>[] = [];
  for (let t = BASE; t < BASE + 10 * MINUTE; t += 5000) {
    for (const h of ['a', 'b']) {
      time.push(t);
      host.push(h);
      value.push(f64(((t - BASE) / 1000) % 97 + (h === 'a' ? 0.5 : 100.25)));
    }
  }
  const response = await writeMsgpack(target, encode({ m: 'cpu', columns: { time, host, value } }), DB);
  assert.equal(response.status, 204, response.text);
}

async function writePoint(target: TestServer, t: number, host: string, value: number): Promise<void> {
  const response = await writeMsgpack(target, encode({ m: 'cpu', columns: { time: [t], host: [host], value: [f64(value)] } }), DB);
  assert.equal(response.status, 204, response.text);
}

async function sql(target: TestServer, text: string): Promise<unknown[][]> {
  const response = await post(target, '/api/v1/query', JSON.stringify({ sql: text }), JSON_HEADERS);
  assert.equal(response.status, 200, response.text);
  return response.json.data as unknown[][];
}

/** The CQ's SQL run by hand over [start, end), in the destination's column order. */
function byHand(target: TestServer, start: number, end: number): Promise<unknown[][]> {
  const query = CQ_SQL.replace('{start_time}', `'${iso(start)}'`).replace('{end_time}', `'${iso(end)}'`);
  return sql(target, `SELECT time, host, value, n FROM (${query}) ORDER BY time, host`);
}

function destination(target: TestServer): Promise<unknown[][]> {
  return sql(target, `SELECT time, host, value, n FROM ${DB}.cpu_1m ORDER BY time, host`);
}

function postJson(target: TestServer, urlPath: string, body: unknown): Promise<HttpResult> {
  return post(target, urlPath, JSON.stringify(body), JSON_HEADERS);
}

async function request(target: TestServer, method: string, urlPath: string, body?: unknown): Promise<HttpResult> {
  const response = await fetch(target.url + urlPath, { method, headers: JSON_HEADERS, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function definition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'cpu_1m', database: DB, source_measurement: 'cpu', destination_measurement: 'cpu_1m', query: CQ_SQL, interval: '1m', tag_columns: ['host'], is_active: true, ...overrides };
}

async function execute(target: TestServer, id: number, start: number, end: number): Promise<Record<string, unknown>> {
  const response = await postJson(target, `/api/v1/continuous_queries/${id}/execute`, { start_time: iso(start), end_time: iso(end) });
  assert.equal(response.status, 200, response.text);
  return response.json;
}

function destinationFiles(target: TestServer): string[] {
  return listFiles(path.join(target.root, DB, 'cpu_1m')).filter((f) => f.endsWith('.parquet'));
}

before(async () => {
  server = await startServer();
  await writeSource(server);
});

after(async () => {
  await server.stop();
});

test('a 1-minute average CQ equals its SQL run by hand, and a window run twice leaves one copy', async () => {
  const created = await postJson(server, '/api/v1/continuous_queries', definition());
  assert.equal(created.status, 201, created.text);
  const id = created.json.id as number;
  assert.deepEqual(
    { ...created.json, created_at: null, updated_at: null },
    { ...definition(), id, description: null, retention_days: null, delete_source_after_days: null, last_execution_time: null, last_execution_status: null, last_processed_time: null, last_records_written: null, created_at: null, updated_at: null },
  );

  const first = await execute(server, id, BASE, BASE + 10 * MINUTE);
  assert.equal(first.status, 'completed');
  assert.equal(first.records_written, 20);
  assert.match(String(first.execution_id), /^cq-exec-[0-9a-f]{8}$/);
  const expected = await byHand(server, BASE, BASE + 10 * MINUTE);
  assert.equal(expected.length, 20);
  assert.deepEqual(await destination(server), expected);

  // The same window again, and a sub-window inside the file written first: still one copy of each row.
  await execute(server, id, BASE, BASE + 10 * MINUTE);
  assert.deepEqual(await destination(server), expected);
  await execute(server, id, BASE + 2 * MINUTE, BASE + 3 * MINUTE);
  assert.deepEqual(await destination(server), expected);
  await flush(server);
  assert.deepEqual(await destination(server), expected);

  // Late data inside a window that ran already: a re-run of that window takes it in.
  await writePoint(server, BASE + 30_000 + 1, 'a', 5000);
  await execute(server, id, BASE, BASE + MINUTE);
  const withLate = await byHand(server, BASE, BASE + 10 * MINUTE);
  assert.notDeepEqual(withLate, expected);
  assert.deepEqual(await destination(server), withLate);

  // Explicit bounds off the grid are widened to it.
  const widened = await execute(server, id, BASE + 10_000, BASE + MINUTE + 10_000);
  assert.equal(widened.start_time, iso(BASE));
  assert.equal(widened.end_time, iso(BASE + 2 * MINUTE));
  assert.deepEqual(await destination(server), withLate);

  const dry = await postJson(server, `/api/v1/continuous_queries/${id}/execute`, { start_time: iso(BASE), end_time: iso(BASE + MINUTE), dry_run: true });
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.status, 'dry_run');
  assert.equal(dry.json.records_written, 0);
  assert.equal(dry.json.dry_run, true);
  assert.equal(dry.json.executed_query, CQ_SQL.replace('{start_time}', `'${iso(BASE)}'`).replace('{end_time}', `'${iso(BASE + MINUTE)}'`));

  const executions = await get(server, `/api/v1/continuous_queries/${id}/executions?limit=1000`);
  assert.equal(executions.status, 200);
  // Manual runs only: the scheduler may have run windows meanwhile.
  const list = (executions.json.executions as Array<Record<string, unknown>>).filter((e) => String(e.execution_id).startsWith('cq-exec-'));
  assert.equal(list.length, 5);
  assert.equal(list[0]!.start_time, iso(BASE)); // newest first: the widened run
  assert.equal(list[0]!.status, 'completed');

  const schedulers = await get(server, '/api/v1/schedulers');
  const cq = schedulers.json.cq_scheduler as { running: boolean; job_count: number; jobs: unknown[] };
  assert.equal(cq.running, true);
  assert.deepEqual(cq.jobs, [{ cq_id: id, cq_name: 'cpu_1m', interval: '1m0s' }]);
  const reload = await post(server, '/api/v1/schedulers/cq/reload');
  assert.deepEqual(reload.json, { message: 'CQ scheduler reloaded successfully', job_count: 1 });

  const cli = await runArc(['cq', 'list', '--url', server.url]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`${id}\\s+cpu_1m\\s+cq\\s+cpu → cpu_1m\\s+1m\\s+yes`));

  const removed = await request(server, 'DELETE', `/api/v1/continuous_queries/${id}`);
  assert.deepEqual(removed.json, { message: 'Continuous query deleted successfully' });
  assert.equal((await get(server, `/api/v1/continuous_queries/${id}`)).status, 404);
  assert.deepEqual(await destination(server), withLate); // the destination's rows stay
});

test('every 4xx answer names the problem', async () => {
  const create = (body: unknown) => postJson(server, '/api/v1/continuous_queries', body);
  const cases: Array<[unknown, string, string]> = [
    [definition({ name: '' }), 'name is required', 'name'],
    [definition({ database: undefined }), 'database is required', 'database'],
    [definition({ source_measurement: '' }), 'source_measurement is required', 'source_measurement'],
    [definition({ destination_measurement: '' }), 'destination_measurement is required', 'destination_measurement'],
    [definition({ destination_measurement: '1bad' }), 'invalid destination_measurement: must start with a letter and contain only alphanumeric characters, underscores, or hyphens', 'destination_measurement'],
    [definition({ query: '' }), 'query is required', 'query'],
    [definition({ interval: '' }), 'interval is required', 'interval'],
    [definition({ query: 'SELECT 1' }), 'query must contain {start_time} and {end_time} placeholders', 'query'],
    [definition({ interval: '1 hour' }), 'invalid interval "1 hour": use a duration such as 30s, 5m, 1h, 1h30m or 1d', 'interval'],
    [definition({ interval: '5s' }), 'invalid interval "5s": the minimum is 10s', 'interval'],
    [definition({ tag_columns: [''] }), 'tag column name must not be empty', 'tag_columns'],
    [definition({ tag_columns: ['Time'] }), 'tag column "time" is reserved: time is always part of the dedup key and must not be listed', 'tag_columns'],
    [definition({ tag_columns: ['a b'] }), 'invalid tag column "a b": only alphanumeric, underscore, and hyphen are allowed', 'tag_columns'],
    [definition({ is_active: 'yes' }), 'Invalid request body: is_active must be a boolean', 'is_active'],
    [[1], 'Invalid request body: expected a JSON object', 'body'],
  ];
  for (const [body, error, field] of cases) {
    const response = await create(body);
    assert.equal(response.status, 400, `${error}: ${response.text}`);
    assert.deepEqual(response.json, { error, code: 'ARC_ERR_BAD_REQUEST', field });
  }
  const badSql = await create(definition({ query: "SELECT * FROM read_parquet('/etc/passwd') WHERE time >= {start_time} AND time < {end_time}" }));
  assert.equal(badSql.status, 400);
  assert.match(String(badSql.json.error), /^invalid query: /);
  assert.equal(badSql.json.field, 'query');

  const noType = await post(server, '/api/v1/continuous_queries', JSON.stringify(definition()), { 'content-type': 'text/plain' });
  assert.deepEqual(noType.json, { error: 'Invalid request body: Unprocessable Entity', code: 'ARC_ERR_BAD_REQUEST', field: 'body' });
  const empty = await post(server, '/api/v1/continuous_queries', '', JSON_HEADERS);
  assert.deepEqual(empty.json, { error: 'Invalid request body: unexpected end of JSON input', code: 'ARC_ERR_BAD_REQUEST', field: 'body' });

  const created = await create(definition({ name: 'errors_cq', destination_measurement: 'errors_out' }));
  assert.equal(created.status, 201, created.text);
  const id = created.json.id as number;
  const duplicate = await create(definition({ name: 'errors_cq' }));
  assert.deepEqual(duplicate.json, { error: "Continuous query with name 'errors_cq' already exists", code: 'ARC_ERR_CQ_EXISTS', field: 'name' });
  assert.equal(duplicate.status, 400);

  const notFound = await get(server, '/api/v1/continuous_queries/999');
  assert.equal(notFound.status, 404);
  assert.deepEqual(notFound.json, { error: 'Continuous query not found', code: 'ARC_ERR_CQ_NOT_FOUND', id: 999 });
  const badId = await get(server, '/api/v1/continuous_queries/abc');
  assert.deepEqual([badId.status, badId.json], [400, { error: 'Invalid query ID', code: 'ARC_ERR_BAD_REQUEST', field: 'id' }]);
  const putMissing = await request(server, 'PUT', '/api/v1/continuous_queries/999', definition());
  assert.equal(putMissing.status, 404);
  // A partial PUT is refused (Arc stores it and blanks the definition).
  const partial = await request(server, 'PUT', `/api/v1/continuous_queries/${id}`, { name: 'errors_cq' });
  assert.deepEqual([partial.status, partial.json], [400, { error: 'database is required', code: 'ARC_ERR_BAD_REQUEST', field: 'database' }]);
  assert.equal((await request(server, 'DELETE', '/api/v1/continuous_queries/999')).status, 404);

  const run = (body: unknown, target = id) => postJson(server, `/api/v1/continuous_queries/${target}/execute`, body);
  assert.deepEqual((await run({ start_time: '2026-01-01T00:00:00' })).json, { error: 'Invalid start_time format', code: 'ARC_ERR_BAD_REQUEST', field: 'start_time' });
  assert.deepEqual((await run({ end_time: 'tomorrow' })).json, { error: 'Invalid end_time format', code: 'ARC_ERR_BAD_REQUEST', field: 'end_time' });
  const backwards = await run({ start_time: iso(BASE + MINUTE), end_time: iso(BASE) });
  assert.deepEqual([backwards.status, backwards.json], [400, { error: 'start_time must be before end_time', code: 'ARC_ERR_BAD_REQUEST', field: 'start_time' }]);
  assert.deepEqual((await run({ dry_run: 'yes' })).json, { error: 'Invalid request body: dry_run must be a boolean', code: 'ARC_ERR_BAD_REQUEST', field: 'dry_run' });
  assert.equal((await run({}, 999)).status, 404);
  const limit = await get(server, `/api/v1/continuous_queries/${id}/executions?limit=0`);
  assert.deepEqual([limit.status, limit.json], [400, { error: 'limit must be a positive integer; got "0"', code: 'ARC_ERR_BAD_REQUEST', field: 'limit' }]);

  const inactive = await request(server, 'PUT', `/api/v1/continuous_queries/${id}`, definition({ name: 'errors_cq', destination_measurement: 'errors_out', is_active: false }));
  assert.equal(inactive.status, 200, inactive.text);
  assert.equal(inactive.json.is_active, false);
  const refused = await run({});
  assert.deepEqual([refused.status, refused.json], [400, { error: 'Continuous query is not active', code: 'ARC_ERR_BAD_REQUEST', id }]);

  // A run whose output cannot be stored fails as a whole: 500, a failed execution, the watermark kept.
  const broken = await create(definition({ name: 'broken', destination_measurement: 'broken_out', query: `SELECT time, [1, 2] AS list FROM ${DB}.cpu WHERE time >= {start_time} AND time < {end_time}` }));
  assert.equal(broken.status, 201, broken.text);
  const failed = await run({ start_time: iso(BASE), end_time: iso(BASE + MINUTE) }, broken.json.id as number);
  assert.equal(failed.status, 500);
  assert.equal(failed.json.code, 'ARC_ERR_CQ_EXECUTION_FAILED');
  assert.match(String(failed.json.error), /^Execution failed: unsupported column type for output column "list"/);
  const after = await get(server, `/api/v1/continuous_queries/${broken.json.id}`);
  assert.equal(after.json.last_execution_status, 'failed');
  assert.equal(after.json.last_processed_time, null);

  const listed = await get(server, `/api/v1/continuous_queries?database=nothing`);
  assert.equal(listed.text, 'null');
  for (const target of [id, broken.json.id as number]) await request(server, 'DELETE', `/api/v1/continuous_queries/${target}`);
});

test('definitions survive a restart, and a scheduler stopped for 10 intervals runs the 10 missed windows in order', async () => {
  const root = path.join(tempDir(), 'data');
  const first = await startServer({ root });
  await writeSource(first);
  const created = await postJson(first, '/api/v1/continuous_queries', definition({ description: 'one-minute averages' }));
  assert.equal(created.status, 201, created.text);
  const id = created.json.id as number;
  // The watermark put back to BASE: the windows BASE … BASE+9m were "missed".
  await execute(first, id, BASE - MINUTE, BASE);
  const stored = (await get(first, `/api/v1/continuous_queries/${id}`)).json;
  await first.stop();

  const second = await startServer({ root });
  try {
    const scheduled = async () => {
      const list = ((await get(second, `/api/v1/continuous_queries/${id}/executions?limit=1000`)).json.executions ?? []) as Array<Record<string, string>>;
      return list.filter((e) => e.execution_id!.startsWith('cq-sched-')).reverse();
    };
    for (;;) {
      const runs = await scheduled();
      if (runs.some((e) => e.start_time === iso(BASE + 9 * MINUTE))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const runs = (await scheduled()).filter((e) => Date.parse(e.start_time!) >= BASE && Date.parse(e.start_time!) < BASE + 10 * MINUTE);
    // Oldest first, one per interval, all completed.
    assert.deepEqual(runs.slice(0, 10).map((e) => [e.start_time, e.end_time, e.status]), Array.from({ length: 10 }, (_, k) => [iso(BASE + k * MINUTE), iso(BASE + (k + 1) * MINUTE), 'completed']));
    assert.deepEqual(await destination(second), await byHand(second, BASE, BASE + 10 * MINUTE));
    const now = (await get(second, `/api/v1/continuous_queries/${id}`)).json;
    for (const key of ['name', 'description', 'database', 'query', 'interval', 'tag_columns', 'created_at']) assert.deepEqual(now[key], stored[key], key);
  } finally {
    await second.stop();
  }
});

test('kill -9 during a window swap: after restart the window is either fully replaced or untouched, and a re-run leaves one copy', async () => {
  const root = path.join(tempDir(), 'data');
  let target = await startServer({ root });
  await writeSource(target);
  const id = (await postJson(target, '/api/v1/continuous_queries', definition())).json.id as number;
  await execute(target, id, BASE, BASE + 10 * MINUTE);
  const before = await destination(target);
  assert.equal(before.length, 20);
  await target.stop();

  for (const [point, k] of [['before-commit', 1], ['after-commit', 2]] as const) {
    target = await startServer({ root, env: { ARC_TEST_CQ_CRASH_POINT: point } });
    await writePoint(target, BASE + 10_000 + k, 'b', 7000 + k);
    await flush(target);
    const expected = await byHand(target, BASE, BASE + 10 * MINUTE);
    const previous = await destination(target);
    await postJson(target, `/api/v1/continuous_queries/${id}/execute`, { start_time: iso(BASE), end_time: iso(BASE + 10 * MINUTE) }).catch(() => null);
    assert.equal(await target.stop(), null); // killed by the crash point, not exited
    assert.equal(target.child.signalCode, 'SIGKILL');

    target = await startServer({ root });
    const recovered = await destination(target);
    assert.deepEqual(recovered, point === 'before-commit' ? previous : expected, `${point}: all or nothing`);
    assert.equal(fs.readdirSync(path.join(root, '_cq_state')).length, 0);
    await execute(target, id, BASE, BASE + 10 * MINUTE);
    assert.deepEqual(await destination(target), expected);
    // One file per UTC hour the window touches: no leftover of the killed run, no old copy.
    const hours = new Set([BASE, BASE + 10 * MINUTE - 1].map((t) => Math.floor(t / 3_600_000))).size;
    assert.equal(destinationFiles(target).length, hours, destinationFiles(target).join(', '));
    await target.stop();
  }
});

test('continuous_query.enabled = false: the routes are absent (404), reload answers 503, the scheduler reports why', async () => {
  const off = await startServer({ env: { ARC_CONTINUOUS_QUERY_ENABLED: 'false' } });
  try {
    assert.equal((await get(off, '/api/v1/continuous_queries')).status, 404);
    const reload = await post(off, '/api/v1/schedulers/cq/reload');
    assert.deepEqual([reload.status, reload.json], [503, { error: 'CQ scheduler is not running - continuous_query.enabled is false', code: 'ARC_ERR_SCHEDULER_DISABLED' }]);
    assert.deepEqual((await get(off, '/api/v1/schedulers')).json.cq_scheduler, { enabled: false, reason: 'CQ feature not enabled (continuous_query.enabled=false)' });
  } finally {
    await off.stop();
  }
});

test('a re-run after compaction merged earlier outputs with other rows of the destination replaces exactly the window', async () => {
  const HOUR = 3_600_000;
  const OLD = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR; // a closed hour, so compaction takes it
  const query = `SELECT time_bucket(INTERVAL '10 minutes', time) AS time, host, sum(value) AS value FROM ${DB}.mem WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2`;
  const points = (from: number, to: number, value: number) => {
    const time: number[] = [];
    const host: string[] = [];
    const values: ReturnType<typeof f64>[] = [];
    for (let t = from; t < to; t += 60_000) {
      time.push(t);
      host.push('a');
      values.push(f64(value));
    }
    return encode({ m: 'mem', columns: { time, host, value: values } });
  };
  assert.equal((await writeMsgpack(server, points(OLD, OLD + 30 * MINUTE, 1), DB)).status, 204);
  const created = await postJson(server, '/api/v1/continuous_queries', definition({ name: 'mem_10m', source_measurement: 'mem', destination_measurement: 'mem_10m', interval: '10m', query }));
  assert.equal(created.status, 201, created.text);
  const id = created.json.id as number;
  for (let k = 0; k < 3; k++) await execute(server, id, OLD + k * 10 * MINUTE, OLD + (k + 1) * 10 * MINUTE);
  // A row a client wrote into the destination itself, outside the CQ's windows: it must survive every re-run.
  const own = await writeMsgpack(server, encode({ m: 'mem_10m', columns: { time: [OLD + 45 * MINUTE], host: ['own'], value: [f64(42)] } }), DB);
  assert.equal(own.status, 204);
  await flush(server);
  const trigger = await post(server, `/api/v1/compaction/trigger?tier=hourly&database=${DB}&force=true`);
  assert.equal(trigger.status, 200, trigger.text);
  for (;;) {
    const status = (await get(server, '/api/v1/compaction/status')).json as { cycle_running: boolean; current_cycle_id: number };
    if (!status.cycle_running && status.current_cycle_id >= (trigger.json.cycle_id as number)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const files = listFiles(path.join(server.root, DB, 'mem_10m')).filter((f) => f.endsWith('.parquet'));
  assert.deepEqual(files.map((f) => f.endsWith('_compacted.parquet')), [true], files.join(', '));

  // Late data in the middle window, then a re-run of that window alone.
  assert.equal((await writeMsgpack(server, points(OLD + 10 * MINUTE, OLD + 20 * MINUTE, 2), DB)).status, 204);
  await execute(server, id, OLD + 10 * MINUTE, OLD + 20 * MINUTE);
  const rows = await sql(server, `SELECT epoch_ms(time) AS t, host, value FROM ${DB}.mem_10m ORDER BY time, host`);
  assert.deepEqual(rows, [
    [OLD, 'a', 10],
    [OLD + 10 * MINUTE, 'a', 30],
    [OLD + 20 * MINUTE, 'a', 10],
    [OLD + 45 * MINUTE, 'own', 42],
  ]);
  await request(server, 'DELETE', `/api/v1/continuous_queries/${id}`);
});

test('with the write-ahead log on, a destination file a live log segment still names is not rewritten (its rows would be replayed)', async () => {
  const walServer = await startServer({ env: { ARC_WAL_ENABLED: 'true', ARC_WAL_MAX_AGE_SECONDS: '3600' } });
  try {
    await writeSource(walServer);
    const own = await writeMsgpack(walServer, encode({ m: 'cpu_1m', columns: { time: [BASE + 1000], host: ['own'], value: [f64(1)], n: [1] } }), DB);
    assert.equal(own.status, 204, own.text);
    await flush(walServer);
    const id = (await postJson(walServer, '/api/v1/continuous_queries', definition())).json.id as number;
    const refused = await postJson(walServer, `/api/v1/continuous_queries/${id}/execute`, { start_time: iso(BASE), end_time: iso(BASE + MINUTE) });
    assert.equal(refused.status, 500, refused.text);
    assert.equal(refused.json.code, 'ARC_ERR_CQ_EXECUTION_FAILED');
    assert.match(String(refused.json.error), /still named by the write-ahead log/);
    // Windows without such files run as usual.
    const other = await execute(walServer, id, BASE + MINUTE, BASE + 2 * MINUTE);
    assert.equal(other.records_written, 2);
  } finally {
    await walServer.stop();
  }
});

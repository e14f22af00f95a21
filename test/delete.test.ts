import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Reader, quote } from './helpers/duckdb.js';
import { flush, get, listFiles, post, startServer, until, type HttpResult, type TestServer } from './helpers/server.js';

/**
 * Row-level delete (issue #14): POST /api/v1/delete with Arc's bodies, but exact — rows where the
 * WHERE is NULL are kept, buffered rows are deleted too, only files in the WHERE's time range are
 * touched, and the WHERE is parsed by DuckDB (an invalid one is a 400 with DuckDB's message).
 */
const DB = 'del';
const HOUR = 3_600_000;
/** Six whole hours of data starting here (well in the past, so nothing else writes there). */
const BASE = Date.UTC(2026, 0, 10, 0);
/** Rows of host a before this go. */
const CUTOFF = BASE + 3 * HOUR;
const JSON_HEADERS = { 'content-type': 'application/json' };

let server: TestServer;
let reader: Reader;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** 20 points per hour and host (a, b, and no host at all) over six hours; value encodes everything. */
function sourceLines(): string[] {
  const lines: string[] = [];
  for (let h = 0; h < 6; h++) {
    for (let i = 0; i < 20; i++) {
      const t = BASE + h * HOUR + i * 60_000;
      lines.push(`cpu,host=a value=${h * 1000 + i} ${t * 1e6}`);
      lines.push(`cpu,host=b value=${h * 1000 + i + 0.5} ${t * 1e6}`);
      lines.push(`cpu value=${h * 1000 + i + 0.25} ${t * 1e6}`);
    }
  }
  return lines;
}

async function write(target: TestServer, lines: string[]): Promise<void> {
  const response = await post(target, `/write?db=${DB}`, lines.join('\n'));
  assert.equal(response.status, 204, response.text);
}

async function sql(target: TestServer, text: string): Promise<unknown[][]> {
  const response = await post(target, '/api/v1/query', JSON.stringify({ sql: text }), JSON_HEADERS);
  assert.equal(response.status, 200, response.text);
  return response.json.data as unknown[][];
}

function del(target: TestServer, body: unknown, headers: Record<string, string> = JSON_HEADERS): Promise<HttpResult> {
  return post(target, '/api/v1/delete', typeof body === 'string' ? body : JSON.stringify(body), headers);
}

function dataFiles(target: TestServer): string[] {
  return listFiles(path.join(target.root, DB, 'cpu')).filter((f) => f.endsWith('.parquet') && !path.basename(f).startsWith('.'));
}

/** Every row of every Parquet file of the measurement, read by DuckDB directly. */
async function fileRows(target: TestServer): Promise<Array<{ time: bigint; host: string | null; value: number }>> {
  const glob = path.join(target.root, DB, 'cpu', '**', '*.parquet');
  return (await reader.query(`SELECT epoch_ms("time") AS time, host, value FROM read_parquet(${quote(glob)}, union_by_name = true) ORDER BY time, value`)) as Array<{
    time: bigint;
    host: string | null;
    value: number;
  }>;
}

before(async () => {
  reader = await Reader.open();
  server = await startServer({
    env: { ARC_DELETE_ENABLED: 'true', ARC_WAL_ENABLED: 'true', ARC_DELETE_CONFIRMATION_THRESHOLD: '100', ARC_DELETE_MAX_ROWS_PER_DELETE: '200', ARC_COMPACTION_ENABLED: 'false' },
  });
  await write(server, sourceLines());
  await flush(server);
});

after(async () => {
  reader.close();
  assert.equal(await server.stop(), 0);
});

const WHERE = `host = 'a' AND time < '${iso(CUTOFF)}'`;
const EXPECTED_SQL = `SELECT epoch_ms(time) AS t, host, value FROM ${DB}.cpu WHERE NOT ((${WHERE}) IS TRUE) ORDER BY t, value`;

test('a delete removes exactly the matching rows (buffered ones too) from queries and from every file; NULL-host rows and all others stay identical', async () => {
  // Unflushed rows acknowledged before the delete: a matching one and a kept one.
  await write(server, [`cpu,host=a value=-1 ${(BASE + HOUR + 30_000) * 1e6}`, `cpu,host=b value=-2 ${(BASE + HOUR + 30_000) * 1e6}`]);
  const expected = await sql(server, EXPECTED_SQL);
  const [[matching]] = (await sql(server, `SELECT count(*) FROM ${DB}.cpu WHERE ${WHERE}`)) as [[number]];
  assert.equal(matching, 3 * 20 + 1);
  const nullHosts = (await fileRows(server)).filter((r) => r.host === null).length;
  assert.equal(nullHosts, 120);
  const laterFiles = dataFiles(server).filter((f) => Number(f.split('/')[3]) >= 3);

  const dry = await del(server, { database: DB, measurement: 'cpu', where: WHERE, dry_run: true });
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.success, true);
  assert.equal(dry.json.dry_run, true);
  assert.equal(dry.json.deleted_count, matching);
  assert.equal(dry.json.rewritten_files, 0);
  assert.ok((dry.json.affected_files as number) >= 3);
  assert.equal((dry.json.files_processed as string[]).length, dry.json.affected_files);
  assert.deepEqual(await sql(server, `SELECT count(*) FROM ${DB}.cpu WHERE ${WHERE}`), [[matching]], 'a dry run changes nothing');

  const done = await del(server, { database: DB, measurement: 'cpu', where: WHERE, confirm: true });
  assert.equal(done.status, 200, done.text);
  assert.deepEqual(Object.keys(done.json).sort(), ['affected_files', 'deleted_count', 'dry_run', 'execution_time_ms', 'files_processed', 'rewritten_files', 'success']);
  assert.equal(done.json.success, true);
  assert.equal(done.json.deleted_count, matching);
  assert.equal(done.json.rewritten_files, done.json.affected_files);
  assert.ok((done.json.files_processed as string[]).every((name) => !name.includes('/') && name.endsWith('.parquet')));

  assert.deepEqual(await sql(server, `SELECT epoch_ms(time) AS t, host, value FROM ${DB}.cpu ORDER BY t, value`), expected, 'queries: every other row identical');
  const rows = await fileRows(server);
  assert.equal(rows.filter((r) => r.host === 'a' && Number(r.time) < CUTOFF).length, 0, 'no matching row in any file');
  assert.equal(rows.filter((r) => r.host === null).length, nullHosts, 'rows whose host is NULL are kept');
  assert.deepEqual(
    rows.map((r) => [Number(r.time), r.host, r.value]),
    (expected as Array<[number, string | null, number]>).map(([t, h, v]) => [Number(t), h, v]),
    'files: exactly the expected rows',
  );
  for (const file of laterFiles) assert.ok(fs.existsSync(path.join(server.root, DB, 'cpu', file)), `outside the time range, untouched: ${file}`);

  const again = await del(server, { database: DB, measurement: 'cpu', where: WHERE, confirm: true });
  assert.equal(again.status, 200, again.text);
  assert.deepEqual([again.json.deleted_count, again.json.affected_files, again.json.files_processed], [0, 0, []], 'rerun: nothing left to delete');
});

test('a file whose every row matches is deleted, not rewritten empty; the rewrite keeps arc:tags', async () => {
  const hour5 = BASE + 5 * HOUR;
  const before = dataFiles(server).filter((f) => f.startsWith(`${new Date(hour5).toISOString().slice(0, 10).replace(/-/g, '/')}/05/`));
  assert.ok(before.length > 0);
  const where = `time >= '${iso(hour5)}' AND time < '${iso(hour5 + HOUR)}'`;
  const response = await del(server, { database: DB, measurement: 'cpu', where, confirm: true });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json.deleted_count, 60);
  // The old file leaves the catalog at once; it is unlinked once no query still reads it.
  await until(() => !fs.existsSync(path.join(server.root, DB, 'cpu', before[0]!)), 'the emptied file to be unlinked');
  assert.deepEqual(dataFiles(server).filter((f) => f.includes('/05/')), [], 'no empty file left behind');
  assert.deepEqual(await sql(server, `SELECT count(*) FROM ${DB}.cpu WHERE ${where}`), [[0]]);
  // A rewritten file (hour 0) still declares its tags, so compaction keeps deduplicating it.
  const rewritten = dataFiles(server).find((f) => f.includes('/00/'))!;
  const kv = await reader.query(`SELECT decode(value) AS v FROM parquet_kv_metadata(${quote(path.join(server.root, DB, 'cpu', rewritten))}) WHERE decode(key) = 'arc:tags'`);
  assert.deepEqual(kv, [{ v: 'host' }]);
});

test('every refused delete answers Arc\'s DeleteResponse with the reason, and changes nothing', async () => {
  const [[total]] = (await sql(server, `SELECT count(*) FROM ${DB}.cpu`)) as [[number]];
  const empty = { success: false, deleted_count: 0, affected_files: 0, rewritten_files: 0, dry_run: false, files_processed: null };
  const cases: Array<[string, unknown, number, string, string, Record<string, string>?]> = [
    ['not JSON content type', { database: DB }, 400, 'ARC_ERR_BAD_REQUEST', 'Invalid request body: Unprocessable Entity', { 'content-type': 'text/plain' }],
    ['empty body', '', 400, 'ARC_ERR_BAD_REQUEST', 'Invalid request body: unexpected end of JSON input'],
    ['broken JSON', '{"database":', 400, 'ARC_ERR_BAD_REQUEST', ''],
    ['wrong type', { database: 5, measurement: 'cpu', where: 'true' }, 400, 'ARC_ERR_BAD_REQUEST', 'Invalid request body: database must be a string'],
    ['no database', { measurement: 'cpu', where: "host = 'a'", confirm: true }, 400, 'ARC_ERR_BAD_REQUEST', 'database is required'],
    ['no measurement', { database: DB, where: "host = 'a'", confirm: true }, 400, 'ARC_ERR_BAD_REQUEST', 'measurement is required'],
    ['path in database', { database: '../x', measurement: 'cpu', where: "host = 'a'", confirm: true }, 400, 'ARC_ERR_BAD_REQUEST', 'database name contains invalid characters'],
    ['path in measurement', { database: DB, measurement: 'a/b', where: "host = 'a'", confirm: true }, 400, 'ARC_ERR_BAD_REQUEST', 'measurement name contains invalid characters'],
    ['no where', { database: DB, measurement: 'cpu', confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', "WHERE clause is required. To delete all data, use WHERE clause '1=1' with confirm=true"],
    ['second statement', { database: DB, measurement: 'cpu', where: '1=1; DROP TABLE x', confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', 'Invalid WHERE clause: it must be one expression; several statements are not allowed'],
    ['subquery', { database: DB, measurement: 'cpu', where: "host IN (SELECT * FROM read_csv('/etc/passwd'))", confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', 'Invalid WHERE clause: subqueries are not allowed; the expression may only read the rows being deleted'],
    ['settings function', { database: DB, measurement: 'cpu', where: "host = getenv('HOME')", confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', ''],
    ['other clauses', { database: DB, measurement: 'cpu', where: "host = 'a' ORDER BY 1", confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', 'Invalid WHERE clause: it must be one boolean expression (no ORDER BY, LIMIT, GROUP BY or other clauses)'],
    ['syntax error', { database: DB, measurement: 'cpu', where: "host = = 'a'", confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', ''],
    ['unknown column', { database: DB, measurement: 'cpu', where: "nope = 'a'", confirm: true }, 400, 'ARC_ERR_BAD_PREDICATE', ''],
    ['full table without confirm', { database: DB, measurement: 'cpu', where: '1=1', dry_run: true }, 400, 'ARC_ERR_CONFIRM_REQUIRED', 'Full table delete detected (WHERE 1=1). Set confirm=true to proceed.'],
    ['no confirm', { database: DB, measurement: 'cpu', where: "host = 'b'" }, 400, 'ARC_ERR_CONFIRM_REQUIRED', 'Confirmation required for delete operation. Set confirm=true or use dry_run=true to preview.'],
    ['over the threshold, dry run without confirm', { database: DB, measurement: 'cpu', where: "host = 'b'", dry_run: true }, 400, 'ARC_ERR_DELETE_LIMIT', 'Delete would affect 101 rows (threshold: 100). Set confirm=true to proceed.'],
    ['over the maximum', { database: DB, measurement: 'cpu', where: 'value >= -100', confirm: true }, 400, 'ARC_ERR_DELETE_LIMIT', `Delete would affect ${total} rows, exceeding maximum of 200. Adjust delete.max_rows_per_delete in arc.toml or refine WHERE clause.`],
  ];
  for (const [name, body, status, code, message, headers] of cases) {
    const response = await del(server, body, headers ?? JSON_HEADERS);
    assert.equal(response.status, status, `${name}: ${response.text}`);
    assert.equal(response.json.code, code, name);
    if (message) assert.equal(response.json.error, message, name);
    else assert.ok(String(response.json.error).length > 20, `${name}: ${response.text}`);
    const { error: _error, code: _code, execution_time_ms: ms, ...rest } = response.json;
    assert.equal(typeof ms, 'number', name);
    assert.deepEqual(rest, { ...empty, dry_run: (body as { dry_run?: boolean }).dry_run === true }, name);
  }
  const unknown = await del(server, { database: DB, measurement: 'cpu', where: "nope = 'a'", confirm: true });
  assert.match(String(unknown.json.error), /nope/, 'DuckDB names the unknown column');
  const overConfirmed = await del(server, { database: DB, measurement: 'cpu', where: "host = 'b'", dry_run: true, confirm: true });
  assert.deepEqual([overConfirmed.status, overConfirmed.json.deleted_count], [200, 101], 'a large preview passes with confirm');
  assert.deepEqual(await sql(server, `SELECT count(*) FROM ${DB}.cpu`), [[total]]);
});

test('GET /api/v1/delete/config; delete.enabled = false refuses with 403 (it is the default)', async () => {
  const config = await get(server, '/api/v1/delete/config');
  assert.deepEqual(config.json, {
    enabled: true,
    confirmation_threshold: 100,
    max_rows_per_delete: 200,
    implementation: 'rewrite-based',
    performance_impact: { writes: 'zero overhead', queries: 'zero overhead', deletes: 'expensive (file rewrites)' },
  });
  const off = await startServer();
  try {
    const response = await del(off, { database: DB, measurement: 'cpu', where: "host = 'a'", confirm: true });
    assert.equal(response.status, 403);
    assert.equal(response.json.error, 'Delete operations are disabled. Set delete.enabled=true in arc.toml to enable.');
    assert.equal(response.json.code, 'ARC_ERR_DELETE_DISABLED');
    assert.equal((await get(off, '/api/v1/delete/config')).json.enabled, false);
  } finally {
    await off.stop();
  }
});

test('a delete in a measurement with nothing in its time range answers 200 with zeros', async () => {
  const response = await del(server, { database: DB, measurement: 'cpu', where: `time < '2000-01-01'`, confirm: true });
  assert.equal(response.status, 200, response.text);
  assert.deepEqual([response.json.success, response.json.deleted_count, response.json.files_processed], [true, 0, []]);
  const missing = await del(server, { database: DB, measurement: 'nothing_here', where: `time < '2000-01-01'`, confirm: true });
  assert.deepEqual([missing.status, missing.json.deleted_count], [200, 0]);
});

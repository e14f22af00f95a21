import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { flush, get, post, startServer, tempDir, type HttpResult, type TestServer } from './helpers/server.js';

/**
 * DELETE /api/v1/databases/:name (issue #14): files, buffered rows, logged rows, retention
 * policies and continuous queries go; the name leaves SHOW DATABASES; a kill -9 afterwards brings
 * nothing back, and a kill -9 during it leaves the database whole or gone, never half.
 */
const JSON_HEADERS = { 'content-type': 'application/json' };
const T0 = Date.UTC(2026, 2, 1);

function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ARC_DELETE_ENABLED: 'true', ARC_WAL_ENABLED: 'true', ARC_WAL_DIRECTORY: path.join(dir, 'wal'), ARC_WAL_MAX_AGE_SECONDS: '86400', ARC_INGEST_MAX_BUFFER_AGE_MS: '600000', ARC_COMPACTION_ENABLED: 'false', ...extra };
}

async function call(target: TestServer, method: string, urlPath: string, body?: unknown): Promise<HttpResult> {
  const response = await fetch(target.url + urlPath, { method, headers: JSON_HEADERS, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Flushed rows in two measurements, then rows only buffered (and in the log), plus a policy and a CQ. */
async function populate(target: TestServer, database: string): Promise<void> {
  const lines = [];
  for (let i = 0; i < 50; i++) lines.push(`cpu,host=h${i % 3} value=${i} ${(T0 + i * 60_000) * 1e6}`, `mem used=${i} ${(T0 + i * 60_000) * 1e6}`);
  assert.equal((await post(target, `/write?db=${database}`, lines.join('\n'))).status, 204);
  await flush(target);
  assert.equal((await post(target, `/write?db=${database}`, `cpu,host=late value=-1 ${(T0 + 3 * 3_600_000) * 1e6}`)).status, 204);
  assert.equal((await call(target, 'POST', '/api/v1/retention', { name: `${database}-30d`, database, retention_days: 30 })).status, 201);
  const cq = { name: `${database}-1h`, database, source_measurement: 'cpu', destination_measurement: 'cpu_1h', interval: '1h', is_active: true, query: `SELECT time_bucket(INTERVAL '1 hour', time) AS time, avg(value) AS value FROM ${database}.cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY 1` };
  const created = await call(target, 'POST', '/api/v1/continuous_queries', cq);
  assert.equal(created.status, 201, created.text);
}

async function count(target: TestServer, database: string): Promise<number | string> {
  const response = await post(target, '/api/v1/query', JSON.stringify({ sql: `SELECT count(*) FROM ${database}.cpu` }), JSON_HEADERS);
  if (response.status !== 200) return String(response.json.error);
  const row = (response.json.data as number[][])[0];
  return row === undefined ? 'no rows' : Number(row[0]);
}

async function databases(target: TestServer): Promise<string[]> {
  const response = await post(target, '/api/v1/query', JSON.stringify({ sql: 'SHOW DATABASES' }), JSON_HEADERS);
  assert.equal(response.status, 200, response.text);
  return (response.json.data as string[][]).map((row) => row[0]!);
}

function definitions(target: TestServer): Promise<[string[], string[]]> {
  return Promise.all([
    get(target, '/api/v1/retention').then((r) => ((r.json as unknown as Array<{ name: string }> | null) ?? []).map((p) => p.name)),
    get(target, '/api/v1/continuous_queries').then((r) => ((r.json as unknown as Array<{ name: string }> | null) ?? []).map((p) => p.name)),
  ]);
}

test('a database delete removes files, buffered and logged rows, policies and CQs; kill -9 afterwards brings nothing back', async () => {
  const dir = tempDir('arc-dbdelete-');
  const root = path.join(dir, 'data');
  let server = await startServer({ root, env: env(dir) });
  try {
    await populate(server, 'gone');
    await populate(server, 'stay');
    assert.equal(await count(server, 'gone'), 51);
    assert.deepEqual(await databases(server), ['gone', 'stay']);

    const refusals: Array<[string, number, string, string]> = [
      ['/api/v1/databases/gone', 400, 'ARC_ERR_CONFIRM_REQUIRED', 'Confirmation required. Add ?confirm=true to delete the database.'],
      ['/api/v1/databases/gone?confirm=yes', 400, 'ARC_ERR_CONFIRM_REQUIRED', 'Confirmation required. Add ?confirm=true to delete the database.'],
      ['/api/v1/databases/System?confirm=true', 403, 'ARC_ERR_FORBIDDEN', "Cannot delete reserved database 'System'"],
      ['/api/v1/databases/nowhere?confirm=true', 404, 'ARC_ERR_DATABASE_NOT_FOUND', "Database 'nowhere' not found"],
      ['/api/v1/databases/9bad?confirm=true', 400, 'ARC_ERR_INVALID_DATABASE', ''],
    ];
    for (const [url, status, code, error] of refusals) {
      const response = await call(server, 'DELETE', url);
      assert.deepEqual([response.status, response.json.code], [status, code], `${url}: ${response.text}`);
      if (error) assert.equal(response.json.error, error, url);
    }

    const done = await call(server, 'DELETE', '/api/v1/databases/gone?confirm=true');
    assert.equal(done.status, 200, done.text);
    assert.equal(done.json.message, "Database 'gone' deleted successfully");
    assert.ok((done.json.files_deleted as number) >= 2);
    assert.deepEqual(await databases(server), ['stay']);
    assert.deepEqual(((await get(server, '/api/v1/databases')).json.databases as Array<{ name: string }>).map((d) => d.name), ['stay']);
    const after = await count(server, 'gone');
    assert.ok(typeof after === 'string' || after === 0, `no row of the deleted database is read: ${after}`);
    assert.deepEqual(await definitions(server), [['stay-30d'], ['stay-1h']]);
    assert.equal(fs.existsSync(path.join(root, 'gone')), false);
    assert.deepEqual(fs.existsSync(path.join(root, '_trash')) ? fs.readdirSync(path.join(root, '_trash')) : [], []);
    assert.equal(await count(server, 'stay'), 51);

    await server.stop('SIGKILL');
    server = await startServer({ root, env: env(dir) });
    assert.deepEqual(await databases(server), ['stay'], 'no replayed row recreates the database');
    assert.equal(await count(server, 'stay'), 51, 'the other database is whole (its buffered row replayed)');
    assert.deepEqual(await definitions(server), [['stay-30d'], ['stay-1h']]);

    // The name is free again: a new write makes a new, empty-before database.
    assert.equal((await post(server, '/write?db=gone', `cpu value=1 ${T0 * 1e6}`)).status, 204);
    assert.equal(await count(server, 'gone'), 1);
    await server.stop('SIGKILL');
    server = await startServer({ root, env: env(dir) });
    assert.equal(await count(server, 'gone'), 1, 'a write after the delete is replayed as usual');
  } finally {
    await server.stop();
  }
});

test('delete.enabled = false: a database delete is refused with 403', async () => {
  const server = await startServer();
  try {
    const response = await call(server, 'DELETE', '/api/v1/databases/x?confirm=true');
    assert.deepEqual([response.status, response.json.code, response.json.error], [403, 'ARC_ERR_DELETE_DISABLED', 'Delete operations are disabled. Set delete.enabled=true in arc.toml to enable.']);
  } finally {
    await server.stop();
  }
});

test('kill -9 during a database delete: before its commit point the database is whole, after it gone with its definitions', async () => {
  for (const [point, outcome] of [['after-wal', 'whole'], ['after-rename', 'gone']] as const) {
    const dir = tempDir('arc-dbdelete-crash-');
    const root = path.join(dir, 'data');
    let server = await startServer({ root, env: env(dir, { ARC_TEST_DROP_CRASH_POINT: point }) });
    await populate(server, 'victim');
    await call(server, 'DELETE', '/api/v1/databases/victim?confirm=true').catch(() => null);
    assert.equal(await server.stop(), null, `${point}: killed`);
    server = await startServer({ root, env: env(dir) });
    try {
      if (outcome === 'whole') {
        assert.equal(await count(server, 'victim'), 51, `${point}: every row, the flushed buffer included`);
        assert.deepEqual(await definitions(server), [['victim-30d'], ['victim-1h']]);
        assert.equal((await call(server, 'DELETE', '/api/v1/databases/victim?confirm=true')).status, 200, 'a second delete completes it');
      } else {
        assert.deepEqual(await definitions(server), [[], []], `${point}: the start-up sweep removed the definitions`);
        assert.deepEqual(fs.existsSync(path.join(root, '_trash')) ? fs.readdirSync(path.join(root, '_trash')) : [], []);
      }
      assert.deepEqual(await databases(server), []);
      await server.stop('SIGKILL');
      server = await startServer({ root, env: env(dir) });
      assert.deepEqual(await databases(server), [], `${point}: still gone after another kill -9`);
    } finally {
      await server.stop();
    }
  }
});

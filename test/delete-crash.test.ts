import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Reader, quote } from './helpers/duckdb.js';
import { flush, post, startServer, tempDir, type TestServer } from './helpers/server.js';

/**
 * kill -9 during a row delete (issue #14), with the write-ahead log on and its segments kept (so
 * every file the delete touches is still named by a live segment — the case where a replay would
 * bring deleted rows back). After a restart the delete is complete or not applied, never half;
 * rerunning it is idempotent; and once complete, no crash brings a deleted row back.
 */
const DB = 'crash';
const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 1, 1, 0);
const HOURS = 12;
const HOSTS = ['h0', 'h1', 'h2', 'keep'];
const JSON_HEADERS = { 'content-type': 'application/json' };
function env(): Record<string, string> {
  return { ARC_DELETE_ENABLED: 'true', ARC_WAL_ENABLED: 'true', ARC_WAL_MAX_AGE_SECONDS: '86400', ARC_COMPACTION_ENABLED: 'false', ARC_DELETE_MAX_ROWS_PER_DELETE: '100000000', ARC_WAL_DIRECTORY: path.join(path.dirname(root), 'wal'), ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' };
}

let root: string;
let reader: Reader;

before(async () => {
  reader = await Reader.open();
  root = path.join(tempDir('arc-delete-crash-'), 'data');
});

after(() => reader.close());

/** Four writes of every hour and host, each flushed: 4 files per hour, 48 files in all. */
async function load(target: TestServer): Promise<void> {
  for (let round = 0; round < 4; round++) {
    const lines: string[] = [];
    for (let h = 0; h < HOURS; h++) {
      for (const host of HOSTS) {
        for (let i = 0; i < 5; i++) lines.push(`cpu,host=${host} value=${round * 100 + i} ${(BASE + h * HOUR + round * 600_000 + i * 1000) * 1e6}`);
      }
    }
    assert.equal((await post(target, `/write?db=${DB}`, lines.join('\n'))).status, 204);
    await flush(target);
  }
}

async function count(target: TestServer, where = 'true'): Promise<number> {
  const response = await post(target, '/api/v1/query', JSON.stringify({ sql: `SELECT count(*) FROM ${DB}.cpu WHERE ${where}` }), JSON_HEADERS);
  assert.equal(response.status, 200, response.text);
  return Number((response.json.data as number[][])[0]![0]);
}

/** Rows in the Parquet files themselves, and (time, host) pairs stored more than once. */
async function onDisk(where: string): Promise<{ matching: number; total: number; duplicates: number }> {
  const glob = quote(path.join(root, DB, 'cpu', '**', '*.parquet'));
  const [row] = await reader.query(
    `SELECT count(*) FILTER (WHERE ${where}) AS matching, count(*) AS total, count(*) - count(DISTINCT (time, host, value)) AS duplicates FROM read_parquet(${glob}, union_by_name = true)`,
  );
  return { matching: Number(row!.matching), total: Number(row!.total), duplicates: Number(row!.duplicates) };
}

function deleteHost(target: TestServer, host: string) {
  return post(target, '/api/v1/delete', JSON.stringify({ database: DB, measurement: 'cpu', where: `host = '${host}' AND time < '${new Date(BASE + 9 * HOUR).toISOString()}'`, confirm: true }), JSON_HEADERS);
}

test('kill -9 at each step of a delete over 48 files: complete or not applied after restart, rerun idempotent, deleted rows never come back', { timeout: 120_000 }, async () => {
  let target = await startServer({ root, env: env() });
  await load(target);
  await target.stop();

  const points = [
    ['after-retire', 'not applied'],
    ['before-commit', 'not applied'],
    ['after-commit', 'complete'],
  ] as const;
  for (const [k, [point, outcome]] of points.entries()) {
    const host = HOSTS[k]!;
    const where = `host = '${host}' AND time < '${new Date(BASE + 9 * HOUR).toISOString()}'`;
    target = await startServer({ root, env: { ...env(), ARC_TEST_DELETE_CRASH_POINT: point } });
    // Acknowledged, still buffered (and only in the log) when the delete starts: deleted with the rest.
    assert.equal((await post(target, `/write?db=${DB}`, `cpu,host=${host} value=-1 ${(BASE + HOUR + 1) * 1e6}\ncpu,host=keep value=${-1 - k} ${(BASE + HOUR + 1) * 1e6}`)).status, 204);
    const total = await count(target);
    const matching = await count(target, where);
    assert.equal(matching, 9 * 4 * 5 + 1);
    await deleteHost(target, host).catch(() => null);
    assert.equal(await target.stop(), null, `${point}: the crash point killed the server`);
    assert.equal(target.child.signalCode, 'SIGKILL');

    target = await startServer({ root, env: env() });
    const afterCrash = { total: await count(target), matching: await count(target, where) };
    if (outcome === 'complete') assert.deepEqual(afterCrash, { total: total - matching, matching: 0 }, `${point}: complete`);
    else assert.deepEqual(afterCrash, { total, matching }, `${point}: not applied`);
    const records = path.join(root, '_rewrite_state');
    assert.deepEqual(fs.existsSync(records) ? fs.readdirSync(records) : [], [], 'recovery left no record');

    const rerun = await deleteHost(target, host);
    assert.equal(rerun.status, 200, rerun.text);
    assert.equal(rerun.json.deleted_count, outcome === 'complete' ? 0 : matching);
    const twice = await deleteHost(target, host);
    assert.deepEqual([twice.status, twice.json.deleted_count], [200, 0], 'rerunning is idempotent');
    assert.deepEqual({ total: await count(target), matching: await count(target, where) }, { total: total - matching, matching: 0 });

    // The trap: rows written and flushed by this server are in files a live log segment names; a
    // delete replaces those files, and a replay that took a missing recorded file as lost would
    // bring the rows back. Write, delete, kill -9 (the old files are gone by then), restart, count.
    const late = `cpu,host=${host} value=-5 ${(BASE + 2 * HOUR) * 1e6}\ncpu,host=keep value=${-5 - k} ${(BASE + 2 * HOUR) * 1e6}`;
    assert.equal((await post(target, `/write?db=${DB}`, late)).status, 204);
    await flush(target);
    const third = await deleteHost(target, host);
    assert.deepEqual([third.status, third.json.deleted_count], [200, 1], third.text);
    const expected = { total: total - matching + 1, matching: 0 };
    assert.deepEqual({ total: await count(target), matching: await count(target, where) }, expected);
    await target.stop('SIGKILL');
    target = await startServer({ root, env: env() });
    assert.deepEqual({ total: await count(target), matching: await count(target, where) }, expected, `${point}: deleted rows stay deleted after kill -9`);
    await target.stop();
    assert.deepEqual(await onDisk(where), { ...expected, duplicates: 0 }, `${point}: files hold exactly the rest`);
  }
});

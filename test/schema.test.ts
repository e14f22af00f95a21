import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encode, f64, type Value } from './helpers/msgpack.js';
import { flush, listFiles, post, startServer, tempDir, writeMsgpack, type TestServer } from './helpers/server.js';

/**
 * Issue #13, case 4: one type per column per measurement. The first write fixes a column's type,
 * kept across restarts; a conflicting write is a 400 naming the column and both types, and leaves
 * the stored data readable; changing field sets share one buffer instead of a file per request.
 */
const BASE = 1_732_420_800_000_000; // 2024-11-24T04:00:00Z, one hour partition for everything below
let root: string;
let server: TestServer;

before(async () => {
  root = path.join(tempDir(), 'data');
  server = await start();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

function start(): Promise<TestServer> {
  // No age flush: the only flushes are the explicit ones, so file counts are exact.
  return startServer({ root, env: { ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
}

async function sql(text: string) {
  return post(server, '/api/v1/query', JSON.stringify({ sql: text }), { 'content-type': 'application/json' });
}

function parquetFiles(measurement: string): string[] {
  return listFiles(path.join(root, 'default', measurement)).filter((file) => file.endsWith('.parquet'));
}

test('DOUBLE then "oops": 400 naming column and types; the column stays DOUBLE and avg(v) works', async () => {
  const time = Array.from({ length: 1000 }, (_, i) => BASE + i);
  const v = time.map((_, i) => f64(i + 0.5));
  assert.equal((await writeMsgpack(server, encode({ m: 'retype', columns: { time, v } }))).status, 204);
  const bad = await writeMsgpack(server, encode({ m: 'retype', columns: { time: [BASE + 5000], v: ['oops'] } }));
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.code, 'ARC_ERR_SCHEMA_CONFLICT');
  assert.equal(bad.json.column, 'v');
  assert.equal(bad.json.existing_type, 'DOUBLE');
  assert.equal(bad.json.sent_type, 'VARCHAR');
  assert.match(String(bad.json.error), /column 'v' of measurement 'retype' is DOUBLE; this write sends VARCHAR/);
  // Line protocol is held to the same schema (a string field into the DOUBLE column).
  const lp = await post(server, '/write?db=default', `retype v="oops" ${(BASE + 6000) * 1000}`);
  assert.equal(lp.status, 400, lp.text);
  assert.equal(lp.json.code, 'ARC_ERR_SCHEMA_CONFLICT');
  // Integers into the DOUBLE column still widen.
  assert.equal((await writeMsgpack(server, encode({ m: 'retype', columns: { time: [BASE + 7000], v: [2] } }))).status, 204);
  await flush(server);
  const result = await sql("SELECT count(*) AS n, avg(v) AS a, any_value(typeof(v)) AS t FROM retype");
  assert.equal(result.status, 200, result.text);
  const [n, avg, type] = (result.json.data as unknown[][])[0]!;
  assert.equal(n, 1001);
  assert.equal(type, 'DOUBLE');
  assert.equal(avg, (1000 * 500 + 2) / 1001);
  const schema = JSON.parse(fs.readFileSync(path.join(root, '_schemas', 'default', 'retype.json'), 'utf8')) as { columns: Record<string, string> };
  assert.deepEqual(schema.columns, { v: 'DOUBLE' });
});

test('alternating field sets {a,b} / {a,c}: 1,000 requests share one buffer, one file, NULLs where a field was absent', async () => {
  for (let i = 0; i < 1000; i++) {
    const columns: Record<string, Value> = { time: [BASE + i], a: [f64(i)] };
    if (i % 2 === 0) columns.b = [f64(i)];
    else columns.c = [`s${i}`];
    const response = await writeMsgpack(server, encode({ m: 'drift', columns }));
    assert.equal(response.status, 204, response.text);
  }
  await flush(server);
  assert.equal(parquetFiles('drift').length, 1);
  const result = await sql('SELECT count(*), count(a), count(b), count(c), sum(b), min(c) FROM drift');
  assert.deepEqual((result.json.data as unknown[][])[0], [1000, 1000, 500, 500, 249500, 's1']);
  const rows = await sql('SELECT a, b, c FROM drift ORDER BY time LIMIT 2');
  assert.deepEqual(rows.json.data, [[0, 0, null], [1, null, 's1']]);
});

test('a column with only NULLs fixes no type; row items adding tags mid-buffer keep one file', async () => {
  assert.equal((await writeMsgpack(server, encode({ m: 'sparse', columns: { time: [BASE, BASE + 1], v: [null, null] } }))).status, 204);
  assert.equal((await writeMsgpack(server, encode({ m: 'sparse', columns: { time: [BASE + 2], v: [f64(1.5)] } }))).status, 204);
  assert.equal((await writeMsgpack(server, encode([{ m: 'sparse', t: BASE + 3, fields: { v: f64(2.5) }, tags: { region: 'eu' } }]))).status, 204);
  await flush(server);
  assert.equal(parquetFiles('sparse').length, 1);
  const result = await sql('SELECT count(*), count(v), sum(v), any_value(typeof(v)), count(region), count(host) FROM sparse');
  assert.deepEqual((result.json.data as unknown[][])[0], [4, 2, 4, 'DOUBLE', 1, 1]);
});

test('types are kept across a restart, and taken from existing files when a measurement has no schema file yet', async () => {
  assert.equal((await writeMsgpack(server, encode({ m: 'legacy', columns: { time: [BASE], n: [5], s: ['x'] } }))).status, 204);
  await flush(server);
  assert.equal(await server.stop(), 0);
  // Data written before schemas were kept has Parquet files and no schema file.
  fs.rmSync(path.join(root, '_schemas', 'default', 'legacy.json'));
  server = await start();
  const kept = await writeMsgpack(server, encode({ m: 'retype', columns: { time: [BASE + 9000], v: [true] } }));
  assert.equal(kept.status, 400, kept.text);
  assert.equal(kept.json.existing_type, 'DOUBLE');
  assert.equal(kept.json.sent_type, 'BOOLEAN');
  const derived = await writeMsgpack(server, encode({ m: 'legacy', columns: { time: [BASE + 1], n: [f64(1.5)] } }));
  assert.equal(derived.status, 400, derived.text);
  assert.equal(derived.json.existing_type, 'BIGINT');
  assert.equal(derived.json.sent_type, 'DOUBLE');
  const schema = JSON.parse(fs.readFileSync(path.join(root, '_schemas', 'default', 'legacy.json'), 'utf8')) as { columns: Record<string, string> };
  assert.deepEqual(schema.columns, { n: 'BIGINT', s: 'VARCHAR' });
  // Nothing of the refused writes was stored.
  await flush(server);
  const counts = await sql('SELECT (SELECT count(*) FROM legacy), (SELECT count(*) FROM retype)');
  assert.deepEqual((counts.json.data as unknown[][])[0], [1, 1001]);
});

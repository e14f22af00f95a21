import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { Unpackr } from 'msgpackr';
import { encode, u64 } from './helpers/msgpack.js';
import { flush, get, post, startServer, writeMsgpack, type TestServer } from './helpers/server.js';

// Hostile queries on the result side (#13 item 1): huge nested values, huge results.

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });
const LIMIT = 3 << 20; // query.max_result_bytes for this file: 3 MiB

let server: TestServer;
before(async () => {
  server = await startServer({ env: { ARC_QUERY_MAX_RESULT_BYTES: String(LIMIT), ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

interface Answer {
  status: number;
  body: Buffer;
  text: string;
  json: Record<string, unknown>;
}

async function query(route: string, sql: string): Promise<Answer> {
  const response = await fetch(`${server.url}/api/v1/${route}`, { method: 'POST', body: JSON.stringify({ sql }), headers: { 'content-type': 'application/json' } });
  const body = Buffer.from(await response.arrayBuffer());
  const text = body.toString('utf8');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // msgpack or Arrow
  }
  return { status: response.status, body, text, json };
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

test('nested cells are rendered by DuckDB: JSON values (non-finite doubles as null), Arc text in MessagePack, JSON text in Arrow', async () => {
  const sql = `SELECT [1, 2] AS l, {'a': [1.5, 'NaN'::DOUBLE, 'inf'::DOUBLE, '-inf'::DOUBLE], 'b': ['NaN', 'Infinity', 'say "NaN"']} AS s, MAP {'k': 'v'} AS m, NULL::INT[] AS none, 7 AS "l"`;
  const json = await query('query', sql);
  assert.equal(json.status, 200, json.text);
  assert.deepEqual(json.json.columns, ['l', 's', 'm', 'none', 'l']);
  assert.deepEqual(json.json.data, [[[1, 2], { a: [1.5, null, null, null], b: ['NaN', 'Infinity', 'say "NaN"'] }, { k: 'v' }, null, 7]]);

  const packed = await query('query/msgpack', sql);
  assert.equal(packed.status, 200, packed.text);
  const body = unpackr.unpack(packed.body) as { types: string[]; data: unknown[][] };
  assert.deepEqual(body.types, ['list', 'struct', 'map', 'list', 'int32']);
  assert.deepEqual(body.data.map((column) => column[0]), ['[1, 2]', `{'a': [1.5, nan, inf, -inf], 'b': [NaN, Infinity, 'say "NaN"']}`, '{k=v}', null, 7]);

  // (apache-arrow's Table merges fields of the same name: no duplicate here)
  const arrow = await query('query/arrow', "SELECT [1, 2] AS l, {'a': 1} AS s, MAP {'k': 'v'} AS m");
  assert.equal(arrow.status, 200, arrow.text);
  const table = tableFromIPC(arrow.body);
  assert.equal(table.getChildAt(0)!.get(0), '[1,2]');
  assert.equal(table.getChildAt(1)!.get(0), '{"a":1}');
  assert.equal(table.getChildAt(2)!.get(0), '{"k":"v"}');
});

test('query.max_result_bytes: over the cap before the first row is a 400 ARC_ERR_RESULT_TOO_LARGE on every route; after rows were sent, the JSON envelope ends with the error', async () => {
  // 4 MB of cells in the first chunk (2048 rows of 2000 bytes).
  for (const route of ['query', 'query/msgpack', 'query/arrow']) {
    const response = await query(route, "SELECT repeat('x', 2000) AS s FROM range(5000)");
    assert.equal(response.status, 400, `${route}: ${response.text.slice(0, 200)}`);
    const body = (route === 'query/msgpack' ? unpackr.unpack(response.body) : response.json) as { code: string; error: string };
    assert.equal(body.code, 'ARC_ERR_RESULT_TOO_LARGE', route);
    assert.match(body.error, /Result too large: more than 3145728 bytes \(query\.max_result_bytes\)/);
  }
  // 1 MB chunks: the first two go out, the fourth passes the cap.
  const streamed = await query('query', "SELECT repeat('y', 500) AS s FROM range(20000)");
  assert.equal(streamed.status, 200);
  assert.equal(streamed.json.success, false);
  assert.match(String(streamed.json.error), /Result too large/);
  assert.ok((streamed.json.data as unknown[]).length >= 2048, 'rows before the cap were sent');
  // Under the cap, nothing changes.
  const fine = await query('query', "SELECT count(*) AS n, max(length(s)) AS w FROM (SELECT repeat('z', 2000) AS s FROM range(5000))");
  assert.deepEqual(fine.json.data, [[5000, 2000]]);
});

test('the memory bomb SELECT range(1000000) AS r FROM range(300): a clear error, the server stays up, writes meanwhile are acknowledged, fast, and stored', { timeout: 240_000 }, async (t) => {
  let attacking = true;
  // The hostile input itself (2.4 GB of list values), on the JSON route as reported; the other
  // routes with a smaller one (same path: DuckDB renders the lists, the cap stops the result).
  const attack = Promise.all([
    query('query', 'SELECT range(1000000) AS r FROM range(300)'),
    query('query/msgpack', 'SELECT range(100000) AS r FROM range(300)'),
    query('query/arrow', 'SELECT range(100000) AS r FROM range(300)'),
  ]).finally(() => (attacking = false));
  const writeMs: number[] = [];
  let seq = 0;
  const base = 1_732_420_800_000_000;
  while (attacking || writeMs.length < 50) {
    const started = performance.now();
    const answer = await writeMsgpack(server, encode({ m: 'probe', columns: { time: [u64(base + seq)], seq: [seq] } }), 'bomb');
    assert.equal(answer.status, 204, answer.text);
    seq++;
    writeMs.push(performance.now() - started);
  }
  const [json, packed, arrow] = await attack;
  assert.equal(json!.status, 400, json!.text.slice(0, 300));
  assert.equal(json!.json.code, 'ARC_ERR_RESULT_TOO_LARGE');
  assert.equal((unpackr.unpack(packed!.body) as { code: string }).code, 'ARC_ERR_RESULT_TOO_LARGE');
  assert.equal(arrow!.json.code, 'ARC_ERR_RESULT_TOO_LARGE');
  t.diagnostic(`small writes p99 ${p99(writeMs).toFixed(1)} ms over ${writeMs.length}`);
  assert.ok(p99(writeMs) < 250, `small writes p99 ${p99(writeMs).toFixed(1)} ms over ${writeMs.length}`); // generous: a loaded 2-core box
  assert.equal((await get(server, '/health')).status, 200);
  await flush(server);
  const stored = await post(server, '/api/v1/query', JSON.stringify({ sql: 'SELECT count(*), count(DISTINCT seq) FROM probe' }), { 'x-arc-database': 'bomb' });
  assert.deepEqual(stored.json.data, [[seq, seq]], 'every acknowledged write stored once');
});

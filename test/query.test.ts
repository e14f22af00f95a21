import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { encode, f64, i64, u64 } from './helpers/msgpack.js';
import type { QueryBenchReport } from '../src/cli/bench/query-bench.js';
import { flush, get, metric, post, runArc, startServer, tempDir, until, writeMsgpack, type TestServer } from './helpers/server.js';

/** SQL over stored data (issue #5): Arc's query API through DuckDB, guard rails, pruning, read-your-writes. */
let server: TestServer;

before(async () => {
  server = await startServer({ env: { ARC_QUERY_TIMEOUT: '2', ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
  const base = 1_732_420_800_000_000; // 2024-11-24T04:00:00Z
  const body = encode({
    m: 'sensors',
    columns: {
      time: [u64(base), u64(base + 1), u64(base + 3_600_000_123), u64(base + 7_200_000_000)],
      name: ['\uFEFFbom', 'ünï ☃', 'plain', null],
      big: [i64(2n ** 62n + 1n), i64(-(2n ** 63n)), 0, null],
      ratio: [f64(0.1), f64(-2.5e-7), f64(1e21), null],
      ok: [true, false, null, true],
    },
  });
  assert.equal((await writeMsgpack(server, body, 'lab')).status, 204);
  assert.equal((await post(server, '/write?db=lab', 'rooms,room=a temp=20.5 1732420800000000000\nrooms,room=b temp=18 1732420800000000000')).status, 204);
  assert.equal((await post(server, '/write?db=other', 'owners,room=a owner="ada" 1732420800000000000')).status, 204);
  await flush(server);
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

async function sql(text: string, headers: Record<string, string> = {}) {
  return post(server, '/api/v1/query', JSON.stringify({ sql: text }), { 'content-type': 'application/json', ...headers });
}

test('JSON: Arc envelope, exact values and types; timestamps RFC 3339 UTC; 64-bit integers exact', async () => {
  const response = await sql('SELECT time, name, big, ratio, ok FROM sensors ORDER BY time', { 'x-arc-database': 'lab' });
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(Object.keys(response.json).sort(), ['columns', 'data', 'execution_time_ms', 'row_count', 'success', 'timestamp']);
  assert.equal(response.json.success, true);
  assert.deepEqual(response.json.columns, ['time', 'name', 'big', 'ratio', 'ok']);
  assert.equal(response.json.row_count, 4);
  assert.match(String(response.json.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // 64-bit integers must survive as exact digits: check the raw text, not the parsed doubles.
  assert.match(response.text, /,4611686018427387905,0\.1,true\]/);
  assert.match(response.text, /-9223372036854775808/);
  const data = response.json.data as unknown[][];
  assert.deepEqual(data.map((row) => row[0]), ['2024-11-24T04:00:00Z', '2024-11-24T04:00:00.000001Z', '2024-11-24T05:00:00.000123Z', '2024-11-24T06:00:00Z']);
  assert.deepEqual(data.map((row) => row[1]), ['\uFEFFbom', 'ünï ☃', 'plain', null]);
  assert.deepEqual(data.map((row) => row[3]), [0.1, -2.5e-7, 1e21, null]);
  assert.deepEqual(data.map((row) => row[4]), [true, false, null, true]);
  const special = await sql("SELECT 'NaN'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, 12.50::DECIMAL(5,2) AS dec, DATE '2024-02-29' AS d, [1, 2] AS list");
  assert.deepEqual((special.json.data as unknown[][])[0], [null, null, '12.50', '2024-02-29T00:00:00Z', [1, 2]]);
});

test('Arrow IPC: decodes with apache-arrow to the same values and types', async () => {
  const response = await fetch(`${server.url}/api/v1/query/arrow`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-arc-database': 'lab' },
    body: JSON.stringify({ sql: 'SELECT time, name, big, ratio, ok FROM sensors ORDER BY time' }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/vnd.apache.arrow.stream');
  const table = tableFromIPC(new Uint8Array(await response.arrayBuffer()));
  assert.deepEqual(table.schema.fields.map((f) => `${f.name}:${f.type}`), ['time:Timestamp<MICROSECOND, UTC>', 'name:Utf8', 'big:Int64', 'ratio:Float64', 'ok:Bool']);
  assert.equal(table.numRows, 4);
  // apache-arrow's own string getter decodes with a BOM-dropping TextDecoder, so check the stored UTF-8 bytes.
  const names = table.getChild('name')!.data[0]!;
  const bytesOf = (row: number) => Buffer.from(names.values.subarray(names.valueOffsets[row]!, names.valueOffsets[row + 1]!)).toString('hex');
  assert.deepEqual([0, 1, 2].map(bytesOf), ['\uFEFFbom', 'ünï ☃', 'plain'].map((s) => Buffer.from(s).toString('hex')));
  assert.equal(table.getChild('name')!.get(3), null);
  assert.deepEqual([...table.getChild('big')!], [2n ** 62n + 1n, -(2n ** 63n), 0n, null]);
  assert.deepEqual([...table.getChild('ratio')!], [0.1, -2.5e-7, 1e21, null]);
  assert.deepEqual([...table.getChild('ok')!], [true, false, null, true]);
  assert.deepEqual([...table.getChild('time')!].slice(0, 2), [1_732_420_800_000, 1_732_420_800_000.001]);
});

test('SHOW DATABASES, SHOW TABLES [FROM db], SHOW MEASUREMENTS', async () => {
  const databases = await sql('SHOW DATABASES');
  assert.deepEqual(databases.json.columns, ['database']);
  assert.deepEqual(databases.json.data, [['lab'], ['other']]);
  const tables = await sql('SHOW TABLES FROM lab;');
  assert.deepEqual(tables.json.columns, ['database', 'table_name', 'storage_path', 'file_count', 'total_size_mb']);
  assert.deepEqual((tables.json.data as unknown[][]).map((r) => [r[0], r[1], r[3]]), [['lab', 'rooms', 1], ['lab', 'sensors', 3]]);
  const measurements = await sql('SHOW MEASUREMENTS', { 'x-arc-database': 'other' });
  assert.deepEqual((measurements.json.data as unknown[][]).map((r) => r[1]), ['owners']);
  assert.equal((await sql('SHOW TABLES FROM "bad name"')).status, 400);
});

test('names: FROM m is the request database, FROM db.m another; joins across measurements and databases; CTE names left alone', async () => {
  const joined = await sql("SELECT r.room, r.temp, o.owner FROM lab.rooms r JOIN other.owners o ON r.room = o.room");
  assert.deepEqual(joined.json.data, [['a', 20.5, 'ada']]);
  const cte = await sql('WITH rooms AS (SELECT 1 AS x) SELECT x FROM rooms', { 'x-arc-database': 'lab' });
  assert.deepEqual(cte.json.data, [[1]], 'the CTE shadows the measurement');
  const same = await sql('SELECT count(*) AS n FROM rooms a JOIN sensors b ON true', { 'x-arc-database': 'lab' });
  assert.deepEqual(same.json.data, [[8]]);
  const refused = await sql('SELECT * FROM lab.rooms', { 'x-arc-database': 'lab' });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error, 'Cross-database queries (db.table syntax) not allowed when x-arc-database header is set');
  const empty = await sql('SELECT * FROM nowhere');
  assert.deepEqual([empty.status, empty.json.success, empty.json.columns, empty.json.data], [200, true, [], []]);
});

test('files with different schemas in one measurement are read by name', async () => {
  assert.equal((await post(server, '/write?db=evolve', 'm a=1 1732420800000000000')).status, 204);
  await flush(server);
  assert.equal((await post(server, '/write?db=evolve', 'm a=2.5,b="x" 1732420801000000000')).status, 204);
  await flush(server);
  const rows = await sql('SELECT a, b FROM evolve.m ORDER BY time');
  assert.deepEqual(rows.json.data, [[1, null], [2.5, 'x']]);
});

test('guard rails: 400 with a clear message, in the query envelope', async () => {
  const refusals: Array<[string, string | RegExp]> = [
    ['', 'SQL query is required'],
    ['   ', 'SQL query is required'],
    ['SELECT 1; SELECT 2', 'Multiple SQL statements are not allowed'],
    ['DROP TABLE rooms', 'Dangerous SQL operation not allowed'],
    ['DELETE FROM rooms', 'Dangerous SQL operation not allowed'],
    ['INSERT INTO rooms VALUES (1)', 'Dangerous SQL operation not allowed'],
    ['UPDATE rooms SET temp = 1', 'Dangerous SQL operation not allowed'],
    ['CREATE TABLE x (a INT)', 'Dangerous SQL operation not allowed'],
    ['ALTER TABLE rooms ADD COLUMN z INT', 'Dangerous SQL operation not allowed'],
    ["ATTACH 'x.db'", 'Dangerous SQL operation not allowed'],
    ["COPY rooms TO '/tmp/x.csv'", 'Dangerous SQL operation not allowed'],
    ['INSTALL httpfs', 'Dangerous SQL operation not allowed'],
    ['LOAD httpfs', 'Dangerous SQL operation not allowed'],
    ["SET memory_limit = '1GB'", 'Dangerous SQL operation not allowed'],
    ['PRAGMA version', 'Dangerous SQL operation not allowed'],
    ["SELECT * FROM read_parquet('/etc/*.parquet')", 'File I/O function not allowed in user SQL: read_parquet()'],
    ["SELECT * FROM read_csv('/etc/passwd')", 'File I/O function not allowed in user SQL: read_csv()'],
    ["SELECT * FROM glob('/*')", 'File I/O function not allowed in user SQL: glob()'],
    ["SELECT * FROM query('DROP TABLE x')", 'Table function not allowed in user SQL: query()'],
    ["SELECT current_setting('temp_directory')", 'Function not allowed in user SQL: current_setting() reads server settings or environment'],
    ["SELECT upper(CURRENT_SETTING('home_directory')) AS h", 'Function not allowed in user SQL: current_setting() reads server settings or environment'],
    ["SELECT getenv('HOME')", 'Function not allowed in user SQL: getenv() reads server settings or environment'],
    ['SELECT * FROM rooms WHERE temp > (SELECT length(getenv(\'PATH\')))', 'Function not allowed in user SQL: getenv() reads server settings or environment'],
    ['SELECT name, setting FROM pg_catalog.pg_settings', 'System view not allowed in user SQL: pg_catalog.pg_settings exposes server settings'],
    ['SELECT * FROM pg_catalog.duckdb_settings', 'System view not allowed in user SQL: pg_catalog.duckdb_settings exposes server settings'],
    ['SELECT * FROM duckdb_settings()', 'Table function not allowed in user SQL: duckdb_settings()'],
    ['SELECT * FROM duckdb_extensions()', 'Table function not allowed in user SQL: duckdb_extensions()'],
    ['SELECT * FROM "bad.name"', /invalid measurement name "bad\.name"/],
    ['SELEC 1', /syntax error at or near "SELEC"/],
    ['SELECT nope FROM rooms', /Binder Error.*nope/],
    ['x'.repeat(10_001), 'SQL query exceeds maximum length (10000 characters)'],
  ];
  for (const [text, message] of refusals) {
    const response = await sql(text, { 'x-arc-database': 'lab' });
    assert.equal(response.status, 400, `${text.slice(0, 40)}: ${response.text.slice(0, 200)}`);
    assert.equal(response.json.success, false);
    assert.equal(response.json.columns, null);
    assert.equal(response.json.data, null);
    if (typeof message === 'string') assert.equal(response.json.error, message);
    else assert.match(String(response.json.error), message);
  }
  const invalidBody = await post(server, '/api/v1/query', 'not json', { 'content-type': 'application/json' });
  assert.equal(invalidBody.status, 400);
  assert.match(String(invalidBody.json.error), /^Invalid request body/);
});

test('a query running past query.timeout is stopped: 504 Query timed out', async () => {
  const response = await sql('SELECT count(*) FROM range(100000000000) a');
  assert.equal(response.status, 504);
  assert.equal(response.json.error, 'Query timed out');
  assert.equal((await sql('SELECT 1 AS still_fine')).status, 200, 'the session is usable afterwards');
});

test('an expensive time constant runs under query.timeout on its own session: 504 at once, other queries not blocked', { timeout: 180_000 }, async () => {
  // A few seconds of levenshtein in the WHERE's time constant, evaluated for file pruning.
  const quick = await startServer({ env: { ARC_QUERY_TIMEOUT: '1' } });
  try {
    assert.equal((await post(quick, '/write?db=lab', 'rooms,room=a temp=20.5 1732420800000000000')).status, 204);
    const order: string[] = [];
    const query = (text: string) => post(quick, '/api/v1/query', JSON.stringify({ sql: text }), { 'content-type': 'application/json', 'x-arc-database': 'lab' });
    const slow = query("SELECT count(*) FROM rooms WHERE time > to_timestamp(levenshtein(repeat('a', 20000), repeat('b', 20000)))").then((response) => {
      order.push('slow');
      return response;
    });
    await until(async () => (await metric(quick, 'arc_query_sessions_in_use')) >= 1, 'the slow query to hold a session');
    const simple = await query('SELECT 42 AS answer');
    order.push('simple');
    assert.equal(simple.status, 200, simple.text);
    assert.deepEqual(simple.json.data, [[42]]);
    const timedOut = await slow;
    assert.equal(timedOut.status, 504, timedOut.text);
    assert.equal(timedOut.json.code, 'ARC_ERR_QUERY_TIMEOUT');
    assert.deepEqual(order, ['simple', 'slow'], 'the simple query did not wait behind the time constant');
    // DuckDB finishes the levenshtein call before it sees the interrupt; only then is the session idle again.
    await until(async () => (await metric(quick, 'arc_query_sessions_in_use')) === 0, 'the stopped session to return to the pool');
    assert.equal((await query('SELECT count(*) AS n FROM rooms')).json.data?.toString(), '1');
  } finally {
    assert.equal(await quick.stop(), 0);
  }
});

test('queries whose clients went away are cancelled: sessions freed, counted as ARC_ERR_QUERY_CANCELLED, not as time-outs', { timeout: 180_000 }, async () => {
  const patient = await startServer({ env: { ARC_QUERY_TIMEOUT: '600', ARC_QUERY_MAX_CONCURRENT: '4' } });
  try {
    const cancelled = 'arc_ingest_rejected_requests_total{reason="ARC_ERR_QUERY_CANCELLED"}';
    // Six queries for four sessions: four run, two wait for a session; all six are abandoned.
    const requests: http.ClientRequest[] = [];
    for (let i = 0; i < 6; i++) {
      const request = http.request(`${patient.url}/api/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      request.on('error', () => undefined); // the abort below
      request.end(JSON.stringify({ sql: `SELECT count(*) + ${i} FROM range(100000000000)` }));
      requests.push(request);
    }
    await until(async () => (await metric(patient, 'arc_query_sessions_in_use')) === 4, 'four queries to run');
    for (const request of requests) request.destroy();
    await until(async () => (await metric(patient, 'arc_ingest_rejected_requests_total', 'reason="ARC_ERR_QUERY_CANCELLED"')) === 6, `${cancelled} to count the six`);
    await until(async () => (await metric(patient, 'arc_query_sessions_in_use')) === 0, 'every session back in the pool');
    assert.equal(await metric(patient, 'arc_ingest_rejected_requests_total', 'reason="ARC_ERR_QUERY_TIMEOUT"'), 0);
    const answer = await post(patient, '/api/v1/query', JSON.stringify({ sql: 'SELECT 42 AS answer' }), { 'content-type': 'application/json' });
    assert.deepEqual(answer.json.data, [[42]]);
  } finally {
    assert.equal(await patient.stop(), 0);
  }
});

test('time-range pruning: only the hour directories the WHERE allows are read', async () => {
  const profile = async (where: string) => {
    const response = await sql(`SELECT count(*) AS n FROM sensors ${where}`, { 'x-arc-database': 'lab', 'x-arc-profile': 'true' });
    assert.equal(response.status, 200, response.text);
    const [source] = (response.json.profile as { sources: Array<{ files: number; hours: number }> }).sources;
    return { n: (response.json.data as number[][])[0]![0], files: source!.files, hours: source!.hours };
  };
  assert.deepEqual(await profile(''), { n: 4, files: 3, hours: 3 }, 'no range: every file of the measurement, listed by the catalog');
  assert.deepEqual(await profile("WHERE time >= '2024-11-24 05:00:00' AND time < '2024-11-24 06:00:00'"), { n: 1, files: 1, hours: 1 });
  assert.deepEqual(await profile("WHERE time BETWEEN TIMESTAMPTZ '2024-11-24 04:00:00+00' AND '2024-11-24 05:30:00'"), { n: 3, files: 2, hours: 2 });
  assert.deepEqual(await profile("WHERE time >= '2024-11-24 06:00:00'"), { n: 1, files: 1, hours: 1 });
  assert.deepEqual(await profile("WHERE time < '2020-01-01'"), { n: 0, files: 0, hours: 0 });
  const explain = await sql("EXPLAIN SELECT name FROM sensors WHERE time >= '2024-11-24 05:00:00' AND time < '2024-11-24 06:00:00'", { 'x-arc-database': 'lab' });
  assert.equal(explain.status, 200);
  assert.match(JSON.stringify(explain.json.data), /READ_PARQUET|PARQUET_SCAN|Parquet/i);
});

test('estimate, measurements, /api/v1/query/:measurement, and the databases API', async () => {
  const estimate = await post(server, '/api/v1/query/estimate', JSON.stringify({ sql: 'SELECT * FROM sensors' }), { 'x-arc-database': 'lab' });
  assert.deepEqual([estimate.json.success, estimate.json.estimated_rows, estimate.json.warning_level], [true, 4, 'none']);
  const measurements = await get(server, '/api/v1/measurements?database=lab');
  assert.deepEqual((measurements.json.measurements as Array<{ measurement: string }>).map((m) => m.measurement), ['rooms', 'sensors']);
  const latest = await get(server, '/api/v1/query/sensors?database=lab&limit=2');
  assert.deepEqual((latest.json.data as unknown[][]).map((r) => r[0]), ['2024-11-24T06:00:00Z', '2024-11-24T05:00:00.000123Z']);
  const filtered = await get(server, `/api/v1/query/rooms?database=lab&order_by=${encodeURIComponent('temp ASC')}&where=${encodeURIComponent("room = 'a'")}`);
  assert.equal((filtered.json.data as unknown[][]).length, 1);
  assert.equal((await get(server, '/api/v1/query/rooms?database=lab&order_by=temp%3B%20DROP')).status, 400);

  const created = await post(server, '/api/v1/databases', JSON.stringify({ name: 'fresh' }));
  assert.equal(created.status, 201);
  assert.equal(created.json.measurement_count, 0);
  assert.equal((await post(server, '/api/v1/databases', JSON.stringify({ name: 'fresh' }))).status, 409);
  assert.equal((await post(server, '/api/v1/databases', JSON.stringify({ name: 'system' }))).status, 400);
  assert.equal((await post(server, '/api/v1/databases', JSON.stringify({ name: '9x' }))).status, 400);
  const list = await get(server, '/api/v1/databases');
  assert.ok((list.json.databases as Array<{ name: string }>).some((d) => d.name === 'fresh'));
  assert.deepEqual((await get(server, '/api/v1/databases/lab/measurements')).json.count, 2);
  assert.equal((await get(server, '/api/v1/databases/missing')).status, 404);
});

test('read-your-writes: every acknowledged row is visible to a query that starts after the acknowledgement', async () => {
  const writers = 3;
  const perWriter = 40;
  let acknowledged = 0;
  let checks = 0;
  const writeLoop = async (w: number) => {
    for (let i = 0; i < perWriter; i++) {
      const rows = 25;
      const body = encode({
        m: 'ryw',
        columns: { time: Array.from({ length: rows }, (_, k) => u64(1_732_420_800_000_000 + w * 1e9 + i * 1000 + k)), w: Array.from({ length: rows }, () => w) },
      });
      const response = await writeMsgpack(server, body, 'ryw');
      assert.equal(response.status, 204);
      acknowledged += rows;
      // Right after our own acknowledgement: the query must see at least everything acknowledged so far.
      const seenBefore = acknowledged;
      const counted = await sql('SELECT count(*) AS n FROM ryw.ryw');
      assert.equal(counted.status, 200, counted.text);
      const n = (counted.json.data as number[][])[0]![0]!;
      assert.ok(n >= seenBefore, `query saw ${n} rows, ${seenBefore} were acknowledged before it began`);
      checks++;
      if (i % 10 === 5) await post(server, '/api/v1/write/flush'); // flushes happen while others query
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => writeLoop(w)));
  const total = await sql('SELECT count(*) AS n, count(DISTINCT time) AS distinct_times FROM ryw.ryw');
  assert.deepEqual((total.json.data as number[][])[0], [acknowledged, acknowledged], 'each row exactly once');
  assert.equal(checks, writers * perWriter);
});

test('a client that disconnects mid-stream gives its DuckDB session back', { timeout: 60_000 }, async () => {
  // More abandoned streams than query.max_concurrent (4): a leaked session would make the last query wait forever.
  for (const route of ['/api/v1/query', '/api/v1/query/arrow', '/api/v1/query', '/api/v1/query/arrow', '/api/v1/query', '/api/v1/query/arrow']) {
    await new Promise<void>((resolve, reject) => {
      const request = http.request(`${server.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
        assert.equal(response.statusCode, 200);
        response.once('data', () => {
          response.pause(); // stop reading: the server's writes back up
          setTimeout(() => {
            request.destroy();
            resolve();
          }, 100);
        });
      });
      request.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      request.end(JSON.stringify({ sql: 'SELECT range AS n, range * 2 AS m FROM range(1000000000)' }));
    });
  }
  const started = Date.now();
  const answer = await sql('SELECT 42 AS answer');
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.json.data, [[42]]);
  assert.ok(Date.now() - started < 1500, 'answered without waiting for a timed-out session');
});

test('values across many chunks: JSON timestamps and Arrow columns match what DuckDB computes itself', async () => {
  // 5000 rows = three DuckDB chunks, so reused conversion buffers are exercised; NULLs, long and
  // short strings, and timestamps before 1970, sharing a second, and past 2255 (beyond doubles).
  const rows = 5000;
  const query = `
    WITH t AS (SELECT range AS i, TIMESTAMP '1969-12-31 23:59:58' + to_microseconds(range * 333) AS ts FROM range(${rows}))
    SELECT i,
      CASE WHEN i % 7 = 0 THEN NULL ELSE 'v' || i || repeat('x', (i % 20)::INT) END AS s,
      CASE WHEN i % 5 = 0 THEN NULL ELSE i % 3 = 0 END AS b,
      CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 0.5)::DOUBLE END AS d,
      ts, ts::TIMESTAMPTZ AS tz, ts::TIMESTAMP_MS AS ms, ts::TIMESTAMP_S AS s0, ts::TIMESTAMP_NS AS ns,
      ts + INTERVAL 430 YEAR AS far,
      [strftime(ts, '%Y-%m-%dT%H:%M:%S.%f'), strftime(ts::TIMESTAMP_MS, '%Y-%m-%dT%H:%M:%S.%f'), strftime(ts::TIMESTAMP_S, '%Y-%m-%dT%H:%M:%S.%f'), strftime(ts + INTERVAL 430 YEAR, '%Y-%m-%dT%H:%M:%S.%f')] AS expected
    FROM t ORDER BY i`;
  const json = await sql(query);
  assert.equal(json.status, 200, json.text);
  const data = json.json.data as unknown[][];
  assert.equal(data.length, rows);
  const rfc = (text: string) => `${text.replace(/0+$/, '').replace(/\.$/, '')}Z`;
  for (const row of data) {
    const [i, s, b, d, ts, tz, ms, s0, ns, far, expected] = row as [number, string | null, boolean | null, number | null, string, string, string, string, string, string, string[]];
    assert.equal(s, i % 7 === 0 ? null : `v${i}${'x'.repeat(i % 20)}`);
    assert.equal(b, i % 5 === 0 ? null : i % 3 === 0);
    assert.equal(d, i % 11 === 0 ? null : i * 0.5);
    assert.deepEqual([ts, tz, ms, s0, ns, far], [rfc(expected[0]!), rfc(expected[0]!), rfc(expected[1]!), rfc(expected[2]!), rfc(expected[0]!), rfc(expected[3]!)], `row ${i}`);
  }

  const response = await fetch(`${server.url}/api/v1/query/arrow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: query }) });
  assert.equal(response.status, 200);
  const table = tableFromIPC(new Uint8Array(await response.arrayBuffer()));
  assert.equal(table.numRows, rows);
  assert.deepEqual([...table.getChild('i')!].map(Number), data.map((r) => r[0]));
  assert.deepEqual([...table.getChild('s')!], data.map((r) => r[1]));
  assert.deepEqual([...table.getChild('b')!], data.map((r) => r[2]));
  assert.deepEqual([...table.getChild('d')!], data.map((r) => r[3]));
  // Arrow timestamps are µs; apache-arrow hands them out as ms doubles.
  const micros = (text: string) => BigInt(Date.parse(text.replace(/\.\d+Z$/, 'Z'))) * 1000n + BigInt((/\.(\d+)Z$/.exec(text)?.[1] ?? '').padEnd(6, '0') || '0');
  const arrowMicros = table.getChild('ts')!.data.flatMap((d) => [...(d.values as BigInt64Array).subarray(d.offset, d.offset + d.length)]);
  assert.deepEqual(arrowMicros, data.map((r) => micros(r[4] as string)));
});

test('arc bench --mode query loads its data set once, checks every way agrees, and reports each query', async () => {
  const dir = tempDir('arc-query-bench-');
  const report = path.join(dir, 'q.json');
  const common = ['bench', '--mode', 'query', '--url', server.url, '--data', server.root, '--rows', '30000', '--iterations', '2', '--quiet'];
  const first = await runArc([...common, '--json', report]);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const parsed = JSON.parse(fs.readFileSync(report, 'utf8')) as QueryBenchReport;
  assert.deepEqual(parsed.loaded?.rows, 30000);
  assert.deepEqual(parsed.queries.map((q) => [q.name, q.rows]), [
    ['count', 1],
    ['limit 100k', 30000],
    ['1h time_bucket, 1 day', 24],
    ['group by host', 1000],
    ['SELECT * (whole measurement)', 30000],
  ]);
  for (const q of parsed.queries) {
    assert.ok(q.duckdb && q.duckdb.p50 > 0, `${q.name}: the raw DuckDB baseline ran (local server)`);
    assert.ok(q.arrow && q.arrow.p50 > 0);
  }
  assert.equal(parsed.arrow_stream?.rows, 30000);
  assert.match(first.stdout, /\| group by host \| 1,000 \| [\d.]+ \| [\d.]+ \([\d.]+×\) \| [\d.]+ \([\d.]+×\) \|/);
  // Second run: the data set is there already, nothing is loaded again.
  const again = await runArc([...common, '--iterations', '1']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /data set already loaded/);
  const counted = await sql('SELECT count(*) AS n FROM cpu', { 'x-arc-database': 'bench_query' });
  assert.deepEqual(counted.json.data, [[30000]]);
  // A different size against the same database is refused rather than mixed in.
  const mixed = await runArc([...common, '--rows', '500']);
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.stderr, /holds 30,000 rows, not 500/);
});

test('arc bench --query-load runs a query alongside the writes and reports it', async () => {
  const run = await runArc(['bench', '--url', server.url, '--data', server.root, '--duration', '1.5', '--workers', '1', '--pregenerate', '5', '--quiet',
    '--query-load', 'SELECT count(*) FROM sensors', '--query-database', 'lab']);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /query load +\d+ queries alongside, p50 [\d.]+ ms: SELECT count\(\*\) FROM sensors/);
  const broken = await runArc(['bench', '--url', server.url, '--duration', '1', '--workers', '1', '--pregenerate', '5', '--quiet', '--query-load', 'SELEC 1']);
  assert.match(broken.stdout, /query load +0 queries alongside/);
  assert.match(broken.stdout, /syntax error/);
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import { Reader, quote, type Row } from './helpers/duckdb.js';
import { get, post, runArc, startServer, tempDir, type TestServer } from './helpers/server.js';

/**
 * Bulk import (issue #15): CSV, Parquet and line protocol files through multipart uploads, into
 * the normal write path (write-ahead log on here), compared with DuckDB reading the same files.
 */
const ADMIN = 'import-test-admin-token-0123456789abcdef';
let server: TestServer;
let dir: string;
let env: Record<string, string>;
let reader: Reader;
let writerToken: string;

before(async () => {
  dir = tempDir('arc-import-');
  env = {
    ARC_AUTH_ENABLED: 'true',
    ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN,
    ARC_AUTH_DB_PATH: path.join(dir, 'arc.db'),
    ARC_WAL_ENABLED: 'true',
    ARC_WAL_DIRECTORY: path.join(dir, 'wal'),
    // Rows stay in the buffers (and the log) until a test flushes: read-your-writes and replay are checked.
    ARC_INGEST_MAX_BUFFER_AGE_MS: '600000',
    ARC_INGEST_MAX_BUFFER_SIZE: '1000000',
    ARC_IMPORT_MAX_FILE_SIZE: '16MB',
  };
  server = await startServer({ root: path.join(dir, 'data'), env });
  reader = await Reader.open();
  const created = await post(server, '/api/v1/auth/tokens', JSON.stringify({ name: 'telegraf', permissions: ['read', 'write'] }), {
    authorization: `Bearer ${ADMIN}`,
    'content-type': 'application/json',
  });
  assert.equal(created.status, 201, created.text);
  writerToken = String(created.json.token);
});

after(async () => {
  reader.close();
  if (server) await server.stop();
});

const auth = (token = ADMIN) => ({ authorization: `Bearer ${token}` });

async function upload(format: string, query: string, bytes: Uint8Array | string, options: { token?: string; field?: string } = {}) {
  const form = new FormData();
  form.append(options.field ?? 'file', new Blob([bytes]), `upload.${format}`);
  const response = await fetch(`${server.url}/api/v1/import/${format}?${query}`, { method: 'POST', body: form, headers: auth(options.token) });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

async function sql(text: string): Promise<unknown[][]> {
  const response = await post(server, '/api/v1/query', JSON.stringify({ sql: text }), { ...auth(), 'content-type': 'application/json' });
  assert.equal(response.status, 200, response.text);
  return response.json.data as unknown[][];
}

async function flushAll(): Promise<void> {
  const response = await post(server, '/api/v1/write/flush', undefined, auth());
  assert.equal(response.status, 200, response.text);
}

/** Rows as JSON-comparable values (bigint → string). */
function plain(rows: Row[]): unknown[] {
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])));
}

type Result = { rows_imported: number; rows_rejected: number; rejected: Array<{ line: number; reason: string }>; columns?: Record<string, string>; bytes: number };

test('CSV: good rows kept and equal to DuckDB reading the file; bad rows rejected with their line numbers; read-your-writes', async () => {
  const header = 'time,host,value,count,ok,note';
  const good: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const host = i % 100 === 0 ? '"h,quoted ""x"""' : `h${i % 7}`;
    good.push(`${1_700_000_000_000 + i * 1000},${host},${i * 0.25},${i - 5000},${i % 3 === 0 ? 'true' : 'false'},${i % 11 === 0 ? '' : `n${i % 13}`}`);
  }
  const bad = new Map<number, string>([
    [40, 'short,row'], // field count (inside the type sample: must not change the types)
    [2500, `${1_700_000_000_000},h1,1.5,abc,true,x`], // not an integer
    [9000, 'soon,h1,1.5,3,true,x'], // bad time
    [15000, `${1_700_000_000_000},h1,1.5,3,maybe,x`], // not a bool
  ]);
  const lines = [header];
  let next = 0;
  for (let line = 2; next < good.length; line++) lines.push(bad.get(line) ?? good[next++]!);
  const goodFile = path.join(dir, 'good.csv');
  fs.writeFileSync(goodFile, [header, ...good].join('\n') + '\n');

  const response = await upload('csv', 'measurement=sensors&db=csvdb&time_format=epoch_ms', lines.join('\n') + '\n');
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json.status, 'ok');
  const result = response.json.result as Result;
  assert.equal(result.rows_imported, good.length);
  assert.equal(result.rows_rejected, bad.size);
  assert.deepEqual(result.rejected.map((r) => r.line), [...bad.keys()]);
  assert.match(result.rejected[0]!.reason, /expected 6 fields/);
  assert.match(result.rejected[1]!.reason, /column 'count': "abc" is not an integer/);
  assert.match(result.rejected[2]!.reason, /time "soon" is not a number/);
  assert.match(result.rejected[3]!.reason, /column 'ok': "maybe" is not true or false/);
  assert.deepEqual(result.columns, { count: 'int64', host: 'string', note: 'string', ok: 'bool', value: 'float64' });
  assert.equal(result.bytes > 0, true);

  // Before any flush: the rows are in the buffers, and queries see them.
  assert.deepEqual(await sql('SELECT count(*), sum("count")::BIGINT FROM csvdb.sensors'), [[good.length, 99_990_000]]);
  await flushAll();
  const stored = await reader.rows(server.root, 'csvdb', 'sensors');
  const expected = await reader.query(
    `SELECT "time" * 1000 AS "time", "count", host, note, ok, value FROM read_csv(${quote(goodFile)}, header = true) ORDER BY "time"`,
  );
  assert.deepEqual(plain(stored), plain(expected));
  assert.deepEqual(await reader.types(path.join(server.root, 'csvdb/sensors/**/*.parquet')), {
    time: 'TIMESTAMP WITH TIME ZONE', count: 'BIGINT', host: 'VARCHAR', note: 'VARCHAR', ok: 'BOOLEAN', value: 'DOUBLE',
  });
});

test('CSV options: delimiter, skip_rows, time_column, RFC 3339 and detected epoch times, a gzip upload', async () => {
  const text = [
    'exported by tool v1',
    'second junk line',
    'ts;temp;label',
    '2024-01-02T03:04:05.123456Z;1;a',
    '2024-01-02 03:04:06+01:00;2;b',
    '1704164647;3;c', // epoch seconds, detected
    '2024-02-30T00:00:00Z;4;d', // not a date
  ].join('\r\n');
  const response = await upload('csv', 'measurement=opts&db=csvdb&delimiter=%3B&skip_rows=2&time_column=ts', zlib.gzipSync(text));
  assert.equal(response.status, 200, response.text);
  const result = response.json.result as Result;
  assert.equal(result.rows_imported, 3);
  assert.deepEqual(result.rejected, [{ line: 7, reason: 'time "2024-02-30T00:00:00Z" is not a valid date-time' }]);
  assert.deepEqual(await sql("SELECT epoch_us(time), temp, label FROM csvdb.opts ORDER BY time"), [
    [1704161046000000, 2, 'b'],
    [1704164645123456, 1, 'a'],
    [1704164647000000, 3, 'c'],
  ]);
  const tsv = await upload('csv', 'measurement=tabs&db=csvdb&delimiter=tab&time_format=epoch_ns', 'time\tv\n1704164647123456789\t1.5\n');
  assert.equal(tsv.status, 200, tsv.text);
  assert.deepEqual(await sql('SELECT epoch_us(time), v FROM csvdb.tabs'), [[1704164647123456, 1.5]]);
});

test('Parquet: rows equal DuckDB reading the file; NULL times rejected with their row numbers; types kept', async () => {
  const file = path.join(dir, 'source.parquet');
  await reader.query(
    `COPY (SELECT CASE WHEN i % 5000 = 17 THEN NULL ELSE TIMESTAMP '2024-03-01' + INTERVAL (i) SECOND END AS ts,
            CASE WHEN i % 9 = 0 THEN NULL ELSE i * 3 - 40000 END::BIGINT AS n, i / 7 AS f, 'ü-' || (i % 50) AS s, i % 2 = 0 AS b,
            i::UINTEGER AS u, (i / 100)::DECIMAL(10, 2) AS d, DATE '2024-01-01' + (i % 30)::INTEGER AS day
          FROM range(30000) t(i)) TO ${quote(file)} (FORMAT parquet, ROW_GROUP_SIZE 5000)`,
  );
  const response = await upload('parquet', 'measurement=pq&db=pqdb&time_column=ts', fs.readFileSync(file));
  assert.equal(response.status, 200, response.text);
  const result = response.json.result as Result;
  assert.equal(result.rows_imported, 30000 - 6);
  assert.deepEqual(result.rejected, [18, 5018, 10018, 15018, 20018, 25018].map((line) => ({ line, reason: 'the time is NULL' })));
  assert.deepEqual(result.columns, { b: 'bool', d: 'float64', day: 'string', f: 'float64', n: 'int64', s: 'string', u: 'int64' });
  await flushAll();
  const stored = await reader.rows(server.root, 'pqdb', 'pq');
  const expected = await reader.query(
    `SELECT epoch_us(ts) AS "time", b, d::DOUBLE AS d, day::VARCHAR AS day, f, n, s, u::BIGINT AS u FROM read_parquet(${quote(file)}) WHERE ts IS NOT NULL ORDER BY ts`,
  );
  assert.deepEqual(plain(stored), plain(expected));
});

test('Parquet: integer epoch time column with time_format; a file that is not Parquet is refused', async () => {
  const file = path.join(dir, 'epoch.parquet');
  await reader.query(`COPY (SELECT 1704164647000 + i AS time, i AS v FROM range(10) t(i)) TO ${quote(file)} (FORMAT parquet)`);
  const response = await upload('parquet', 'measurement=epochs&db=pqdb&time_format=epoch_ms', fs.readFileSync(file));
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(await sql('SELECT min(epoch_us(time)), max(epoch_us(time)), count(*) FROM pqdb.epochs'), [[1704164647000000, 1704164647009000, 10]]);
  const bad = await upload('parquet', 'measurement=epochs&db=pqdb', 'time,v\n1,2\n');
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.code, 'ARC_ERR_BAD_IMPORT_FILE');
  assert.match(String(bad.json.error), /not a readable Parquet file/);
  assert.doesNotMatch(String(bad.json.error), /\.import/); // no server paths in messages
});

test('line protocol: the same rows and rejected lines as the write API, across chunks, gzip, measurement filter', async () => {
  const lines: string[] = [];
  const badLines: number[] = [];
  for (let i = 0; i < 60_000; i++) {
    if (i === 5 || i === 50_000) {
      lines.push(`cpu,host=h1 usage=oops ${1_700_000_000_000_000_000 + i}`);
      badLines.push(lines.length);
    } else if (i % 10_000 === 7) lines.push('# a comment', '');
    lines.push(`cpu,host=h${i % 5},region=r${i % 3} usage=${i * 0.5},count=${i}i,ok=${i % 2 === 0},msg="m ${i}" ${1_700_000_000_000_000_000 + i * 1_000_000}`);
    if (i % 1000 === 0) lines.push(`mem,host=h${i % 5} used=${i}i ${1_700_000_000_000_000_000 + i * 1_000_000}`);
  }
  const text = lines.join('\n') + '\n';
  assert.ok(text.length > 4.5 * (1 << 20), 'the file must span several parse chunks');
  const reference = await post(server, '/api/v1/write/line-protocol', text, { ...auth(), 'x-arc-database': 'lpref' });
  assert.equal(reference.status, 400, reference.text); // partial write: the bad lines
  const imported = await upload('lp', 'db=lpimp', zlib.gzipSync(text));
  assert.equal(imported.status, 200, imported.text);
  const result = imported.json.result as Result & { rows_skipped: number };
  assert.deepEqual(result.rejected, reference.json.lines);
  assert.deepEqual(result.rejected.map((r) => r.line), badLines);
  assert.equal(result.rows_imported, reference.json.written);
  const filtered = await upload('lp', 'db=lpfilter&measurement=mem', text);
  assert.equal(filtered.status, 200, filtered.text);
  assert.equal((filtered.json.result as Result).rows_imported, 60);
  assert.equal((filtered.json.result as { rows_skipped: number }).rows_skipped, 60_000);
  await flushAll();
  for (const measurement of ['cpu', 'mem']) {
    assert.deepEqual(plain(await reader.rows(server.root, 'lpimp', measurement, 'time, host')), plain(await reader.rows(server.root, 'lpref', measurement, 'time, host')));
  }
  assert.deepEqual(await sql('SELECT count(*) FROM lpfilter.mem'), [[60]]);
});

test('every refusal: 4xx with a code and a message naming the problem, nothing written', async () => {
  const csv = 'time,v\n1,2\n';
  const cases: Array<{ name: string; send: () => Promise<{ status: number; json: Record<string, unknown> }>; status: number; code: string; message: RegExp }> = [
    { name: 'CSV without measurement', send: () => upload('csv', 'db=refused', csv), status: 400, code: 'ARC_ERR_BAD_REQUEST', message: /measurement query parameter is required/ },
    { name: 'Parquet without measurement', send: () => upload('parquet', 'db=refused', csv), status: 400, code: 'ARC_ERR_BAD_REQUEST', message: /measurement/ },
    { name: 'bad time_format', send: () => upload('csv', 'db=refused&measurement=m&time_format=epoch_days', csv), status: 400, code: 'ARC_ERR_BAD_REQUEST', message: /time_format must be/ },
    { name: 'bad delimiter', send: () => upload('csv', 'db=refused&measurement=m&delimiter=ab', csv), status: 400, code: 'ARC_ERR_BAD_REQUEST', message: /delimiter/ },
    { name: 'bad skip_rows', send: () => upload('csv', 'db=refused&measurement=m&skip_rows=-1', csv), status: 400, code: 'ARC_ERR_BAD_REQUEST', message: /skip_rows/ },
    { name: 'bad measurement name', send: () => upload('csv', 'db=refused&measurement=1bad', csv), status: 400, code: 'ARC_ERR_INVALID_MEASUREMENT', message: /invalid measurement name/ },
    { name: 'bad database name', send: () => upload('csv', 'db=-x&measurement=m', csv), status: 400, code: 'ARC_ERR_INVALID_DATABASE', message: /invalid database name/ },
    { name: 'bad precision', send: () => upload('lp', 'db=refused&precision=days', 'm v=1'), status: 400, code: 'ARC_ERR_INVALID_PRECISION', message: /invalid precision/ },
    {
      name: 'not multipart',
      send: () => post(server, '/api/v1/import/csv?db=refused&measurement=m', csv, { ...auth(), 'content-type': 'text/csv' }),
      status: 415,
      code: 'ARC_ERR_NOT_MULTIPART',
      message: /multipart\/form-data/,
    },
    {
      name: 'broken multipart framing',
      send: () => post(server, '/api/v1/import/csv?db=refused&measurement=m', '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\ntime,v\n1,2', { ...auth(), 'content-type': 'multipart/form-data; boundary=xyz' }),
      status: 415,
      code: 'ARC_ERR_NOT_MULTIPART',
      message: /malformed multipart body/,
    },
    { name: 'no file field', send: () => upload('csv', 'db=refused&measurement=m', csv, { field: 'data' }), status: 400, code: 'ARC_ERR_NO_FILE', message: /no file in the field "file"/ },
    { name: 'no time column', send: () => upload('csv', 'db=refused&measurement=m', 'when,v\n1,2\n'), status: 400, code: 'ARC_ERR_BAD_IMPORT_FILE', message: /no time column "time"/ },
    { name: 'empty file', send: () => upload('csv', 'db=refused&measurement=m', ''), status: 400, code: 'ARC_ERR_BAD_IMPORT_FILE', message: /no header line/ },
    { name: 'a second "time" column', send: () => upload('csv', 'db=refused&measurement=m&time_column=ts', 'ts,time\n1,2\n'), status: 400, code: 'ARC_ERR_BAD_IMPORT_FILE', message: /named "time"/ },
    { name: 'non-admin token', send: () => upload('csv', 'db=refused&measurement=m', csv, { token: writerToken }), status: 403, code: 'ARC_ERR_FORBIDDEN', message: /admin required/ },
    { name: 'no token', send: () => post(server, '/api/v1/import/csv?db=refused&measurement=m', csv), status: 401, code: 'ARC_ERR_UNAUTHORIZED', message: /Authentication required/ },
    {
      name: 'a gzip file expanding past import.max_file_size',
      send: () => upload('lp', 'db=refused', zlib.gzipSync(Buffer.alloc(17 << 20, 10))),
      status: 413,
      code: 'ARC_ERR_IMPORT_TOO_LARGE',
      message: /larger than import.max_file_size \(16MB\)/,
    },
  ];
  for (const { name, send, status, code, message } of cases) {
    const response = await send().catch((err: Error) => {
      throw new Error(`${name}: ${err.message} ${String((err as { cause?: unknown }).cause)}`);
    });
    assert.equal(response.status, status, `${name}: ${JSON.stringify(response.json)}`);
    assert.equal(response.json.code, code, name);
    assert.match(String(response.json.error), message, name);
  }
  const databases = await get(server, '/api/v1/databases', auth());
  assert.doesNotMatch(databases.text, /refused/);
});

test('GET /api/v1/import/stats counts imports per format; arc import uploads a file with progress and prints the summary', async () => {
  const file = path.join(dir, 'cli.csv');
  fs.writeFileSync(file, 'time,v\n1704164647,1\n1704164648,2\nnope,3\n');
  const cli = await runArc(['import', file, '--url', server.url, '--token', ADMIN, '--measurement', 'fromcli', '--db', 'clidb']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /imported 2 rows into clidb\.fromcli/);
  assert.match(cli.stdout, /line 4: time "nope"/);
  assert.match(cli.stderr, /100% 40B \/ 40B/);
  const refused = await runArc(['import', file, '--url', server.url, '--token', ADMIN, '--db', 'clidb']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /measurement query parameter is required/);

  const stats = await get(server, '/api/v1/import/stats', auth(writerToken));
  assert.equal(stats.status, 200, stats.text);
  const body = stats.json.stats as Record<string, { imports: number; failed: number; rows_imported: number }> & { active_imports: number; last_import: { database: string } };
  assert.equal(body.active_imports, 0);
  assert.ok(body.csv.imports >= 4 && body.csv.failed >= 1);
  assert.ok(body.parquet.rows_imported >= 30000 - 6);
  assert.ok(body.lp.imports >= 2);
  assert.equal(body.last_import.database, 'clidb');
});

test('imported rows survive kill -9 through the write-ahead log (CSV logged as batches, line protocol as text)', async () => {
  const csv = ['time,v,label'];
  for (let i = 0; i < 3000; i++) csv.push(`${1704164647000 + i},${i},l${i % 4}`);
  const a = await upload('csv', 'measurement=crash&db=waldb&time_format=epoch_ms', csv.join('\n'));
  assert.equal(a.status, 200, a.text);
  const b = await upload('lp', 'db=waldb', Array.from({ length: 2000 }, (_, i) => `crashlp,k=${i % 3} v=${i}i ${1704164647000000000 + i}`).join('\n'));
  assert.equal(b.status, 200, b.text);
  const before = await sql('SELECT count(*), sum(v) FROM waldb.crash');
  await server.stop('SIGKILL');
  server = await startServer({ root: path.join(dir, 'data'), env });
  assert.deepEqual(await sql('SELECT count(*), sum(v) FROM waldb.crash'), before);
  assert.deepEqual(await sql('SELECT count(*), sum(v)::BIGINT FROM waldb.crashlp'), [[2000, 1999000]]);
  assert.deepEqual(await sql("SELECT label, count(*) FROM waldb.crash GROUP BY label ORDER BY label"), [['l0', 750], ['l1', 750], ['l2', 750], ['l3', 750]]);
});

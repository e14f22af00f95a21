import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import * as arrow from 'apache-arrow';
import { compressionRegistry } from 'apache-arrow/ipc/compression/registry';
import { decompressFrameSync } from 'lz4-napi';
import { Unpackr } from 'msgpackr';
import pl from 'nodejs-polars';
import zstd from 'zstd-napi';
import { encode, f64, u64 } from './helpers/msgpack.js';
import { flush, get, post, startServer, writeMsgpack, type TestServer } from './helpers/server.js';

/**
 * Query results on the wire (issue #15): Arc's columnar MessagePack result, Accept-Encoding on
 * streamed JSON and msgpack, Arrow IPC body compression and dictionaries, read back with
 * msgpackr, apache-arrow JS and polars (an independent Arrow implementation, in Rust).
 */
let server: TestServer;
const unpackr = new Unpackr({ int64AsType: 'bigint', mapsAsObjects: true });

before(async () => {
  // The smallest spool memory, so a result of a few MB spills to its temporary file.
  server = await startServer({ env: { ARC_QUERY_RESULT_SPOOL_MEMORY: '65536' } });
  const base = 1_732_420_800_000_000; // 2024-11-24T04:00:00Z
  const body = encode({ m: 'cpu', columns: { time: [u64(base), u64(base + 1_000_000)], host: ['a', 'b'], value: [f64(0.5), f64(1.5)] } });
  assert.equal((await writeMsgpack(server, body, 'wire')).status, 204);
  await flush(server);
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request whose body comes back exactly as sent (fetch would decode Content-Encoding). */
function raw(path: string, body: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sqlBody = (sql: string) => JSON.stringify({ sql });
const msgpackQuery = (sql: string, headers: Record<string, string> = {}) => raw('/api/v1/query/msgpack', sqlBody(sql), headers);
const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const str = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);

function decodeBody(response: RawResponse): Buffer {
  const encoding = response.headers['content-encoding'];
  if (encoding === 'zstd') return Buffer.from(zstd.decompress(response.body));
  if (encoding === 'gzip') return zlib.gunzipSync(response.body);
  assert.equal(encoding, undefined);
  return response.body;
}

test('msgpack: golden bytes of the envelope, key order, int64 in 9 bytes, timestamp extension', async () => {
  const response = await msgpackQuery("SELECT CAST(7 AS BIGINT) AS n, TIMESTAMPTZ '2021-01-01 00:00:00+00' AS time");
  assert.equal(response.status, 200);
  assert.equal(response.headers['content-type'], 'application/msgpack');
  const expected = Buffer.concat([
    hex('87'),
    str('success'), hex('c3'),
    str('columns'), hex('92'), str('n'), str('time'),
    str('types'), hex('92'), str('int64'), str('timestamp[us]'),
    str('data'), hex('92 91 d3 00 00 00 00 00 00 00 07 91 d6 ff 5f ee 66 00'),
    str('row_count'), hex('01'),
    Buffer.from([0xb1]), Buffer.from('execution_time_ms'),
  ]);
  assert.equal(response.body.subarray(0, expected.length).toString('hex'), expected.toString('hex'));
  const rest = response.body.subarray(expected.length);
  // a positive fixint or compact uint, then "timestamp" and a 20-character RFC 3339 string
  const intLength = rest[0]! < 0x80 ? 1 : rest[0] === 0xcc ? 2 : rest[0] === 0xcd ? 3 : 5;
  const tail = rest.subarray(intLength);
  assert.equal(tail.subarray(0, 10).toString('hex'), str('timestamp').toString('hex'));
  assert.equal(tail[10], 0xb4);
  assert.match(tail.subarray(11).toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(tail.length, 31);
});

test('msgpack: every type of the vocabulary decodes with msgpackr to the right value', async () => {
  const response = await msgpackQuery(`SELECT
      CAST(NULL AS BIGINT) AS null_int, NULL AS nothing,
      TIMESTAMP '1969-12-31 23:59:59.5' AS before_1970, TIMESTAMP '2200-01-01 00:00:00.123456' AS after_2106,
      TIMESTAMP '2021-01-01 00:00:00.25' AS with_fraction, TIMESTAMP '3000-01-01 00:00:00.5' AS far,
      TIMESTAMP_NS '2262-01-01 00:00:00.123456789' AS ns, TIMESTAMP_MS '2021-01-01 00:00:01' AS ms, TIMESTAMP_S '2021-01-01 00:00:02' AS s,
      9223372036854775807::BIGINT AS big, (-9223372036854775807 - 1)::BIGINT AS small, 1::BIGINT AS one,
      12.5::DECIMAL(5,2) AS dec2, 12::DECIMAL(5,0) AS dec0, 123456789012.345678::DECIMAL(18,6) AS dec18, 1701411834604692317::HUGEINT AS huge,
      true AS yes, false AS no, 'héllo wörld, a string longer than twelve bytes' AS long_text, '' AS empty,
      [1, 2] AS list, {'a': 1} AS struct, MAP {'k': 'v'} AS map, DATE '1900-01-01' AS date, INTERVAL 1 DAY AS span, TIME '12:34:56' AS clock,
      'ab'::BLOB AS blob, 200::INTEGER AS i32, -5::TINYINT AS i8, 300::SMALLINT AS i16, 250::UTINYINT AS u8, 70000::UINTEGER AS u32,
      18446744073709551615::UBIGINT AS u64, 1.5::FLOAT AS f32, 2.0::DOUBLE AS f64, 'x'::ENUM('x', 'y') AS enum_value`);
  assert.equal(response.status, 200, response.body.toString());
  const body = unpackr.unpack(response.body) as { columns: string[]; types: string[]; data: unknown[][]; row_count: number };
  assert.equal(body.row_count, 1);
  const cell = (name: string) => body.data[body.columns.indexOf(name)]![0];
  const type = (name: string) => body.types[body.columns.indexOf(name)];
  assert.deepEqual(Object.keys(body), ['success', 'columns', 'types', 'data', 'row_count', 'execution_time_ms', 'timestamp']);
  const expectations: Array<[string, string, unknown]> = [
    ['null_int', 'int64', null],
    ['before_1970', 'timestamp[us]', new Date('1969-12-31T23:59:59.500Z')],
    ['after_2106', 'timestamp[us]', new Date('2200-01-01T00:00:00.123Z')],
    ['ns', 'timestamp[ns]', new Date('2262-01-01T00:00:00.123Z')],
    ['ms', 'timestamp[ms]', new Date('2021-01-01T00:00:01Z')],
    ['s', 'timestamp[s]', new Date('2021-01-01T00:00:02Z')],
    ['big', 'int64', 9223372036854775807n],
    ['small', 'int64', -9223372036854775808n],
    ['one', 'int64', 1n],
    ['dec2', 'float64', 12.5],
    ['dec0', 'int64', 12n],
    ['dec18', 'float64', 123456789012.345678],
    ['huge', 'int64', 1701411834604692317n],
    ['yes', 'bool', true],
    ['no', 'bool', false],
    ['long_text', 'utf8', 'héllo wörld, a string longer than twelve bytes'],
    ['empty', 'utf8', ''],
    ['list', 'list', '[1, 2]'],
    ['struct', 'struct', "{'a': 1}"],
    ['map', 'map', '{k=v}'], // DuckDB's own text rendering (CAST AS VARCHAR)
    ['date', 'date32', new Date('1900-01-01T00:00:00Z')],
    ['span', 'string_encoded', '1 day'],
    ['clock', 'string_encoded', '12:34:56'],
    ['i32', 'int32', 200],
    ['i8', 'int8', -5],
    ['i16', 'int16', 300],
    ['u8', 'uint8', 250],
    ['u32', 'uint32', 70000],
    ['u64', 'uint64', 18446744073709551615n],
    ['f32', 'float32', 1.5],
    ['f64', 'float64', 2],
    ['enum_value', 'unknown:dictionary<values=utf8, indices=uint8, ordered=false>', 'x'],
  ];
  for (const [name, wireType, value] of expectations) {
    assert.equal(type(name), wireType, name);
    assert.deepEqual(cell(name), value, name);
  }
  assert.equal(cell('nothing'), null); // DuckDB types a bare NULL as INTEGER by the time it is a result
  assert.deepEqual(Buffer.from(cell('blob') as Uint8Array), Buffer.from('ab'));
  assert.equal(type('blob'), 'binary');
  // Exact wire forms msgpackr's Date hides: sub-millisecond nanoseconds, the 12-byte form before 1970, fixed widths.
  const wire = response.body;
  const has = (bytes: string, what: string) => assert.ok(wire.includes(hex(bytes)), `${what}: ${bytes}`);
  has('c7 0c ff 1d cd 65 00 ff ff ff ff ff ff ff ff', '1969-12-31T23:59:59.5 as 12 bytes: nanos 5e8, seconds -1');
  // 2200-01-01T00:00:00.123456Z: seconds 7258118400 (> 2^32, < 2^34) with nanos 123456000, in the 8-byte form
  const seconds = 7258118400;
  const nanos = 123_456_000;
  const eight = Buffer.alloc(10);
  eight[0] = 0xd7;
  eight[1] = 0xff;
  eight.writeUInt32BE(nanos * 4 + Math.floor(seconds / 2 ** 32), 2);
  eight.writeUInt32BE(seconds % 2 ** 32, 6);
  assert.ok(wire.includes(eight), '8-byte timestamp form with exact nanoseconds');
  const eightOf = (secs: number, ns: number) => {
    const out = Buffer.alloc(10);
    out.set([0xd7, 0xff]);
    out.writeUInt32BE(ns * 4 + Math.floor(secs / 2 ** 32), 2);
    out.writeUInt32BE(secs % 2 ** 32, 6);
    return out;
  };
  assert.ok(wire.includes(eightOf(Date.UTC(2262, 0, 1) / 1000, 123_456_789)), 'nanosecond timestamp keeps all nine digits');
  // 3000-01-01T00:00:00.5Z: seconds beyond 2^34, so the 12-byte form
  const twelve = Buffer.alloc(15);
  twelve.set([0xc7, 0x0c, 0xff]);
  twelve.writeUInt32BE(500_000_000, 3);
  twelve.writeBigInt64BE(BigInt(Date.UTC(3000, 0, 1) / 1000), 7);
  assert.ok(wire.includes(twelve), 'a time past 2514 in the 12-byte form');
  assert.deepEqual(cell('far'), new Date('3000-01-01T00:00:00.500Z'));
  has('d6 ff 5f ee 66 01', 'TIMESTAMP_MS 2021-01-01T00:00:01 in the 4-byte form');
  has('91 d3 00 00 00 00 00 00 00 01', 'int64 1 in 9 bytes');
  has('91 cf ff ff ff ff ff ff ff ff', 'uint64 max in 9 bytes');
  has('91 cb 40 00 00 00 00 00 00 00', 'float64 2.0 not compacted');
  has('91 ca 3f c0 00 00', 'float32 1.5');
  has('91 cc fa', 'uint8 250');
  has('91 d1 01 2c', 'int16 300');
  has('91 c3', 'true');
  has('91 c0', 'NULL');
});

test('msgpack: a result larger than the spool memory spills, and decodes whole, identity or compressed', async () => {
  const sql = "SELECT range AS i, 'host-' || (range % 97) AS host, range / 4 AS quarter, TIMESTAMP '2024-01-01' + INTERVAL (range) SECOND AS t FROM range(150000) ORDER BY range";
  const plain = await msgpackQuery(sql);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  assert.ok(plain.body.length > 20 * 65536, `${plain.body.length} bytes should not fit the 64 KB spool memory`);
  const body = unpackr.unpack(plain.body) as { data: unknown[][]; row_count: number; types: string[] };
  assert.equal(body.row_count, 150000);
  assert.deepEqual(body.types, ['int64', 'utf8', 'float64', 'timestamp[us]']);
  const [ids, hosts, quarters, times] = body.data as [bigint[], string[], number[], Date[]];
  for (const i of [0, 1, 4095, 65536, 149999]) {
    assert.equal(ids[i], BigInt(i));
    assert.equal(hosts[i], `host-${i % 97}`);
    assert.equal(quarters[i], i / 4);
    assert.equal(times[i]!.getTime(), Date.UTC(2024, 0, 1) + i * 1000);
  }
  for (const encoding of ['zstd', 'gzip']) {
    const compressed = await msgpackQuery(sql, { 'accept-encoding': encoding });
    assert.equal(compressed.headers['content-encoding'], encoding);
    assert.equal(compressed.headers.vary, 'Accept-Encoding');
    assert.equal(compressed.headers['content-length'], undefined);
    assert.ok(compressed.body.length < plain.body.length / 2);
    const decoded = unpackr.unpack(decodeBody(compressed)) as { data: unknown[][] };
    assert.deepEqual(decoded.data, body.data);
  }
});

test('msgpack: errors are msgpack maps with the status; empty, SHOW and profile shapes', async () => {
  const bad = await msgpackQuery('SELECT nope FROM cpu', { 'x-arc-database': 'wire', 'accept-encoding': 'zstd' });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers['content-type'], 'application/msgpack');
  assert.equal(bad.headers['content-encoding'], undefined);
  const error = unpackr.unpack(bad.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(error), ['success', 'error', 'execution_time_ms', 'timestamp', 'code']);
  assert.equal(error.success, false);
  assert.match(String(error.error), /nope/);
  assert.equal(error.code, 'ARC_ERR_BAD_QUERY');

  const notJson = await raw('/api/v1/query/msgpack', '{"sql": ');
  assert.equal(notJson.status, 400);
  assert.match(String((unpackr.unpack(notJson.body) as Record<string, unknown>).error), /Invalid request body/);
  const overflow = await msgpackQuery('SELECT 170141183460469231731687303715884105727::HUGEINT AS h');
  assert.equal(overflow.status, 500);
  assert.match(String((unpackr.unpack(overflow.body) as Record<string, unknown>).error), /^decimal cast failed at row 0/);

  const missing = await msgpackQuery('SELECT * FROM nothing_here', { 'x-arc-database': 'wire', 'accept-encoding': 'gzip' });
  assert.equal(missing.status, 200);
  assert.equal(missing.headers['content-encoding'], undefined);
  assert.equal(missing.headers.vary, undefined);
  const empty = unpackr.unpack(missing.body) as Record<string, unknown>;
  assert.deepEqual([empty.columns, empty.types, empty.data, empty.row_count], [[], [], [], 0]);

  const tables = await msgpackQuery('SHOW TABLES', { 'x-arc-database': 'wire', 'accept-encoding': 'zstd' });
  assert.equal(tables.headers['content-encoding'], undefined);
  const shown = unpackr.unpack(tables.body) as { columns: string[]; types: string[]; data: unknown[][] };
  assert.deepEqual(shown.types, ['utf8', 'utf8', 'utf8', 'int64', 'float64']);
  assert.deepEqual(shown.data[1], ['cpu']);
  assert.equal(typeof shown.data[3]![0], 'number', 'file_count is the compact int here');

  const profiled = await msgpackQuery('SELECT host FROM cpu ORDER BY host', { 'x-arc-database': 'wire', 'x-arc-profile': 'true' });
  assert.equal(profiled.body[0], 0x88);
  const withProfile = unpackr.unpack(profiled.body) as { data: string[][]; profile: { sources: Array<{ measurement: string }> } };
  assert.deepEqual(withProfile.data, [['a', 'b']]);
  assert.equal(withProfile.profile.sources[0]!.measurement, 'cpu');
});

test('JSON: zstd and gzip bodies decode to the rows of the identity body; negotiation as Arc does it', async () => {
  const sql = "SELECT range AS i, 'h' || (range % 13) AS host FROM range(60000) ORDER BY range";
  const plain = await raw('/api/v1/query', sqlBody(sql));
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  assert.equal(plain.headers['content-encoding'], undefined);
  const rows = (JSON.parse(plain.body.toString()) as { data: unknown[] }).data;
  assert.equal(rows.length, 60000);
  const cases: Array<[string, string | undefined]> = [
    ['zstd', 'zstd'],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['gzip;q=1.0, zstd;q=0.1', 'zstd'],
    ['GZIP, br', 'gzip'],
    ['zstd;q=0, gzip', 'gzip'],
    ['gzip;q=0, zstd;q=0.0', undefined],
    ['*', undefined],
    ['br, deflate', undefined],
  ];
  for (const [accept, encoding] of cases) {
    const response = await raw('/api/v1/query', sqlBody(sql), { 'accept-encoding': accept });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-encoding'], encoding, accept);
    assert.equal(response.headers.vary, 'Accept-Encoding');
    const parsed = JSON.parse(decodeBody(response).toString()) as { data: unknown[]; success: boolean };
    assert.equal(parsed.success, true);
    assert.deepEqual(parsed.data, rows, accept);
  }
  const latest = await new Promise<RawResponse>((resolve, reject) => {
    http.get(`${server.url}/api/v1/query/cpu?database=wire&limit=5`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
  assert.equal(latest.headers['content-encoding'], 'gzip');
  assert.equal((JSON.parse(decodeBody(latest).toString()) as { row_count: number }).row_count, 2);
  // errors and SHOW answers are never encoded
  const error = await raw('/api/v1/query', sqlBody('SELECT nope'), { 'accept-encoding': 'zstd' });
  assert.equal(error.status, 400);
  assert.equal(error.headers['content-encoding'], undefined);
  const show = await raw('/api/v1/query', sqlBody('SHOW DATABASES'), { 'accept-encoding': 'zstd' });
  assert.equal(show.headers['content-encoding'], undefined);
  assert.equal(show.headers.vary, undefined);
});

/** Counts the IPC messages of a stream by header type; dictionary batches with their isDelta flags. */
function messagesOf(bytes: Uint8Array): { header: string[]; dictionaryDeltas: boolean[]; compressed: boolean[] } {
  const out = { header: [] as string[], dictionaryDeltas: [] as boolean[], compressed: [] as boolean[] };
  const reader = new arrow.MessageReader(bytes);
  for (let message = reader.readMessage(); message !== null; message = reader.readMessage()) {
    out.header.push(arrow.MessageHeader[message.headerType]!);
    if (message.isDictionaryBatch()) {
      out.dictionaryDeltas.push(message.header().isDelta);
      out.compressed.push(message.header().data.compression != null);
    }
    if (message.isRecordBatch()) out.compressed.push(message.header().compression != null);
    reader.readMessageBody(message.bodyLength);
  }
  return out;
}

async function arrowQuery(sql: string, headers: Record<string, string>): Promise<RawResponse> {
  return raw('/api/v1/query/arrow', sqlBody(sql), headers);
}

test('Arrow: zstd and lz4 body compression, read by apache-arrow JS and by polars; bad option values are 400', async () => {
  const sql = "SELECT range AS i, 'host-' || (range % 10) AS host, range * 0.25::DOUBLE AS v, CASE WHEN range % 3 = 0 THEN NULL ELSE range END AS sparse FROM range(10000) ORDER BY range";
  const plain = await arrowQuery(sql, {});
  const expected = arrow.tableFromIPC(plain.body);
  // Without a codec, apache-arrow refuses a compressed stream: the compression is real.
  const zstdStream = await arrowQuery(sql, { 'x-arc-arrow-compression': ' ZSTD ', 'accept-encoding': 'gzip' });
  assert.equal(zstdStream.status, 200);
  assert.equal(zstdStream.headers['content-encoding'], undefined, 'Arrow compression is IPC-level, never HTTP');
  assert.throws(() => arrow.tableFromIPC(zstdStream.body), /codec not found/);
  compressionRegistry.set(arrow.CompressionType.ZSTD, { decode: (b) => zstd.decompress(b) });
  compressionRegistry.set(arrow.CompressionType.LZ4_FRAME, { decode: (b) => decompressFrameSync(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) });
  const lz4Stream = await arrowQuery(sql, { 'x-arc-arrow-compression': 'lz4' });
  for (const [name, stream] of [['zstd', zstdStream], ['lz4', lz4Stream]] as const) {
    const messages = messagesOf(stream.body);
    assert.ok(messages.compressed.length > 1 && messages.compressed.every(Boolean), `${name}: every batch carries BodyCompression`);
    const table = arrow.tableFromIPC(stream.body);
    assert.equal(table.numRows, 10000);
    for (const column of ['i', 'host', 'v', 'sparse']) assert.deepEqual([...table.getChild(column)!], [...expected.getChild(column)!], `${name} ${column}`);
    // polars checks the uncompressed-length prefix of every buffer
    const frame = pl.readIPCStream(stream.body);
    assert.deepEqual(frame.shape, { height: 10000, width: 4 });
    assert.deepEqual(frame.getColumn('host').toArray().slice(0, 3), ['host-0', 'host-1', 'host-2']);
    assert.equal(frame.getColumn('v').sum(), expected.getChild('v')!.toArray().reduce((a: number, b: number) => a + b, 0));
    assert.equal(frame.getColumn('sparse').nullCount(), Math.ceil(10000 / 3));
  }
  assert.ok(zstdStream.body.length < plain.body.length / 2 && lz4Stream.body.length < plain.body.length);

  // decimals arrive as Arc normalises them; one that does not fit int64 fails cleanly before the stream starts
  const decimals = arrow.tableFromIPC((await arrowQuery('SELECT 1.25::DECIMAL(6,2) AS d, 12::DECIMAL(4,0) AS d0', {})).body);
  assert.deepEqual(decimals.schema.fields.map((f) => String(f.type)), ['Float64', 'Int64']);
  assert.deepEqual([decimals.getChild('d')!.get(0), decimals.getChild('d0')!.get(0)], [1.25, 12n]);
  const overflow = await arrowQuery('SELECT 170141183460469231731687303715884105727::HUGEINT AS h', { 'x-arc-arrow-compression': 'zstd' });
  assert.equal(overflow.status, 500);
  assert.match(String((JSON.parse(overflow.body.toString()) as Record<string, unknown>).error), /^decimal cast failed at row 0/);

  for (const [name, value, message] of [
    ['x-arc-arrow-compression', 'gzip', 'invalid x-arc-arrow-compression: must be zstd or lz4'],
    ['x-arc-arrow-dictionary', 'yes', 'invalid x-arc-arrow-dictionary: must be true, 1, false or 0'],
  ] as const) {
    const refused = await arrowQuery('SELECT 1', { [name]: value });
    assert.equal(refused.status, 400);
    const body = JSON.parse(refused.body.toString()) as Record<string, unknown>;
    assert.deepEqual([body.success, body.error, body.code, body.header, body.value], [false, message, 'ARC_ERR_BAD_ARROW_OPTION', name, value]);
  }
});

test('Arrow: x-arc-arrow-dictionary encodes low-cardinality strings, resends the grown dictionary whole; combines with compression', async () => {
  // DuckDB chunks hold 2048 rows: the first decides (3 distinct hosts, 2048 distinct ids), later ones add hosts.
  const sql = "SELECT CASE WHEN range < 2048 THEN 'h' || (range % 3) ELSE 'g' || (range % 50) END AS host, 'id' || range AS id, range AS i FROM range(8192) ORDER BY range";
  const plain = await arrowQuery(sql, {});
  const expected = arrow.tableFromIPC(plain.body);
  const variants: Array<Record<string, string>> = [{ 'x-arc-arrow-dictionary': 'TRUE' }, { 'x-arc-arrow-dictionary': '1', 'x-arc-arrow-compression': 'zstd' }];
  for (const headers of variants) {
    const stream = await arrowQuery(sql, headers);
    assert.equal(stream.status, 200);
    const table = arrow.tableFromIPC(stream.body);
    assert.equal(String(table.schema.fields[0]!.type), 'Dictionary<Int32, Utf8>');
    assert.equal(String(table.schema.fields[1]!.type), 'Utf8', 'a column with more distinct values than rows/4 stays plain');
    assert.deepEqual([...table.getChild('host')!], [...expected.getChild('host')!]);
    assert.deepEqual([...table.getChild('id')!], [...expected.getChild('id')!]);
    const messages = messagesOf(stream.body);
    assert.ok(messages.dictionaryDeltas.length >= 2, 'the dictionary is sent again after it grew');
    assert.ok(messages.dictionaryDeltas.every((delta) => delta === false), 'full replacements, never deltas');
    assert.ok(messages.dictionaryDeltas.length < messages.header.filter((h) => h === 'RecordBatch').length, 'not resent when unchanged');
    const frame = pl.readIPCStream(stream.body);
    assert.deepEqual(frame.getColumn('host').cast(pl.Utf8).toArray(), [...expected.getChild('host')!]);
  }
  // a first batch under 256 rows: the stream is exactly the one without the header
  const small = "SELECT 'a' AS s FROM range(100)";
  const without = await arrowQuery(small, {});
  const withHeader = await arrowQuery(small, { 'x-arc-arrow-dictionary': 'true' });
  assert.equal(withHeader.body.toString('hex'), without.body.toString('hex'));
});

test('clients that hang up mid-result (msgpack spooling, compressed JSON, compressed Arrow) leave the server whole', async () => {
  const sql = "SELECT range AS i, 'some text to make rows wide ' || range AS t FROM range(2000000)";
  const hangUps = [
    ['/api/v1/query/msgpack', {}],
    ['/api/v1/query/msgpack', { 'accept-encoding': 'zstd' }],
    ['/api/v1/query', { 'accept-encoding': 'gzip' }],
    ['/api/v1/query/arrow', { 'x-arc-arrow-compression': 'lz4', 'x-arc-arrow-dictionary': 'true' }],
  ] as const;
  // More than query.max_concurrent (4): a session kept by an abandoned query would make the last ones wait forever.
  for (const [path, headers] of [...hangUps, ...hangUps]) {
    await new Promise<void>((resolve) => {
      const req = http.request(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        res.once('data', () => req.destroy());
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(sqlBody(sql));
      setTimeout(() => req.destroy(), 150); // msgpack answers only after the last row: hang up while it spools
    });
  }
  const answers = await Promise.all(Array.from({ length: 6 }, () => msgpackQuery('SELECT count(*) AS n FROM range(1000)')));
  for (const answer of answers) assert.deepEqual((unpackr.unpack(answer.body) as { data: unknown[][] }).data, [[1000n]]);
  assert.deepEqual(fs.readdirSync(path.join(server.root, '.spool')), [], 'spool files never linger');
});

test('helper routes: msgpack and line protocol stats from real counters, spec, health, schedulers', async () => {
  const before = (await get(server, '/api/v1/write/msgpack/stats')).json as { decoder: Record<string, number>; buffer: Record<string, number> };
  assert.equal((await writeMsgpack(server, encode({ m: 'stats', columns: { time: [u64(1_732_420_800_000_000)], v: [f64(1)] } }), 'wire')).status, 204);
  assert.equal((await writeMsgpack(server, Buffer.from([0xc1]), 'wire')).status, 400);
  const stats = (await get(server, '/api/v1/write/msgpack/stats')).json as typeof before;
  assert.deepEqual(Object.keys(stats.decoder), ['total_decoded', 'total_errors', 'error_rate', 'typed_decode_hits', 'typed_decode_misses']);
  assert.equal(stats.decoder.total_decoded! - before.decoder.total_decoded!, 1);
  assert.equal(stats.decoder.total_errors! - before.decoder.total_errors!, 1);
  assert.equal(stats.decoder.error_rate, stats.decoder.total_errors! / stats.decoder.total_decoded!);
  assert.equal(stats.buffer.total_records_buffered! - before.buffer.total_records_buffered!, 1);
  assert.deepEqual(Object.keys(stats.buffer), [
    'total_records_buffered', 'total_records_written', 'total_flushes', 'total_errors', 'total_wal_errors', 'total_wal_dropped',
    'total_schema_churn_exceeded', 'active_buffers', 'flush_queue_depth', 'flush_workers',
  ]);
  assert.equal(stats.buffer.flush_workers, 1);

  const lines = 'lp,host=a v=1 1732420800000000000\nlp,host=b v=2 1732420800000000000\n';
  const gzipped = zlib.gzipSync(lines);
  assert.equal((await post(server, '/api/v1/write/line-protocol', gzipped, { 'x-arc-database': 'wire' })).status, 204);
  const partlyBad = 'lp v=3 1732420800000000000\nbroken line\n';
  assert.equal((await post(server, '/api/v1/write/line-protocol', partlyBad, { 'x-arc-database': 'wire' })).status, 400);
  const lp = await get(server, '/api/v1/write/line-protocol/stats');
  assert.deepEqual(lp.json, {
    status: 'success',
    stats: { total_requests: 2, total_records: 3, total_bytes: gzipped.length + Buffer.byteLength(partlyBad), total_bytes_gzipped: gzipped.length, total_errors: 1 },
  });
  assert.deepEqual((await get(server, '/api/v1/write/line-protocol/health')).json, { status: 'healthy', service: 'line_protocol_writer' });
  const spec = await get(server, '/api/v1/write/msgpack/spec');
  assert.deepEqual(Object.keys(spec.json), ['version', 'protocol', 'endpoint', 'content_type', 'compression', 'authentication', 'format', 'example_columnar', 'example_row', 'performance']);
  assert.equal(spec.json.version, '2.0');
  const schedulers = await get(server, '/api/v1/schedulers');
  assert.equal(schedulers.status, 200);
  assert.deepEqual(schedulers.json.cq_scheduler, { running: true, license_valid: true, job_count: 0, jobs: [] });
  const retention = schedulers.json.retention_scheduler as Record<string, unknown>;
  assert.deepEqual([retention.running, retention.schedule, retention.license_valid], [true, '0 4 * * *', true]);
});

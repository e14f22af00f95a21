import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { InfluxDB as InfluxV2, Point } from '@influxdata/influxdb-client';
import Influx from 'influx';
import zstd from 'zstd-napi';
import { Reader } from './helpers/duckdb.js';
import { flush, get, post, startServer, type TestServer } from './helpers/server.js';

/** InfluxDB line protocol over HTTP (issue #4): endpoints, partial writes, and real InfluxDB clients. */
let server: TestServer;
let reader: Reader;

before(async () => {
  server = await startServer({ env: { ARC_SERVER_MAX_PAYLOAD_SIZE: '1MB' } });
  reader = await Reader.open();
});
after(async () => {
  reader.close();
  assert.equal(await server.stop(), 0);
});

const lp = (path: string, body: string | Buffer, headers: Record<string, string> = {}) => post(server, path, body, headers);

test('three endpoints, database from db / bucket / x-arc-database (the header wins)', async () => {
  assert.equal((await lp('/write?db=one&rp=autogen&u=x', 'm,src=write v=1 1700000000000000000')).status, 204);
  assert.equal((await lp('/api/v2/write?bucket=two&org=acme', 'm,src=v2 v=2 1700000000000000000')).status, 204);
  assert.equal((await lp('/api/v1/write/line-protocol', 'm,src=arc v=3 1700000000000000000', { 'x-arc-database': 'three' })).status, 204);
  assert.equal((await lp('/write?db=ignored', 'm,src=override v=4 1700000000000000000', { 'x-arc-database': 'three' })).status, 204);
  assert.equal((await lp('/api/v1/write/line-protocol', 'm,src=default v=5 1700000000000000000')).status, 204);
  await flush(server);
  const sources = async (db: string) => (await reader.rows(server.root, db, 'm')).map((r) => r.src).sort();
  assert.deepEqual(await sources('one'), ['write']);
  assert.deepEqual(await sources('two'), ['v2']);
  assert.deepEqual(await sources('three'), ['arc', 'override']);
  assert.deepEqual(await sources('default'), ['default']);
});

test('precision: ns (default), us, ms, s, and InfluxDB 1.x n, u, m, h; time stored in µs', async () => {
  const cases: Array<[string, string, bigint]> = [
    ['', '1700000000123456789', 1_700_000_000_123_456n],
    ['ns', '1700000000123456789', 1_700_000_000_123_456n],
    ['n', '-1500', -1n],
    ['us', '1700000000123456', 1_700_000_000_123_456n],
    ['u', '1700000000123456', 1_700_000_000_123_456n],
    ['ms', '1700000000123', 1_700_000_000_123_000n],
    ['s', '1700000000', 1_700_000_000_000_000n],
    ['m', '28333333', 1_699_999_980_000_000n],
    ['h', '472222', 1_699_999_200_000_000n],
  ];
  for (const [precision, stamp, micros] of cases) {
    const query = precision ? `&precision=${precision}` : '';
    const response = await lp(`/write?db=prec${query}`, `p,case=${precision || 'default'} v=1 ${stamp}`);
    assert.equal(response.status, 204, `${precision}: ${response.text}`);
    await flush(server);
    const rows = await reader.rows(server.root, 'prec', 'p');
    assert.equal(rows.find((r) => r.case === (precision || 'default'))!.time, micros, precision);
  }
  const bad = await lp('/write?db=prec&precision=d', 'p v=1');
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, {
    error: 'invalid precision "d": must be ns, us, ms, or s (or InfluxDB 1.x n, u, m, h)',
    code: 'ARC_ERR_INVALID_PRECISION',
    precision: 'd',
  });
});

test('a partial write stores the valid lines and reports the others with line numbers', async () => {
  const body = [
    '# a comment line',
    'weather,city=Paris temp=21.5,hum=60i 1700000000000000000',
    'weather,city=Oslo temp=1.5i 1700000001000000000',
    '',
    'weather,city=Rome temp=25.1,ok=tru 1700000002000000000',
    'weather,city=Madrid temp=30 1700000003000000000',
    'weather,city=Bern "no fields"',
    'weather,city=Lima note="unterminated 1700000004000000000',
    'weather,city=Kyiv temp=1 nope',
  ].join('\n');
  const response = await lp('/write?db=partial', body);
  assert.equal(response.status, 400);
  assert.deepEqual(response.json, {
    error: 'partial write: 5 of 7 lines rejected',
    code: 'ARC_ERR_PARTIAL_WRITE',
    rejected: 5,
    written: 2,
    lines: [
      { line: 3, reason: 'invalid integer "1.5i"' },
      { line: 5, reason: 'invalid boolean "tru"' },
      { line: 7, reason: response.json.lines && (response.json.lines as Array<{ reason: string }>)[2]!.reason },
      { line: 8, reason: 'unterminated string' },
      { line: 9, reason: 'invalid timestamp "nope"' },
    ],
  });
  assert.match((response.json.lines as Array<{ reason: string }>)[2]!.reason, /missing field/);
  await flush(server);
  const rows = await reader.rows(server.root, 'partial', 'weather');
  assert.deepEqual(
    rows.map((r) => [r.city, r.temp, r.hum]),
    [
      ['Paris', 21.5, 60n],
      ['Madrid', 30, null],
    ],
  );
});

test('bad requests: empty body, only comments, invalid database, too large, and compressed bodies', async () => {
  const empty = await lp('/write?db=x', '');
  assert.deepEqual([empty.status, empty.json.code, empty.json.error], [400, 'ARC_ERR_EMPTY_PAYLOAD', 'Empty request body']);
  const comments = await lp('/write?db=x', '# only\n\n# comments\n');
  assert.deepEqual([comments.status, comments.json.code, comments.json.error], [400, 'ARC_ERR_NO_RECORDS', 'No valid records in request']);
  const database = await lp('/write?db=9lives', 'm v=1');
  assert.deepEqual([database.status, database.json.code], [400, 'ARC_ERR_INVALID_DATABASE']);
  const big = await lp('/write?db=x', Buffer.alloc(1024 * 1024 + 1, 0x20));
  assert.deepEqual([big.status, big.json.code], [413, 'ARC_ERR_PAYLOAD_TOO_LARGE']);
  const bomb = await lp('/write?db=x', gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20)));
  assert.deepEqual([bomb.status, bomb.json.code], [400, 'ARC_ERR_DECOMPRESSED_TOO_LARGE']);

  const lines = Array.from({ length: 200 }, (_, i) => `zipped,n=${i % 7} v=${i} ${1_700_000_000_000_000_000n + BigInt(i)}`).join('\n');
  assert.equal((await lp('/write?db=zip', gzipSync(Buffer.from(lines)))).status, 204);
  assert.equal((await lp('/write?db=zip', zstd.compress(Buffer.from(lines)))).status, 204);
  await flush(server);
  assert.equal((await reader.rows(server.root, 'zip', 'zipped')).length, 400);
});

test('GET and HEAD /ping answer 204 with X-Influxdb-Version', async () => {
  const getPing = await get(server, '/ping');
  assert.equal(getPing.status, 204);
  assert.ok(getPing.headers.get('x-influxdb-version'));
  const headPing = await fetch(`${server.url}/ping`, { method: 'HEAD' });
  assert.equal(headPing.status, 204);
  assert.ok(headPing.headers.get('x-influxdb-version'));
});

test('@influxdata/influxdb-client (InfluxDB 2.x API) writes unchanged; values read back exactly', async () => {
  const client = new InfluxV2({ url: server.url, token: 'not-checked-yet' });
  const ping = await fetch(`${server.url}/ping`);
  assert.equal(ping.status, 204);
  const writeApi = client.getWriteApi('my-org', 'clientv2', 'ns');
  writeApi.useDefaultTags({ region: 'eu-west' });
  const base = 1_700_000_000_000_000_000n;
  const expected = [];
  for (let i = 0; i < 50; i++) {
    const temperature = 20 + i / 8;
    writeApi.writePoint(
      new Point('weather')
        .tag('location', i % 2 ? 'Prague' : 'Brno, CZ')
        .floatField('temperature', temperature)
        .intField('humidity', 40 + i)
        .uintField('visitors', 1000 + i)
        .booleanField('sunny', i % 3 === 0)
        .stringField('note', `day "${i}" \\ ok`)
        .timestamp(String(base + BigInt(i) * 1_000_000_000n)),
    );
    expected.push({
      time: (base + BigInt(i) * 1_000_000_000n) / 1000n,
      location: i % 2 ? 'Prague' : 'Brno, CZ',
      region: 'eu-west',
      temperature,
      humidity: BigInt(40 + i),
      visitors: BigInt(1000 + i),
      sunny: i % 3 === 0,
      note: `day "${i}" \\ ok`,
    });
  }
  await writeApi.close();
  await flush(server);
  const rows = await reader.rows(server.root, 'clientv2', 'weather');
  assert.deepEqual(rows, expected);
});

test('influx (InfluxDB 1.x API) writes unchanged; values read back exactly', async () => {
  const { port } = new URL(server.url);
  const influx = new Influx.InfluxDB({
    host: '127.0.0.1',
    port: Number(port),
    database: 'clientv1',
    schema: [
      {
        measurement: 'response_times',
        tags: ['host'],
        fields: { duration: Influx.FieldType.FLOAT, status: Influx.FieldType.INTEGER, path: Influx.FieldType.STRING, cached: Influx.FieldType.BOOLEAN },
      },
    ],
  });
  const pings = await influx.ping(2000);
  assert.ok(pings.every((p) => p.online), 'the 1.x client sees the server online');
  const base = Date.UTC(2024, 0, 1);
  const points = Array.from({ length: 30 }, (_, i) => ({
    measurement: 'response_times',
    tags: { host: `web-${i % 4}` },
    fields: { duration: i * 1.25, status: 200 + (i % 3), path: `/api/${i}`, cached: i % 2 === 0 },
    timestamp: new Date(base + i * 1000),
  }));
  await influx.writePoints(points, { precision: 'ms' });
  await influx.writeMeasurement('response_times', [{ tags: { host: 'late' }, fields: { duration: 9.5, status: 500, path: '/x', cached: false }, timestamp: new Date(base + 99_000) }], {
    precision: 's',
  });
  await flush(server);
  const rows = await reader.rows(server.root, 'clientv1', 'response_times');
  const expected = points.map((p) => ({
    time: BigInt(p.timestamp.getTime()) * 1000n,
    host: p.tags.host,
    duration: p.fields.duration,
    status: BigInt(p.fields.status),
    path: p.fields.path,
    cached: p.fields.cached,
  }));
  expected.push({ time: BigInt(base + 99_000) * 1000n, host: 'late', duration: 9.5, status: 500n, path: '/x', cached: false });
  assert.deepEqual(rows, expected);
});

import assert from 'node:assert/strict';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import zstd from 'zstd-napi';
import { Reader, quote, type Row } from './helpers/duckdb.js';
import { encode, f64, u64, type Value } from './helpers/msgpack.js';
import { flush, listFiles, startServer, writeMsgpack, type TestServer } from './helpers/server.js';

/**
 * Writes through POST /api/v1/write/msgpack, reads the Parquet files back with DuckDB: every
 * acknowledged record is there exactly once, with its values and types.
 */
let server: TestServer;
let reader: Reader;

before(async () => {
  server = await startServer();
  reader = await Reader.open();
});
after(async () => {
  reader.close();
  assert.equal(await server.stop(), 0);
});

let seed = 2024;
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};
const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;

/** An hour boundary, so random times spread over three UTC hours. */
const BASE_US = 1_732_424_400_000_000; // 2024-11-24T05:00:00Z
const THREE_HOURS_US = 3 * 3_600_000_000;

type Expected = Map<string, Row[]>;
const expectRows = (expected: Expected, db: string, m: string, rows: Row[]) => {
  const key = `${db}/${m}`;
  expected.set(key, [...(expected.get(key) ?? []), ...rows]);
};

/** Sorts rows into a canonical order for multiset comparison. */
function canonical(rows: Row[]): string[] {
  return rows.map((r) => JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k]]), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).sort();
}

async function assertStored(expected: Expected): Promise<void> {
  for (const [key, rows] of expected) {
    const [db, m] = key.split('/') as [string, string];
    const actual = await reader.rows(server.root, db, m);
    assert.equal(actual.length, rows.length, `${key}: row count`);
    assert.deepEqual(canonical(actual), canonical(rows), `${key}: rows`);
  }
}

/** Columnar payload of `n` random records, with time in the given unit. */
function columnarRecords(m: string, n: number, unit: 's' | 'ms' | 'us' | 'ns') {
  const rows: Row[] = [];
  const time: Value[] = [];
  const host: Value[] = [];
  const value: Value[] = [];
  const count: Value[] = [];
  const ok: Value[] = [];
  const note: Value[] = [];
  for (let i = 0; i < n; i++) {
    let micros = BASE_US + Math.floor(random() * THREE_HOURS_US);
    if (unit === 's') micros -= micros % 1_000_000;
    if (unit === 'ms') micros -= micros % 1000;
    const h = pick(['web-1', 'web-2', 'db-1', 'ünïcode ☃', '\uFEFFbom']);
    const v = Math.round(random() * 1e6) / 100 + 0.005;
    const c = Math.floor(random() * 2 ** 40) - 2 ** 39;
    const b = random() < 0.5;
    const s = random() < 0.3 ? null : pick(['a', 'b', 'c d', '']);
    time.push(unit === 's' ? micros / 1e6 : unit === 'ms' ? micros / 1e3 : unit === 'us' ? u64(micros) : u64(BigInt(micros) * 1000n + 999n));
    host.push(h);
    value.push(f64(v));
    count.push(c);
    ok.push(b);
    note.push(s);
    rows.push({ time: BigInt(micros), host: h, value: v, count: BigInt(c), ok: b, note: s });
  }
  return { payload: { m, columns: { time, host, value, count, ok, note } }, rows };
}

test('columnar writes to several databases and measurements land exactly once, over several hours', async () => {
  const expected: Expected = new Map();
  for (const db of ['default', 'prod', 'edge-1']) {
    for (const m of ['cpu', 'mem_used']) {
      for (const unit of ['s', 'ms', 'us', 'ns'] as const) {
        const { payload, rows } = columnarRecords(m, 150, unit);
        const response = await writeMsgpack(server, encode(payload), db === 'default' ? undefined : db);
        assert.equal(response.status, 204, response.text);
        assert.equal(response.text, '');
        expectRows(expected, db, m, rows);
      }
    }
  }
  await flush(server);
  await assertStored(expected);
  const types = await reader.types(path.join(server.root, 'prod', 'cpu', '**', '*.parquet'));
  assert.deepEqual(types, { time: 'TIMESTAMP WITH TIME ZONE', count: 'BIGINT', host: 'VARCHAR', note: 'VARCHAR', ok: 'BOOLEAN', value: 'DOUBLE' });
  const hours = new Set(listFiles(path.join(server.root, 'prod', 'cpu')).map((f) => f.split('/').slice(0, 4).join('/')));
  assert.deepEqual([...hours].sort(), ['2024/11/24/05', '2024/11/24/06', '2024/11/24/07']);
});

test('batch wrappers, top-level arrays and row items', async () => {
  const expected: Expected = new Map();
  const a = columnarRecords('batched', 40, 'us');
  const b = columnarRecords('batched', 60, 'ms');
  const c = columnarRecords('arrayed', 30, 's');
  assert.equal((await writeMsgpack(server, encode({ batch: [a.payload, b.payload] }), 'shapes')).status, 204);
  assert.equal((await writeMsgpack(server, encode([c.payload]), 'shapes')).status, 204);
  expectRows(expected, 'shapes', 'batched', [...a.rows, ...b.rows]);
  expectRows(expected, 'shapes', 'arrayed', c.rows);

  const rowItems: Value[] = [];
  const rows: Row[] = [];
  for (let i = 0; i < 50; i++) {
    const micros = BASE_US + i * 1_000_000;
    const region = pick(['eu', 'us']);
    rowItems.push({ m: 'legacy', t: u64(micros), h: `h${i % 3}`, tags: { region }, fields: { v: f64(i + 0.5), n: i } });
    rows.push({ time: BigInt(micros), host: `h${i % 3}`, region, v: i + 0.5, n: BigInt(i) });
  }
  assert.equal((await writeMsgpack(server, encode(rowItems), 'shapes')).status, 204);
  expectRows(expected, 'shapes', 'legacy', rows);
  await flush(server);
  await assertStored(expected);
  const tags = await reader.query(
    `SELECT DISTINCT decode(value) AS v FROM parquet_kv_metadata(${quote(path.join(server.root, 'shapes', 'legacy', '**', '*.parquet'))}) WHERE decode(key) = 'arc:tags'`,
  );
  assert.deepEqual(tags, [{ v: 'host,region' }]);
});

test('gzip and zstd bodies are recognised by their magic bytes, whatever Content-Encoding says', async () => {
  const expected: Expected = new Map();
  const plain = columnarRecords('compressed', 300, 'us');
  const gz = columnarRecords('compressed', 300, 'us');
  const zs = columnarRecords('compressed', 300, 'us');
  const stream = columnarRecords('compressed', 300, 'us');
  assert.equal((await writeMsgpack(server, encode(plain.payload), 'zip')).status, 204);
  assert.equal((await writeMsgpack(server, gzipSync(encode(gz.payload)), 'zip')).status, 204);
  assert.equal((await writeMsgpack(server, zstd.compress(encode(zs.payload)), 'zip')).status, 204);
  // A streaming zstd frame does not declare its size: decoded piece by piece.
  const streamed = await compressStreaming(encode(stream.payload));
  assert.equal(zstd.decompress(streamed).length > 0, true);
  const response = await fetch(`${server.url}/api/v1/write/msgpack`, { method: 'POST', body: streamed, headers: { 'x-arc-database': 'zip', 'content-encoding': 'gzip' } });
  assert.equal(response.status, 204);
  expectRows(expected, 'zip', 'compressed', [...plain.rows, ...gz.rows, ...zs.rows, ...stream.rows]);
  await flush(server);
  await assertStored(expected);
});

test('files: Arc layout and names, rows sorted by time, one UTC hour each, nothing half-written', async () => {
  const shuffled = columnarRecords('layout', 500, 'us');
  assert.equal((await writeMsgpack(server, encode(shuffled.payload), 'files')).status, 204);
  await flush(server);
  const files = listFiles(path.join(server.root, 'files'));
  assert.ok(files.length >= 3);
  for (const file of files) {
    assert.match(file, /^layout\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/layout_\d{8}_\d{6}_\d{9}\.parquet$/, file);
    const full = path.join(server.root, 'files', file);
    const [hourDir] = /\d{4}\/\d{2}\/\d{2}\/\d{2}/.exec(file)!;
    const [check] = await reader.query(
      `SELECT strftime(min(time), '%Y/%m/%d/%H') AS lo, strftime(max(time), '%Y/%m/%d/%H') AS hi,
              bool_and(coalesce(time >= prev, true)) AS sorted
         FROM (SELECT time, lag(time) OVER () AS prev FROM ${quote(full)})`,
    );
    assert.deepEqual(check, { lo: hourDir, hi: hourDir, sorted: true }, file);
  }
  assert.ok(listFiles(server.root).every((f) => !f.endsWith('.tmp')));
});

function compressStreaming(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = new zstd.CompressStream();
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.end(data);
  });
}

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Reader, quote } from './helpers/duckdb.js';
import { encode, f64, u64 } from './helpers/msgpack.js';
import { listFiles, post, startServer, writeMsgpack } from './helpers/server.js';

/** When buffers reach the disk: size, age, (not) schema changes, the flush endpoint, memory pressure, failures. */
const rows = (m: string, first: number, n: number, extra: Record<string, unknown[]> = {}) =>
  encode({
    m,
    columns: {
      time: Array.from({ length: n }, (_, i) => u64(1_732_000_000_000_000 + (first + i) * 1000)),
      seq: Array.from({ length: n }, (_, i) => first + i),
      ...(extra as Record<string, never>),
    },
  });

async function eventually(check: () => boolean, what: string, ms = 20000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function storedSeqs(root: string, db: string, m: string): Promise<number[]> {
  const reader = await Reader.open();
  try {
    return (await reader.rows(root, db, m, 'seq')).map((r) => Number(r.seq));
  } finally {
    reader.close();
  }
}

test('a buffer flushes when it reaches max_buffer_size rows, and when it reaches max_buffer_age_ms', async () => {
  const server = await startServer({ env: { ARC_INGEST_MAX_BUFFER_SIZE: '500', ARC_INGEST_MAX_BUFFER_AGE_MS: '300' } });
  try {
    assert.equal((await writeMsgpack(server, rows('bysize', 0, 600), 'f')).status, 204);
    await eventually(() => listFiles(path.join(server.root, 'f', 'bysize')).length > 0, 'the size flush');
    const started = Date.now(); // before the request: the buffer's first row cannot be older
    assert.equal((await writeMsgpack(server, rows('byage', 0, 10), 'f')).status, 204);
    await eventually(() => listFiles(path.join(server.root, 'f', 'byage')).length > 0, 'the age flush');
    assert.ok(Date.now() - started >= 290, 'not before its age');
    assert.deepEqual(await storedSeqs(server.root, 'f', 'byage'), Array.from({ length: 10 }, (_, i) => i));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('a write with other columns does not flush the buffer: new columns join it, NULL for the rows before', async () => {
  const server = await startServer({ env: { ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
  try {
    assert.equal((await writeMsgpack(server, rows('evolve', 0, 5, { v: [1, 2, 3, 4, 5].map((x) => f64(x)) }), 'f')).status, 204);
    assert.equal((await writeMsgpack(server, rows('evolve', 5, 5, { v: [6, 7, 8, 9, 10].map((x) => f64(x)) }), 'f')).status, 204);
    // Integers into the DOUBLE column widen; `w` is new.
    assert.equal((await writeMsgpack(server, rows('evolve', 10, 5, { v: [1, 2, 3, 4, 5], w: ['a', 'b', 'c', 'd', 'e'] }), 'f')).status, 204);
    assert.equal((await writeMsgpack(server, rows('evolve', 15, 2), 'f')).status, 204);
    assert.equal((await post(server, '/api/v1/write/line-protocol/flush')).status, 200, 'Arc\'s alias flushes too');
    const files = listFiles(path.join(server.root, 'f', 'evolve'));
    assert.equal(files.length, 1);
    const reader = await Reader.open();
    try {
      const full = path.join(server.root, 'f', 'evolve', files[0]!);
      const columns = await reader.query(`SELECT name, type FROM parquet_schema(${quote(full)}) WHERE name <> 'schema' ORDER BY name`);
      assert.equal(columns.map((c) => `${c.name}:${c.type}`).join(','), 'seq:INT64,time:INT64,v:DOUBLE,w:BYTE_ARRAY');
      const values = await reader.query(`SELECT seq::INT AS seq, v, w FROM ${quote(full)} ORDER BY seq`);
      assert.deepEqual(values.map((r) => [r.seq, r.v, r.w]), [
        ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v, i) => [i, v, null]),
        ...['a', 'b', 'c', 'd', 'e'].map((w, i) => [10 + i, i + 1, w]),
        [15, null, null],
        [16, null, null],
      ]);
    } finally {
      reader.close();
    }
    assert.deepEqual(await storedSeqs(server.root, 'f', 'evolve'), Array.from({ length: 17 }, (_, i) => i));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('over ingest.max_buffer_memory writes get 503 with Retry-After; after a flush they are taken again', async () => {
  const server = await startServer({
    env: { ARC_INGEST_MAX_BUFFER_MEMORY: '1MB', ARC_INGEST_MAX_BUFFER_SIZE: '10000000', ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' },
  });
  try {
    let accepted = 0;
    let refusal;
    for (let i = 0; i < 200 && refusal === undefined; i++) {
      const response = await writeMsgpack(server, rows('pressure', accepted, 5000), 'f');
      if (response.status === 204) accepted += 5000;
      else refusal = response;
    }
    assert.ok(refusal, 'the cap was reached');
    assert.equal(refusal.status, 503);
    assert.equal(refusal.headers.get('retry-after'), '1');
    assert.equal(refusal.json.code, 'ARC_ERR_BUFFER_FULL');
    assert.match(String(refusal.json.error), /exceeds ingest\.max_buffer_memory \(1MB\)/);
    assert.equal((await post(server, '/api/v1/write/flush')).status, 200);
    assert.equal((await writeMsgpack(server, rows('pressure', accepted, 10), 'f')).status, 204);
    accepted += 10;
    assert.equal((await post(server, '/api/v1/write/flush')).status, 200);
    assert.deepEqual(await storedSeqs(server.root, 'f', 'pressure'), Array.from({ length: accepted }, (_, i) => i), 'every accepted row, no refused one');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('a flush that fails keeps the rows, answers 500, and succeeds once the disk is fixed', async () => {
  const server = await startServer({ env: { ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
  try {
    // A file where the database directory must go: mkdir fails with ENOTDIR, even for root.
    fs.mkdirSync(server.root, { recursive: true });
    fs.writeFileSync(path.join(server.root, 'broken'), 'not a directory');
    assert.equal((await writeMsgpack(server, rows('m', 0, 100), 'broken')).status, 204);
    const failed = await post(server, '/api/v1/write/flush');
    assert.equal(failed.status, 500);
    assert.equal(failed.json.code, 'ARC_ERR_FLUSH_FAILED');
    assert.match(String(failed.json.error), /^Flush failed: .*(ENOTDIR|not a directory)/);
    assert.equal((await writeMsgpack(server, rows('m', 100, 100), 'broken')).status, 204, 'still taking writes');
    fs.unlinkSync(path.join(server.root, 'broken'));
    assert.equal((await post(server, '/api/v1/write/flush')).status, 200);
    assert.deepEqual(await storedSeqs(server.root, 'broken', 'm'), Array.from({ length: 200 }, (_, i) => i), 'no row lost or doubled');
    assert.match(server.output(), /flush failed; rows stay buffered and will be retried/);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

for (const [compression, codec] of [['zstd', 'ZSTD'], ['gzip', 'GZIP'], ['none', 'UNCOMPRESSED'], ['snappy', 'SNAPPY']] as const) {
  for (const writer of ['native', 'duckdb'] as const) {
    test(`ingest.compression=${compression} with the ${writer} writer`, async () => {
      const server = await startServer({ env: { ARC_INGEST_COMPRESSION: compression, ARC_INGEST_PARQUET_WRITER: writer } });
      try {
        // Already sorted and unsorted buffers take different paths to the encoder.
        assert.equal((await writeMsgpack(server, rows('sorted', 0, 300), 'c')).status, 204);
        assert.equal((await writeMsgpack(server, encode({ m: 'shuffled', columns: { time: [3, 1, 2].map((s) => u64(1_732_000_000_000_000 + s)), seq: [2, 0, 1] } }), 'c')).status, 204);
        assert.equal((await post(server, '/api/v1/write/flush')).status, 200);
        const reader = await Reader.open();
        try {
          const glob = path.join(server.root, 'c', '*', '**', '*.parquet');
          const codecs = await reader.query(`SELECT DISTINCT compression FROM parquet_metadata(${quote(glob)})`);
          assert.deepEqual(codecs, [{ compression: codec }]);
        } finally {
          reader.close();
        }
        assert.deepEqual(await storedSeqs(server.root, 'c', 'sorted'), Array.from({ length: 300 }, (_, i) => i));
        assert.deepEqual(await storedSeqs(server.root, 'c', 'shuffled'), [0, 1, 2]);
      } finally {
        assert.equal(await server.stop(), 0);
      }
    });
  }
}

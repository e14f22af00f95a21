import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import zstd from 'zstd-napi';
import { ArcError } from '../errors.js';
import { sniffEncoding } from './body-encoding.js';
import { DecodePool } from './decode-pool.js';

// The decode pool with its real worker threads (dist/src/ingest/decode-worker.js).

const pool = new DecodePool({ workers: 2, memoryBudget: 64 << 20 });
after(() => pool.close());

/** {m: "t", columns: {time: three µs timestamps as u64, v: [1.5, 2.5, 3.5]}} */
function threeRows(): Buffer {
  const bytes = [0x82, 0xa1, 0x6d, 0xa1, 0x74, 0xa7, ...Buffer.from('columns'), 0x82, 0xa4, ...Buffer.from('time'), 0x93];
  const times = Buffer.alloc(27);
  for (let i = 0; i < 3; i++) {
    times[i * 9] = 0xcf;
    times.writeBigUInt64BE(1_732_420_800_000_000n + BigInt(i), i * 9 + 1);
  }
  const out = Buffer.concat([Buffer.from(bytes), times, Buffer.from([0xa1, 0x76, 0x93])]);
  const values = Buffer.alloc(27);
  [1.5, 2.5, 3.5].forEach((v, i) => {
    values[i * 9] = 0xcb;
    values.writeDoubleBE(v, i * 9 + 1);
  });
  return Buffer.concat([out, values]);
}

/** zstd without the content size in the frame header: what a streaming compressor sends. */
function zstdWithoutSize(body: Buffer): Buffer {
  const compressor = new zstd.Compressor();
  compressor.setParameters({ contentSizeFlag: false });
  return compressor.compress(body);
}

test('a compressed msgpack body decodes in a worker to the same rows', async () => {
  const raw = zstd.compress(threeRows());
  const decoded = await pool.decode('msgpack', raw, sniffEncoding(raw), 1 << 20, 0);
  assert.equal(decoded.rowCount, 3);
  assert.equal(decoded.batches.length, 1);
  const batch = decoded.batches[0]!;
  assert.equal(batch.measurement, 't');
  const v = batch.columns.find((c) => c.name === 'v')!;
  assert.equal(v.type, 'float64');
  assert.deepEqual([...(v.values as Float64Array)], [1.5, 2.5, 3.5]);
  assert.equal(pool.reservedBytes, 0, 'the reservation is released');
});

test('line protocol decodes in a worker with counts and rejected lines', async () => {
  const raw = zstd.compress(Buffer.from('cpu,h=a v=1 1000000000\nbad line\ncpu,h=b v=2 2000000000\n'));
  const decoded = await pool.decode('line-protocol', raw, sniffEncoding(raw), 1 << 20, 0, 'ns');
  assert.equal(decoded.lines?.lines, 3);
  assert.equal(decoded.lines?.written, 2);
  assert.equal(decoded.lines?.rejected, 1);
  assert.equal(decoded.batches[0]!.rowCount, 2);
});

test('errors from the worker keep their code: bad MessagePack, and a bomb past the limit', async () => {
  const bad = zstd.compress(Buffer.from([0xc1]));
  await assert.rejects(pool.decode('msgpack', bad, 'zstd', 1 << 20, 0), (err: unknown) => err instanceof ArcError && err.code === 'ARC_ERR_BAD_MSGPACK');
  const bomb = zstdWithoutSize(Buffer.alloc(8 << 20));
  await assert.rejects(pool.decode('msgpack', bomb, 'zstd', 1 << 20, 0), (err: unknown) => err instanceof ArcError && err.code === 'ARC_ERR_DECOMPRESSED_TOO_LARGE');
  assert.equal(pool.reservedBytes, 0);
});

test('past the memory budget a second body is refused with 503 and Retry-After; one alone is admitted', async () => {
  // Without a declared size each body reserves twice the limit (2 × 48 MB > 64 MB budget).
  const unknownSize = zstdWithoutSize(threeRows());
  const first = pool.decode('msgpack', unknownSize, 'zstd', 48 << 20, 0);
  await assert.rejects(pool.decode('msgpack', unknownSize, 'zstd', 48 << 20, 0), (err: unknown) => {
    assert.ok(err instanceof ArcError);
    assert.equal(err.code, 'ARC_ERR_DECODE_BUSY');
    assert.equal(err.status, 503);
    assert.equal(err.headers['Retry-After'], '1');
    return true;
  });
  assert.equal((await first).rowCount, 3, 'the body admitted alone decodes');
  assert.equal((await pool.decode('msgpack', unknownSize, 'zstd', 48 << 20, 0)).rowCount, 3, 'and the next one, once it is done');
});

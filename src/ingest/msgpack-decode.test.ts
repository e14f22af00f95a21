import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode, ext, f32, f64, i64, raw, u64, type Value } from '../../test/helpers/msgpack.js';
import type { Column, ColumnBatch } from '../columnar/column-batch.js';
import { StringInterner } from '../columnar/string-interner.js';
import { ArcError } from '../errors.js';
import { decodeMsgpackPayload } from './msgpack-decode.js';
import { decodeUtf8 } from './msgpack-reader.js';

const NOW = 1_732_000_000_000_000; // µs
const interner = new StringInterner(decodeUtf8);
const decode = (value: Value | Buffer) =>
  decodeMsgpackPayload(Buffer.isBuffer(value) ? value : encode(value), { interner, nowMicros: () => NOW });

/** A batch as plain data: column → [type, values with null]. */
function simple(batch: ColumnBatch) {
  const columns: Record<string, [string, unknown[]]> = {};
  for (const column of batch.columns) columns[column.name] = [column.type, valuesOf(column, batch.rowCount)];
  return { m: batch.measurement, time: Array.from(batch.time.subarray(0, batch.rowCount), Number), columns, tags: batch.tagColumns };
}

function valuesOf(column: Column, n: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    if (column.valid && !column.valid[i]) out.push(null);
    else if (column.type === 'string') out.push(column.dictionary[column.ids[i]!]);
    else if (column.type === 'bool') out.push(column.values[i] === 1);
    else out.push(column.values[i]);
  }
  return out;
}

function check(payload: Value | Buffer, expected: ReturnType<typeof simple>[]) {
  const result = decode(payload);
  assert.deepEqual(result.batches.map((b) => simple(b.batch)), expected);
}

function fails(payload: Value | Buffer, code: string, message: string | RegExp, details: Record<string, unknown> = {}) {
  assert.throws(
    () => decode(payload),
    (err: unknown) => {
      assert.ok(err instanceof ArcError, `expected ArcError, got ${String(err)}`);
      assert.equal(err.code, code);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      for (const [k, v] of Object.entries(details)) assert.deepEqual(err.details[k], v, `details.${k}`);
      return true;
    },
  );
}

test('columnar item: types from the first non-null value, NULLs kept', () => {
  check({ m: 'cpu', columns: { time: [1_700_000_000_000_000, 1_700_000_000_000_001], host: ['a', 'b'], v: [f64(1), 2.5], n: [null, 7], ok: [true, null] } }, [
    {
      m: 'cpu',
      time: [1_700_000_000_000_000, 1_700_000_000_000_001],
      columns: { host: ['string', ['a', 'b']], n: ['int64', [null, 7n]], ok: ['bool', [true, null]], v: ['float64', [1, 2.5]] },
      tags: null,
    },
  ]);
});

test('float64 1.0 makes a DOUBLE column, int 1 a BIGINT one', () => {
  check({ m: 'x', columns: { time: [1, 2], a: [f64(1), f64(2)], b: [1, 2], c: [f32(1.5), 2] } }, [
    {
      m: 'x',
      time: [1_000_000, 2_000_000],
      columns: { a: ['float64', [1, 2]], b: ['int64', [1n, 2n]], c: ['float64', [1.5, 2]] },
      tags: null,
    },
  ]);
});

test('integers and floats in one column widen to DOUBLE, in either order', () => {
  const r1 = simple(decode({ m: 'x', columns: { time: [1, 2, 3], v: [1, 2.5, u64(3)] } }).batches[0]!.batch);
  assert.deepEqual(r1.columns.v, ['float64', [1, 2.5, 3]]);
  const r2 = simple(decode({ m: 'x', columns: { time: [1, 2], v: [2.5, i64(-9)] } }).batches[0]!.batch);
  assert.deepEqual(r2.columns.v, ['float64', [2.5, -9]]);
});

test('64-bit integers are exact; uint64 above int64 max is refused', () => {
  const r = simple(decode({ m: 'x', columns: { time: [1, 2, 3], v: [i64(2n ** 63n - 1n), i64(-(2n ** 63n)), u64(2n ** 53n + 1n)] } }).batches[0]!.batch);
  assert.deepEqual(r.columns.v, ['int64', [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n]]);
  fails({ m: 'x', columns: { v: [1, u64(2n ** 64n - 1n)] } }, 'ARC_ERR_TYPE_CONFLICT', /value 18446744073709551615 in column 'v' does not fit/, { column: 'v', row: 1 });
});

test('a column of only NULLs is VARCHAR, all NULL', () => {
  const r = simple(decode({ m: 'x', columns: { time: [1, 2], z: [null, null] } }).batches[0]!.batch);
  assert.deepEqual(r.columns.z, ['string', [null, null]]);
});

test('strings are byte-exact: a leading BOM is data, bad UTF-8 becomes U+FFFD', () => {
  const r = simple(decode({ m: 'x', columns: { time: [1, 2, 3], s: ['\uFEFFhello', 'é ☃ 𝄞', ''] } }).batches[0]!.batch);
  assert.deepEqual(r.columns.s, ['string', ['\uFEFFhello', 'é ☃ 𝄞', '']]);
  const bad = encode({ m: 'x', columns: { s: [raw([0xa3, 0xff, 0x61, 0x62])] } });
  assert.deepEqual(simple(decode(bad).batches[0]!.batch).columns.s, ['string', ['\uFFFDab']]);
});

test('time unit comes from element 0: s, ms, µs, ns; floats truncate; negatives are seconds', () => {
  const t = (values: Value[]) => simple(decode({ m: 'x', columns: { time: values, v: values.map(() => 1) } }).batches[0]!.batch).time;
  assert.deepEqual(t([1_700_000_000, 1_700_000_001]), [1_700_000_000_000_000, 1_700_000_001_000_000]);
  assert.deepEqual(t([1_700_000_000_123, 5]), [1_700_000_000_123_000, 5_000]);
  assert.deepEqual(t([1_700_000_000_123_456, 7]), [1_700_000_000_123_456, 7]);
  assert.deepEqual(t([u64(1_700_000_000_123_456_789n), i64(-1_500n)]), [1_700_000_000_123_456, -1]);
  assert.deepEqual(t([f64(1_700_000_000.9), f64(-0.5)]), [1_700_000_000_000_000, 0]);
  assert.deepEqual(t([-5, 0]), [-5_000_000, 0]);
});

test('a missing or empty time column means the server time for every row', () => {
  assert.deepEqual(simple(decode({ m: 'x', columns: { v: [1, 2] } }).batches[0]!.batch).time, [NOW, NOW]);
  assert.deepEqual(decode({ m: 'x', columns: { time: [], v: [] } }).batches, []);
});

test('bad times are refused with the element index', () => {
  const prefix = 'Invalid MessagePack payload: failed to normalize timestamps: ';
  fails({ m: 'x', columns: { time: ['x'], v: [1] } }, 'ARC_ERR_INVALID_ITEM', `${prefix}invalid timestamp type in columnar format: string`);
  fails({ m: 'x', columns: { time: [1, null], v: [1, 2] } }, 'ARC_ERR_INVALID_ITEM', `${prefix}invalid timestamp type at index 1: nil`);
  fails({ m: 'x', columns: { time: [1, f64(NaN)], v: [1, 2] } }, 'ARC_ERR_INVALID_ITEM', /index 1 is not a finite number/);
  // Element 0 says milliseconds; the second element is then far beyond year 9999.
  fails({ m: 'x', columns: { time: [1_700_000_000_000, u64(2n ** 64n - 1n)], v: [1, 2] } }, 'ARC_ERR_INVALID_ITEM', /timestamp 18446744073709551615 at index 1 is outside years 1 to 9999 \(read as ms\)/);
  // As the first element, the same value is a valid nanosecond time (in 2554), not garbage.
  assert.deepEqual(simple(decode({ m: 'x', columns: { time: [u64(2n ** 64n - 1n)], v: [1] } }).batches[0]!.batch).time, [18_446_744_073_709_551]);
  fails({ m: 'x', columns: { time: [-1e12], v: [1] } }, 'ARC_ERR_INVALID_ITEM', /outside years 1 to 9999 \(read as s\)/);
});

test('measurement: strings as is, integers as measurement_<n>, other types refused', () => {
  assert.equal(decode({ m: -7, columns: { v: [1] } }).batches[0]!.batch.measurement, 'measurement_-7');
  fails({ columns: { v: [1] } }, 'ARC_ERR_INVALID_ITEM', "Invalid MessagePack payload: missing required field 'm' (measurement)", { item: 0 });
  fails({ m: null, columns: { v: [1] } }, 'ARC_ERR_INVALID_ITEM', "Invalid MessagePack payload: missing required field 'm' (measurement)");
  fails({ m: 1.5, columns: { v: [1] } }, 'ARC_ERR_INVALID_ITEM', 'Invalid MessagePack payload: invalid measurement type: float64');
});

test('columnar shape errors name the column', () => {
  fails({ m: 'x', columns: {} }, 'ARC_ERR_INVALID_ITEM', "Invalid MessagePack payload: columnar format requires non-empty 'columns' dict");
  fails({ m: 'x', columns: { a: [1], b: [1, 2] } }, 'ARC_ERR_INVALID_ITEM', "Invalid MessagePack payload: columnar format: array length mismatch (expected 1, got 2 for 'b')", { column: 'b' });
  fails({ m: 'x', columns: { a: 5 } }, 'ARC_ERR_INVALID_ITEM', "Invalid MessagePack payload: column 'a' must be an array, got uint8", { column: 'a' });
  fails({ m: 'x', columns: 'no' }, 'ARC_ERR_INVALID_ITEM', /'columns' must be a map/);
  fails({ m: 'x', columns: { V: [1], v: [2] } }, 'ARC_ERR_INVALID_ITEM', /columns 'V' and 'v' differ only in case/);
  fails({ m: 'x', columns: { '': [1] } }, 'ARC_ERR_INVALID_ITEM', /a column name is empty/);
  fails({ m: 'x', columns: new Map<Value, Value>([[1, [1]]]) }, 'ARC_ERR_INVALID_ITEM', /column names must be strings/);
});

test('a type conflict inside a column is a 400 naming the column and row', () => {
  fails({ m: 'x', columns: { v: [1.5, 'x'] } }, 'ARC_ERR_TYPE_CONFLICT', "Invalid MessagePack payload: type conflict in column 'v': a string value among float values (row 1)", {
    column: 'v',
    row: 1,
  });
  fails({ m: 'x', columns: { v: [true, 1] } }, 'ARC_ERR_TYPE_CONFLICT', /an integer value among bool values/);
  fails({ m: 'x', columns: { v: ['a', false] } }, 'ARC_ERR_TYPE_CONFLICT', /a bool value among string values/);
  fails({ m: 'x', columns: { v: [Uint8Array.from([1])] } }, 'ARC_ERR_TYPE_CONFLICT', /unsupported type binary/);
  fails({ m: 'x', columns: { v: [[1]] } }, 'ARC_ERR_TYPE_CONFLICT', /unsupported type array/);
  fails({ m: 'x', columns: { v: [{ a: 1 }] } }, 'ARC_ERR_TYPE_CONFLICT', /unsupported type map/);
  fails({ m: 'x', columns: { v: [ext(5, Uint8Array.from([1]))] } }, 'ARC_ERR_TYPE_CONFLICT', /unsupported type extension/);
});

test('batch wrapper and top-level array: every item, all or nothing, errors name the item', () => {
  const a = { m: 'a', columns: { time: [1], v: [1] } };
  const b = { m: 'b', columns: { time: [2], v: [2] } };
  assert.deepEqual(decode({ batch: [a, b] }).batches.map((x) => [x.item, x.batch.measurement]), [[0, 'a'], [1, 'b']]);
  assert.deepEqual(decode([a, b]).batches.map((x) => [x.item, x.batch.measurement]), [[0, 'a'], [1, 'b']]);
  assert.equal(decode({ m: 'ignored', columns: { v: [9] }, batch: [a] }).batches.length, 1, '`batch` wins over columns');
  assert.equal(decode({ batch: [a] }).multiItem, true);
  fails({ batch: [a, 'oops'] }, 'ARC_ERR_INVALID_ITEM', 'Invalid MessagePack payload: item 1: expected a map, got string', { item: 1 });
  fails([a, b, { m: 'c' }], 'ARC_ERR_INVALID_ITEM', "Invalid MessagePack payload: item 2: missing required field 'fields' or 'f'", { item: 2 });
  fails([a, { m: 'x', columns: { v: [1, 'x'] } }], 'ARC_ERR_TYPE_CONFLICT', /^Invalid MessagePack payload: item 1: type conflict in column 'v'/, { item: 1 });
  assert.deepEqual(decode([]).batches, []);
});

test('row items: host from h, tags as text, fields or f, NULL back-fill, field named like a tag', () => {
  const result = decode([
    { m: 'cpu', t: 1_700_000_000_000, h: 'web1', tags: { region: 'eu', n: 5, x: 1.5, big: f64(1e6), b: true, host: 'ignored' }, fields: { v: 1, region: 'f' } },
    { m: 'cpu', t: 1_700_000_001, h: 7, fields: { v: f64(2), w: 'z' } },
    { m: 'cpu', f: [f64(3), 4] },
    { m: 'mem', fields: {} },
  ]);
  assert.deepEqual(
    result.batches.map((b) => simple(b.batch)),
    [
      {
        m: 'cpu',
        time: [1_700_000_000_000_000, 1_700_000_001_000_000, NOW],
        columns: {
          b: ['string', ['true', null, null]],
          big: ['string', ['1e+06', null, null]],
          field_0: ['float64', [null, null, 3]],
          field_1: ['int64', [null, null, 4n]],
          host: ['string', ['web1', 'host_7', 'unknown']],
          n: ['string', ['5', null, null]],
          region: ['string', ['eu', null, null]],
          region_value: ['string', ['f', null, null]],
          v: ['float64', [1, 2, null]],
          w: ['string', [null, 'z', null]],
          x: ['string', ['1.5', null, null]],
        },
        tags: ['b', 'big', 'host', 'n', 'region', 'x'],
      },
      { m: 'mem', time: [NOW], columns: { host: ['string', ['unknown']] }, tags: ['host'] },
    ],
  );
});

test('row item errors', () => {
  fails({ m: 'x', fields: { a: 1 }, t: 'now' }, 'ARC_ERR_INVALID_ITEM', 'Invalid MessagePack payload: invalid timestamp type: string');
  fails({ m: 'x', fields: 5 }, 'ARC_ERR_INVALID_ITEM', /'fields' must be a map, got uint8/);
  fails({ m: 'x', f: 'a' }, 'ARC_ERR_INVALID_ITEM', /'f' must be an array/);
  fails({ m: 'x', fields: { a: 1 }, tags: [1] }, 'ARC_ERR_INVALID_ITEM', /'tags' must be a map/);
  fails({ m: 'x', fields: { a: 1 }, tags: { t: [1] } }, 'ARC_ERR_INVALID_ITEM', /tag 't' has a value of unsupported type array/);
  fails({ m: 'x', fields: { time: 1 } }, 'ARC_ERR_INVALID_ITEM', /field 'time' collides with the time column/);
  fails([{ m: 'x', fields: { a: 'text' } }, { m: 'x', fields: { a: 1 } }], 'ARC_ERR_TYPE_CONFLICT', "Invalid MessagePack payload: item 1: type conflict in column 'a': an integer value among string values", {
    item: 1,
    column: 'a',
  });
});

test('malformed payloads', () => {
  fails(Buffer.from([0xff, 0xff, 0xff]), 'ARC_ERR_BAD_MSGPACK', 'Invalid MessagePack payload: failed to unmarshal msgpack: 2 unexpected bytes after the payload');
  fails(Buffer.from([0x91, 0x81, 0xa1, 0x6d]), 'ARC_ERR_BAD_MSGPACK', /failed to unmarshal msgpack: unexpected end of data/);
  fails(Buffer.from([0x81, 0xa1, 0x6d]), 'ARC_ERR_BAD_MSGPACK', /unexpected end of data/);
  fails(Buffer.from([0xc1]), 'ARC_ERR_BAD_MSGPACK', /invalid type byte 0xc1/);
  fails('hello', 'ARC_ERR_BAD_MSGPACK', 'Invalid MessagePack payload: unsupported msgpack payload type: string');
  fails(42, 'ARC_ERR_BAD_MSGPACK', 'Invalid MessagePack payload: unsupported msgpack payload type: uint8');
  fails(Buffer.alloc(0), 'ARC_ERR_BAD_MSGPACK', /unexpected end of data/);
});

test('repeated strings are interned across requests without changing values', () => {
  for (let round = 0; round < 3; round++) {
    const hosts = Array.from({ length: 50 }, (_, i) => `h${(i * 7 + round) % 13}`);
    const r = simple(decode({ m: 'x', columns: { host: hosts } }).batches[0]!.batch);
    assert.deepEqual(r.columns.host, ['string', hosts]);
  }
});

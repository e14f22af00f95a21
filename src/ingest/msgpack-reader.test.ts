import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import { StringInterner } from '../columnar/string-interner.js';
import { decodeMsgpackPayload } from './msgpack-decode.js';
import { Kind, MsgpackReader, decodeUtf8 } from './msgpack-reader.js';

/**
 * The hand-written reader and decoder against msgpackr, the well-kept library, on the same bytes:
 * msgpackr encodes random values, both decode them, results must agree.
 */
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

class Random {
  constructor(private s: number) {}
  next(): number {
    this.s ^= this.s << 13;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5;
    return (this.s >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function randomScalar(r: Random): unknown {
  switch (r.int(9)) {
    case 0: return null;
    case 1: return r.next() < 0.5;
    case 2: return r.int(256) - 128;
    case 3: return r.int(2 ** 31) * (r.next() < 0.5 ? -1 : 1);
    case 4: return BigInt(r.int(2 ** 31)) * 2n ** 31n + BigInt(r.int(2 ** 31)); // beyond 2^53
    case 5: return -(BigInt(r.int(2 ** 31)) * 2n ** 31n) - 1n;
    case 6: return r.next() * 1e6 - 5e5 + 0.25; // never integral
    case 7: return 'x'.repeat(r.int(40)) + String.fromCodePoint(0x20 + r.int(0x2000));
    default: return 'é'.repeat(r.int(300)); // str8/str16 headers
  }
}

function randomValue(r: Random, depth: number): unknown {
  if (depth > 3 || r.next() < 0.5) return randomScalar(r);
  if (r.next() < 0.5) return Array.from({ length: r.int(20) }, () => randomValue(r, depth + 1));
  const obj: Record<string, unknown> = {};
  for (let i = r.int(20); i > 0; i--) obj[`k${r.int(1000)}`] = randomValue(r, depth + 1);
  return obj;
}

/** Rebuilds a JS value with the reader, the way the decoders walk payloads. */
function readValue(reader: MsgpackReader): unknown {
  switch (reader.kind()) {
    case Kind.Nil:
      reader.pos++;
      return null;
    case Kind.Bool:
      return reader.readBool();
    case Kind.Int:
    case Kind.Uint: {
      const n = reader.readInteger();
      return Number.isNaN(n) ? reader.bigValue : n;
    }
    case Kind.Float:
      return reader.readFloat();
    case Kind.Str:
      return reader.readString();
    case Kind.Array:
      return Array.from({ length: reader.readArrayHeader() }, () => readValue(reader));
    case Kind.Map: {
      const obj: Record<string, unknown> = {};
      for (let i = reader.readMapHeader(); i > 0; i--) {
        const key = reader.readString()!;
        obj[key] = readValue(reader);
      }
      return obj;
    }
    default:
      throw new Error(`unexpected kind at ${reader.pos}`);
  }
}

/** msgpackr returns bigints for every 64-bit encoding; the reader only beyond ±2^53. */
function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value;
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  return value;
}

test('the reader decodes what msgpackr encodes, value for value, and skip() lands on the end', () => {
  const r = new Random(12345);
  for (let i = 0; i < 500; i++) {
    const value = randomValue(r, 0);
    const bytes = packr.pack(value);
    const reader = new MsgpackReader(bytes);
    assert.deepEqual(normalise(readValue(reader)), normalise(unpackr.unpack(bytes)), `payload ${i}`);
    assert.ok(reader.atEnd);
    const skipper = new MsgpackReader(bytes);
    skipper.skip();
    assert.equal(skipper.pos, bytes.length);
  }
});

test('the columnar decoder agrees with msgpackr plus the type rules on random payloads', () => {
  const r = new Random(777);
  const interner = new StringInterner(decodeUtf8);
  for (let i = 0; i < 300; i++) {
    const rows = 1 + r.int(60);
    const kinds = ['float', 'int', 'string', 'bool'] as const;
    const columns: Record<string, unknown[]> = { time: Array.from({ length: rows }, (_, k) => 1_700_000_000_000_000 + k * 1000 + r.int(999)) };
    for (let c = r.int(6) + 1; c > 0; c--) {
      const kind = kinds[r.int(kinds.length)]!;
      columns[`c${c}_${kind}`] = Array.from({ length: rows }, () => {
        if (r.next() < 0.15) return null;
        if (kind === 'float') return r.next() * 100 - 50 + 0.125;
        // msgpackr sends integers beyond 32 bits as float64 (the decoder then rightly makes DOUBLE).
        if (kind === 'int') return r.int(2 ** 32) - 2 ** 31;
        if (kind === 'string') return `v${r.int(20)}${r.next() < 0.1 ? '\uFEFF☃' : ''}`;
        return r.next() < 0.5;
      });
    }
    const bytes = packr.pack({ m: 'metric', columns });
    const reference = unpackr.unpack(bytes) as { m: string; columns: Record<string, unknown[]> };
    const [decoded] = decodeMsgpackPayload(bytes, { interner, nowMicros: () => 0 }).batches;
    const batch = decoded!.batch;
    assert.equal(batch.measurement, reference.m);
    assert.deepEqual(Array.from(batch.time, Number), (reference.columns.time as Array<number | bigint>).map(Number));
    for (const column of batch.columns) {
      const expected = reference.columns[column.name]!.map((v) => (typeof v === 'bigint' ? Number(v) : v));
      const actual: unknown[] = [];
      for (let k = 0; k < batch.rowCount; k++) {
        if (column.valid && !column.valid[k]) actual.push(null);
        else if (column.type === 'string') actual.push(column.dictionary[column.ids[k]!]);
        else if (column.type === 'bool') actual.push(column.values[k] === 1);
        else actual.push(Number(column.values[k]));
      }
      assert.deepEqual(actual, expected, `payload ${i} column ${column.name}`);
      const firstKind = column.name.split('_')[1];
      const nonNull = expected.some((v) => v !== null);
      const expectedType = !nonNull ? 'string' : { float: 'float64', int: 'int64', string: 'string', bool: 'bool' }[firstKind!];
      assert.equal(column.type, expectedType, `payload ${i} column ${column.name} type`);
    }
  }
});

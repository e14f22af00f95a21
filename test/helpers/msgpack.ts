/**
 * A MessagePack encoder for tests that states wire types exactly: plain JS numbers encode as the
 * smallest integer when integral and float64 otherwise; wrap a value to force a type
 * (`f64(1)` is float64 1.0, `f32(1.5)`, `u64(5)` is uint64, `i64(…)`), like clients in other
 * languages do. Maps keep insertion order; use a Map for non-string keys or duplicate-free order.
 */
export class Forced {
  constructor(
    readonly kind: 'f64' | 'f32' | 'u64' | 'i64' | 'ext' | 'raw',
    readonly value: number | bigint | Uint8Array,
    readonly extType = 0,
  ) {}
}

export const f64 = (v: number) => new Forced('f64', v);
export const f32 = (v: number) => new Forced('f32', v);
export const u64 = (v: number | bigint) => new Forced('u64', BigInt(v));
export const i64 = (v: number | bigint) => new Forced('i64', BigInt(v));
export const ext = (type: number, data: Uint8Array) => new Forced('ext', data, type);
/** Bytes inserted as they are (for malformed payloads). */
export const raw = (bytes: number[]) => new Forced('raw', Uint8Array.from(bytes));

export type Value = null | boolean | number | bigint | string | Uint8Array | Forced | Value[] | Map<Value, Value> | { [key: string]: Value };

export function encode(value: Value): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(value: Value, out: Buffer[]): void {
  if (value === null) out.push(Buffer.from([0xc0]));
  else if (value === true) out.push(Buffer.from([0xc3]));
  else if (value === false) out.push(Buffer.from([0xc2]));
  else if (typeof value === 'number') {
    if (Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER) writeInt(BigInt(value), out);
    else out.push(float64(value));
  } else if (typeof value === 'bigint') writeInt(value, out);
  else if (typeof value === 'string') writeStr(Buffer.from(value, 'utf8'), out);
  else if (value instanceof Uint8Array) {
    out.push(header(value.length, [0xc4, 0xc5, 0xc6], null));
    out.push(Buffer.from(value));
  } else if (value instanceof Forced) writeForced(value, out);
  else if (Array.isArray(value)) {
    out.push(header(value.length, [0xdc, 0xdc, 0xdd], 0x90));
    for (const item of value) write(item, out);
  } else if (value instanceof Map) {
    out.push(header(value.size, [0xde, 0xde, 0xdf], 0x80));
    for (const [k, v] of value) {
      write(k, out);
      write(v, out);
    }
  } else {
    const entries = Object.entries(value);
    out.push(header(entries.length, [0xde, 0xde, 0xdf], 0x80));
    for (const [k, v] of entries) {
      write(k, out);
      write(v, out);
    }
  }
}

/** Strings always use their smallest header (fixstr < 32, str8, str16, str32). */
export function writeStr(bytes: Buffer, out: Buffer[]): void {
  if (bytes.length < 32) out.push(Buffer.from([0xa0 | bytes.length]));
  else out.push(header(bytes.length, [0xd9, 0xda, 0xdb], null));
  out.push(bytes);
}

/** Length header: fix form when `fix` is given and n < 16, else 8/16/32-bit forms (first entry for 8-bit). */
function header(n: number, codes: [number, number, number], fix: number | null): Buffer {
  if (fix !== null && n < 16) return Buffer.from([fix | n]);
  if (n < 256 && codes[0] !== codes[1]) return Buffer.from([codes[0], n]);
  if (n < 65536) {
    const b = Buffer.alloc(3);
    b[0] = codes[1];
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = codes[2];
  b.writeUInt32BE(n, 1);
  return b;
}

function writeInt(v: bigint, out: Buffer[]): void {
  if (v >= 0n && v < 128n) out.push(Buffer.from([Number(v)]));
  else if (v < 0n && v >= -32n) out.push(Buffer.from([Number(v) & 0xff]));
  else if (v >= 0n && v < 256n) out.push(Buffer.from([0xcc, Number(v)]));
  else if (v >= 0n && v < 65536n) {
    const b = Buffer.alloc(3);
    b[0] = 0xcd;
    b.writeUInt16BE(Number(v), 1);
    out.push(b);
  } else if (v >= 0n && v < 4294967296n) {
    const b = Buffer.alloc(5);
    b[0] = 0xce;
    b.writeUInt32BE(Number(v), 1);
    out.push(b);
  } else if (v >= 0n) {
    const b = Buffer.alloc(9);
    b[0] = 0xcf;
    b.writeBigUInt64BE(v, 1);
    out.push(b);
  } else if (v >= -128n) out.push(Buffer.from([0xd0, Number(v) & 0xff]));
  else if (v >= -32768n) {
    const b = Buffer.alloc(3);
    b[0] = 0xd1;
    b.writeInt16BE(Number(v), 1);
    out.push(b);
  } else if (v >= -2147483648n) {
    const b = Buffer.alloc(5);
    b[0] = 0xd2;
    b.writeInt32BE(Number(v), 1);
    out.push(b);
  } else {
    const b = Buffer.alloc(9);
    b[0] = 0xd3;
    b.writeBigInt64BE(v, 1);
    out.push(b);
  }
}

function float64(v: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(v, 1);
  return b;
}

function writeForced(forced: Forced, out: Buffer[]): void {
  switch (forced.kind) {
    case 'f64':
      out.push(float64(forced.value as number));
      return;
    case 'f32': {
      const b = Buffer.alloc(5);
      b[0] = 0xca;
      b.writeFloatBE(forced.value as number, 1);
      out.push(b);
      return;
    }
    case 'u64': {
      const b = Buffer.alloc(9);
      b[0] = 0xcf;
      b.writeBigUInt64BE(forced.value as bigint, 1);
      out.push(b);
      return;
    }
    case 'i64': {
      const b = Buffer.alloc(9);
      b[0] = 0xd3;
      b.writeBigInt64BE(forced.value as bigint, 1);
      out.push(b);
      return;
    }
    case 'ext': {
      const data = forced.value as Uint8Array;
      out.push(Buffer.from([0xc7, data.length, forced.extType & 0xff]));
      out.push(Buffer.from(data));
      return;
    }
    case 'raw':
      out.push(Buffer.from(forced.value as Uint8Array));
      return;
  }
}

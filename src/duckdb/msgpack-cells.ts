import duckdb from '@duckdb/node-bindings';
import type { DuckDBDataChunk } from '@duckdb/node-api';
import { checkedInt64, decimalReader, decimalScale } from './decimal-values.js';
import { aligned, StringSlots, T, vectorNumbers, vectorValidity, type ResultColumn } from './result-reader.js';

/**
 * DuckDB result columns as the cells of Arc's columnar MessagePack result (arc-spec-lifecycle
 * §7.1), written straight from the vectors' memory. Hand-written rather than through msgpackr
 * because the wire form is fixed per type (int64 always 9 bytes, floats never compacted,
 * timestamps as extension −1) and a generic encoder chooses the compact form by value; the
 * tests decode every type with msgpackr.
 */

/** Where a MessagePack writer gets room: the full page is handed over, a page with at least `need` bytes comes back. */
export interface PageSource {
  nextPage(full: Buffer, used: number, need: number): Buffer;
}

const TWO32 = 4294967296;

/** Appends MessagePack values to a chain of pages (their bytes, concatenated in order, are the stream). */
export class MsgpackWriter {
  buf: Buffer;
  pos = 0;

  constructor(
    private readonly pages: PageSource,
    first: Buffer,
  ) {
    this.buf = first;
  }

  reserve(n: number): void {
    if (this.pos + n > this.buf.length) {
      this.buf = this.pages.nextPage(this.buf, this.pos, n);
      this.pos = 0;
    }
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  nil(): void {
    this.byte(0xc0);
  }

  bool(value: boolean): void {
    this.byte(value ? 0xc3 : 0xc2);
  }

  /** The smallest signed form: fixint, negative fixint, int8, int16, int32 (int64 beyond). */
  int(v: number): void {
    this.reserve(9);
    const b = this.buf;
    let p = this.pos;
    if (v >= 0 && v < 128) b[p++] = v;
    else if (v < 0 && v >= -32) b[p++] = v & 0xff;
    else if (v >= -128 && v < 128) {
      b[p++] = 0xd0;
      b[p++] = v & 0xff;
    } else if (v >= -32768 && v < 32768) {
      b[p++] = 0xd1;
      b.writeInt16BE(v, p);
      p += 2;
    } else if (v >= -2147483648 && v < 2147483648) {
      b[p++] = 0xd2;
      b.writeInt32BE(v, p);
      p += 4;
    } else {
      b[p++] = 0xd3;
      b.writeBigInt64BE(BigInt(v), p);
      p += 8;
    }
    this.pos = p;
  }

  /** The smallest unsigned form: fixint, uint8, uint16, uint32, uint64. */
  uint(v: number): void {
    this.reserve(9);
    const b = this.buf;
    let p = this.pos;
    if (v < 128) b[p++] = v;
    else if (v < 256) {
      b[p++] = 0xcc;
      b[p++] = v;
    } else if (v < 65536) {
      b[p++] = 0xcd;
      b.writeUInt16BE(v, p);
      p += 2;
    } else if (v < TWO32) {
      b[p++] = 0xce;
      b.writeUInt32BE(v, p);
      p += 4;
    } else {
      b[p++] = 0xcf;
      b.writeBigUInt64BE(BigInt(v), p);
      p += 8;
    }
    this.pos = p;
  }

  /** int64 in its fixed 9-byte form, from the value's two 32-bit halves. */
  int64Halves(high: number, low: number): void {
    this.reserve(9);
    const b = this.buf;
    b[this.pos] = 0xd3;
    b.writeInt32BE(high, this.pos + 1);
    b.writeUInt32BE(low >>> 0, this.pos + 5);
    this.pos += 9;
  }

  float64(v: number): void {
    this.reserve(9);
    this.buf[this.pos] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos + 1);
    this.pos += 9;
  }

  /** A header of `kind` (str or bin) for `length` bytes. */
  private lengthHeader(length: number, str: boolean): void {
    this.reserve(5);
    const b = this.buf;
    let p = this.pos;
    if (str && length < 32) b[p++] = 0xa0 | length;
    else if (length < 256) {
      b[p++] = str ? 0xd9 : 0xc4;
      b[p++] = length;
    } else if (length < 65536) {
      b[p++] = str ? 0xda : 0xc5;
      b.writeUInt16BE(length, p);
      p += 2;
    } else {
      b[p++] = str ? 0xdb : 0xc6;
      b.writeUInt32BE(length, p);
      p += 4;
    }
    this.pos = p;
  }

  str(text: string): void {
    const length = Buffer.byteLength(text);
    this.lengthHeader(length, true);
    this.reserve(length);
    this.pos += this.buf.write(text, this.pos, length, 'utf8');
  }

  /** A str (or bin) whose bytes are given. */
  rawString(bytes: Uint8Array, str: boolean): void {
    this.lengthHeader(bytes.length, str);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  arrayHeader(n: number): void {
    this.reserve(5);
    const b = this.buf;
    if (n < 16) b[this.pos++] = 0x90 | n;
    else if (n < 65536) {
      b[this.pos] = 0xdc;
      b.writeUInt16BE(n, this.pos + 1);
      this.pos += 3;
    } else {
      b[this.pos] = 0xdd;
      b.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
  }

  mapHeader(n: number): void {
    this.byte(0x80 | n); // only the result envelope's few keys
  }

  /** The Timestamp extension (type −1) in its smallest form; `nanos` in [0, 1e9). */
  timestamp(seconds: number, nanos: number): void {
    this.reserve(15);
    const b = this.buf;
    let p = this.pos;
    if (seconds >= 0 && seconds < 17179869184) {
      if (nanos === 0 && seconds < TWO32) {
        b[p++] = 0xd6;
        b[p++] = 0xff;
        b.writeUInt32BE(seconds, p);
        p += 4;
      } else {
        // 30 bits of nanoseconds above 34 bits of seconds
        b[p++] = 0xd7;
        b[p++] = 0xff;
        b.writeUInt32BE(nanos * 4 + Math.floor(seconds / TWO32), p);
        b.writeUInt32BE(seconds % TWO32, p + 4);
        p += 8;
      }
    } else {
      b[p++] = 0xc7;
      b[p++] = 12;
      b[p++] = 0xff;
      b.writeUInt32BE(nanos, p);
      const high = Math.floor(seconds / TWO32);
      b.writeInt32BE(high, p + 4);
      b.writeUInt32BE(seconds - high * TWO32, p + 8);
      p += 12;
    }
    this.pos = p;
  }
}

/** Arc's type vocabulary (§7.1) for a DuckDB result column. */
export function msgpackTypeName(column: ResultColumn): string {
  switch (column.typeId) {
    case T.BOOLEAN: return 'bool';
    case T.TINYINT: return 'int8';
    case T.SMALLINT: return 'int16';
    case T.INTEGER: return 'int32';
    case T.BIGINT: case T.HUGEINT: case T.UHUGEINT: return 'int64';
    case T.UTINYINT: return 'uint8';
    case T.USMALLINT: return 'uint16';
    case T.UINTEGER: return 'uint32';
    case T.UBIGINT: return 'uint64';
    case T.FLOAT: return 'float32';
    case T.DOUBLE: return 'float64';
    case T.DECIMAL: return column.scale === 0 ? 'int64' : 'float64';
    case T.VARCHAR: case T.UUID: return 'utf8';
    case T.BLOB: return 'binary';
    case T.TIMESTAMP: case T.TIMESTAMP_TZ: return 'timestamp[us]';
    case T.TIMESTAMP_S: return 'timestamp[s]';
    case T.TIMESTAMP_MS: return 'timestamp[ms]';
    case T.TIMESTAMP_NS: return 'timestamp[ns]';
    case T.DATE: return 'date32';
    case T.TIME: case T.TIME_TZ: case T.TIME_NS: case T.INTERVAL: case T.BIT: case T.BIGNUM: return 'string_encoded';
    case T.LIST: case T.ARRAY: return 'list';
    case T.STRUCT: return 'struct';
    case T.MAP: return 'map';
    case T.SQLNULL: return 'null';
    case T.ENUM: {
      const size = column.enumValues?.length ?? 0;
      return `unknown:dictionary<values=utf8, indices=${size < 256 ? 'uint8' : size < 65536 ? 'uint16' : 'uint32'}, ordered=false>`;
    }
    default: return `unknown:${duckdb.Type[column.typeId] ?? column.typeId}`.toLowerCase();
  }
}

/** Units of a timestamp type per second. */
const PER_SECOND: Record<number, number> = { [T.TIMESTAMP]: 1e6, [T.TIMESTAMP_TZ]: 1e6, [T.TIMESTAMP_S]: 1, [T.TIMESTAMP_MS]: 1e3, [T.TIMESTAMP_NS]: 1e9 };

/**
 * Appends the cells of column `c` of a chunk (`rows` values). `firstRow` is the result row of the
 * chunk's first row, for error messages.
 */
export function encodeColumnCells(out: MsgpackWriter, chunk: DuckDBDataChunk, column: ResultColumn, c: number, firstRow: number): void {
  const rows = chunk.rowCount;
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
  const valid = vectorValidity(vector, rows);
  const isNull = (i: number) => valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0;
  // A rendered nested column holds DuckDB's text in a VARCHAR vector.
  switch (column.rendered !== undefined ? T.VARCHAR : column.typeId) {
    case T.BOOLEAN: {
      const data = duckdb.vector_get_data(vector, rows);
      for (let i = 0; i < rows; i++) isNull(i) ? out.nil() : out.bool(data[i] !== 0);
      return;
    }
    case T.TINYINT: case T.SMALLINT: case T.INTEGER: {
      const values = vectorNumbers(vector, column.typeId, rows) as Int8Array | Int16Array | Int32Array;
      for (let i = 0; i < rows; i++) isNull(i) ? out.nil() : out.int(values[i]!);
      return;
    }
    case T.UTINYINT: case T.USMALLINT: case T.UINTEGER: {
      const values = vectorNumbers(vector, column.typeId, rows) as Uint8Array | Uint16Array | Uint32Array;
      for (let i = 0; i < rows; i++) isNull(i) ? out.nil() : out.uint(values[i]!);
      return;
    }
    case T.BIGINT: case T.UBIGINT: {
      const marker = column.typeId === T.BIGINT ? 0xd3 : 0xcf;
      const data = duckdb.vector_get_data(vector, rows * 8);
      for (let i = 0; i < rows; i++) {
        if (isNull(i)) {
          out.nil();
          continue;
        }
        out.reserve(9);
        const b = out.buf;
        const p = out.pos;
        b[p] = marker;
        for (let k = 0; k < 8; k++) b[p + 8 - k] = data[i * 8 + k]!; // little-endian in, big-endian out
        out.pos = p + 9;
      }
      return;
    }
    case T.FLOAT: case T.DOUBLE: {
      const width = column.typeId === T.DOUBLE ? 8 : 4;
      const data = duckdb.vector_get_data(vector, rows * width);
      for (let i = 0; i < rows; i++) {
        if (isNull(i)) {
          out.nil();
          continue;
        }
        out.reserve(9);
        const b = out.buf;
        const p = out.pos;
        b[p] = width === 8 ? 0xcb : 0xca;
        for (let k = 0; k < width; k++) b[p + width - k] = data[i * width + k]!;
        out.pos = p + 1 + width;
      }
      return;
    }
    case T.VARCHAR: case T.BLOB: {
      const str = column.typeId === T.VARCHAR || column.rendered !== undefined;
      const slots = new StringSlots(vector, rows);
      for (let i = 0; i < rows; i++) {
        if (isNull(i)) {
          out.nil();
          continue;
        }
        const length = slots.length(i);
        out.rawString(length <= 12 ? slots.data.subarray(i * 16 + 4, i * 16 + 4 + length) : slots.outOfLine(i, length), str);
      }
      return;
    }
    case T.TIMESTAMP: case T.TIMESTAMP_TZ: case T.TIMESTAMP_S: case T.TIMESTAMP_MS: case T.TIMESTAMP_NS: {
      const halves = aligned(duckdb.vector_get_data(vector, rows * 8), Int32Array, rows * 2);
      const perSecond = PER_SECOND[column.typeId]!;
      const nanosPerUnit = 1e9 / perSecond;
      for (let i = 0; i < rows; i++) {
        if (isNull(i)) {
          out.nil();
          continue;
        }
        const high = halves[2 * i + 1]!;
        const low = halves[2 * i]! >>> 0;
        if (high < 2_097_152 && high >= -2_097_152) {
          // below 2^53: exact as a double
          const value = high * TWO32 + low;
          const seconds = Math.floor(value / perSecond);
          out.timestamp(seconds, (value - seconds * perSecond) * nanosPerUnit);
        } else {
          const value = (BigInt(high) << 32n) | BigInt(low);
          const unit = BigInt(perSecond);
          let seconds = value / unit;
          let rest = value % unit;
          if (rest < 0n) {
            rest += unit;
            seconds -= 1n;
          }
          out.timestamp(Number(seconds), Number(rest) * nanosPerUnit);
        }
      }
      return;
    }
    case T.DATE: {
      const days = aligned(duckdb.vector_get_data(vector, rows * 4), Int32Array, rows);
      for (let i = 0; i < rows; i++) isNull(i) ? out.nil() : out.timestamp(days[i]! * 86400, 0);
      return;
    }
    case T.DECIMAL: case T.HUGEINT: case T.UHUGEINT:
      encodeDecimal(out, column, vector, rows, isNull, firstRow);
      return;
    case T.SQLNULL:
      for (let i = 0; i < rows; i++) out.nil();
      return;
    case T.ENUM: {
      const names = column.enumValues!;
      const size = names.length;
      const data = duckdb.vector_get_data(vector, rows * (size < 256 ? 1 : size < 65536 ? 2 : 4));
      const ids = size < 256 ? data : size < 65536 ? aligned(data, Uint16Array, rows) : aligned(data, Uint32Array, rows);
      for (let i = 0; i < rows; i++) isNull(i) ? out.nil() : out.str(names[ids[i]!]!);
      return;
    }
    default: {
      // Text rendering (DuckDB's) for everything without a MessagePack form of its own.
      const values = chunk.getColumnValues(c);
      for (let i = 0; i < rows; i++) {
        const value = values[i];
        value === null || value === undefined ? out.nil() : out.str(String(value));
      }
    }
  }
}

/** DECIMAL (and HUGEINT, which Arc receives as a scale-0 decimal): scale 0 as int64, else as float64. */
function encodeDecimal(out: MsgpackWriter, column: ResultColumn, vector: duckdb.Vector, rows: number, isNull: (i: number) => boolean, firstRow: number): void {
  const read = decimalReader(vector, column, rows);
  const scale = decimalScale(column);
  const divisor = 10 ** scale;
  for (let i = 0; i < rows; i++) {
    if (isNull(i)) out.nil();
    else if (scale > 0) out.float64(Number(read(i)) / divisor);
    else {
      const big = checkedInt64(read(i), column, firstRow + i);
      out.int64Halves(Number(BigInt.asIntN(32, big >> 32n)), Number(BigInt.asUintN(32, big)));
    }
  }
}

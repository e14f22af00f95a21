import duckdb from '@duckdb/node-bindings';
import duckdbApi, { type DuckDBDataChunk, type DuckDBPreparedStatement, type DuckDBResult } from '@duckdb/node-api';
import { finiteJson } from './finite-json.js';

const { JsonDuckDBValueConverter } = duckdbApi;
export const T = duckdb.Type;

/**
 * Reading DuckDB result chunks straight from their vectors' memory (the node-api value objects
 * cost an allocation per value). Views returned here point into DuckDB memory that lives only as
 * long as the chunk: read or copy them before the chunk is dropped.
 */

/** A result column: name, DuckDB type id, and for ENUM/DECIMAL the details needed to render it. */
export interface ResultColumn {
  name: string;
  typeId: number;
  /** ENUM: the dictionary. */
  enumValues?: string[];
  /** DECIMAL: the scale. */
  scale?: number;
  /** DECIMAL: the integer type its values are stored as (SMALLINT, INTEGER, BIGINT or HUGEINT). */
  decimalStorage?: number;
  /** A nested column DuckDB rendered to text (result-limits.ts): the chunk holds VARCHAR, JSON or DuckDB's rendering. */
  rendered?: 'json' | 'text';
}

/** The columns of a result, or of a prepared statement before it runs. */
export function resultColumns(source: DuckDBResult | DuckDBPreparedStatement): ResultColumn[] {
  const count = source.columnCount;
  return Array.from({ length: count }, (_, i) => {
    const type = source.columnType(i);
    const column: ResultColumn = { name: source.columnName(i), typeId: type.typeId as number };
    const logical = type.toLogicalType().logical_type;
    if (column.typeId === T.ENUM) {
      const size = duckdb.enum_dictionary_size(logical);
      column.enumValues = Array.from({ length: size }, (_, k) => duckdb.enum_dictionary_value(logical, k));
    } else if (column.typeId === T.DECIMAL) {
      column.scale = duckdb.decimal_scale(logical);
      column.decimalStorage = duckdb.decimal_internal_type(logical) as number;
    }
    return column;
  });
}

/** Column values of one chunk as JSON texts (one string per row), or null for a NULL. */
export function chunkJsonColumns(chunk: DuckDBDataChunk, columns: readonly ResultColumn[]): Array<Array<string | null>> {
  return columns.map((column, c) => jsonColumn(chunk, column, c));
}

/** Column `c` of a chunk as JSON texts. */
export function jsonColumn(chunk: DuckDBDataChunk, column: ResultColumn, c: number): Array<string | null> {
  const rows = chunk.rowCount;
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
  const valid = vectorValidity(vector, rows);
  const out: Array<string | null> = new Array(rows);
  const isNull = (i: number) => valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0;
  if (column.rendered !== undefined) {
    const strings = vectorStrings(vector, rows, valid);
    for (let i = 0; i < rows; i++) out[i] = strings[i] === null ? null : column.rendered === 'json' ? finiteJson(strings[i]!) : JSON.stringify(strings[i]);
    return out;
  }
  switch (column.typeId) {
    case T.BOOLEAN: {
      const data = duckdb.vector_get_data(vector, rows);
      for (let i = 0; i < rows; i++) out[i] = isNull(i) ? null : data[i] ? 'true' : 'false';
      return out;
    }
    case T.TINYINT: case T.SMALLINT: case T.INTEGER: case T.UTINYINT: case T.USMALLINT: case T.UINTEGER:
    case T.FLOAT: case T.DOUBLE: case T.BIGINT: case T.UBIGINT: {
      const values = vectorNumbers(vector, column.typeId, rows);
      for (let i = 0; i < rows; i++) {
        if (isNull(i)) out[i] = null;
        else {
          const v = values[i]!;
          out[i] = typeof v === 'number' && !Number.isFinite(v) ? null : String(v); // NaN and ±Inf have no JSON form
        }
      }
      return out;
    }
    case T.VARCHAR: {
      const strings = vectorStrings(vector, rows, valid);
      for (let i = 0; i < rows; i++) out[i] = strings[i] === null ? null : JSON.stringify(strings[i]);
      return out;
    }
    case T.TIMESTAMP: case T.TIMESTAMP_TZ: case T.TIMESTAMP_S: case T.TIMESTAMP_MS: case T.TIMESTAMP_NS: {
      const halves = aligned(duckdb.vector_get_data(vector, rows * 8), Int32Array, rows * 2);
      const formatter = new TimestampFormatter();
      const scale = column.typeId;
      for (let i = 0; i < rows; i++) {
        if (isNull(i)) out[i] = null;
        else out[i] = `"${formatter.format(halves[2 * i + 1]!, halves[2 * i]!, scale)}"`;
      }
      return out;
    }
    case T.DATE: {
      const days = aligned(duckdb.vector_get_data(vector, rows * 4), Int32Array, rows);
      for (let i = 0; i < rows; i++) out[i] = isNull(i) ? null : `"${rfc3339Micros(BigInt(days[i]!) * 86_400_000_000n)}"`;
      return out;
    }
    case T.ENUM: {
      const ids = enumIds(vector, column.enumValues!.length, rows);
      for (let i = 0; i < rows; i++) out[i] = isNull(i) ? null : JSON.stringify(column.enumValues![ids[i]!]);
      return out;
    }
    default: {
      // Everything else through the library's JSON conversion; 128-bit and decimal numbers as strings.
      const values = chunk.convertColumnValues(c, JsonDuckDBValueConverter);
      for (let i = 0; i < rows; i++) {
        const v = values[i];
        out[i] = v === null || v === undefined ? null : typeof v === 'number' && !Number.isFinite(v) ? null : JSON.stringify(v);
      }
      return out;
    }
  }
}

/** Validity bitmap (bit i = row i valid) or null when every row is valid; DuckDB and Arrow share the layout. */
export function vectorValidity(vector: duckdb.Vector, rows: number): Uint8Array | null {
  return duckdb.vector_get_validity(vector, Math.ceil(rows / 64) * 8) ?? null;
}

type TypedArrayConstructor<A> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): A; BYTES_PER_ELEMENT: number };

/** A typed view of `bytes`; a copy only when DuckDB's memory is not aligned for the type. */
export function aligned<A>(bytes: Uint8Array, Type: TypedArrayConstructor<A>, length: number): A {
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, bytes.byteOffset, length);
  const copy = new Uint8Array(new ArrayBuffer(Math.max(8, bytes.length)), 0, bytes.length);
  copy.set(bytes);
  return new Type(copy.buffer, 0, length);
}

type NumberArray = Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | Float32Array | Float64Array;

const NUMBER_TYPES: Record<number, TypedArrayConstructor<NumberArray>> = {
  [T.TINYINT]: Int8Array,
  [T.SMALLINT]: Int16Array,
  [T.INTEGER]: Int32Array,
  [T.DATE]: Int32Array,
  [T.BIGINT]: BigInt64Array,
  [T.UTINYINT]: Uint8Array,
  [T.USMALLINT]: Uint16Array,
  [T.UINTEGER]: Uint32Array,
  [T.UBIGINT]: BigUint64Array,
  [T.FLOAT]: Float32Array,
  [T.DOUBLE]: Float64Array,
};

/** The values of a fixed-width numeric vector (DATE as days). */
export function vectorNumbers(vector: duckdb.Vector, typeId: number, rows: number): NumberArray {
  const Type = NUMBER_TYPES[typeId]!;
  return aligned(duckdb.vector_get_data(vector, rows * Type.BYTES_PER_ELEMENT), Type, rows);
}

function enumIds(vector: duckdb.Vector, dictionarySize: number, rows: number): Uint8Array | Uint16Array | Uint32Array {
  const data = duckdb.vector_get_data(vector, rows * (dictionarySize < 256 ? 1 : dictionarySize < 65536 ? 2 : 4));
  return dictionarySize < 256 ? data : dictionarySize < 65536 ? aligned(data, Uint16Array, rows) : aligned(data, Uint32Array, rows);
}

/**
 * A string vector's slots: DuckDB's string_t is 16 bytes, a length, then the bytes inline (up to
 * 12) or a prefix and a pointer to them.
 */
export class StringSlots {
  readonly data: Uint8Array;
  private readonly view: DataView;

  constructor(vector: duckdb.Vector, rows: number) {
    this.data = duckdb.vector_get_data(vector, rows * 16);
    this.view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }

  length(i: number): number {
    return this.view.getUint32(i * 16, true);
  }

  /** The bytes of a string longer than 12 bytes (shorter ones sit at data[i * 16 + 4 ...]). */
  outOfLine(i: number, length: number): Uint8Array {
    return duckdb.get_data_from_pointer(this.data.buffer as ArrayBuffer, this.data.byteOffset + i * 16 + 8, length);
  }
}

/** Strings byte for byte: Buffer's UTF-8 decoding keeps a leading U+FEFF (TextDecoder would drop it). */
function vectorStrings(vector: duckdb.Vector, rows: number, valid: Uint8Array | null): Array<string | null> {
  const slots = new StringSlots(vector, rows);
  const data = Buffer.from(slots.data.buffer, slots.data.byteOffset, slots.data.byteLength);
  const out: Array<string | null> = new Array(rows);
  for (let i = 0; i < rows; i++) {
    if (valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0) out[i] = null;
    else {
      const length = slots.length(i);
      if (length <= 12) out[i] = data.toString('utf8', i * 16 + 4, i * 16 + 4 + length);
      else {
        const bytes = slots.outOfLine(i, length);
        out[i] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
      }
    }
  }
  return out;
}

/**
 * RFC 3339 texts of DuckDB timestamps, given as the two 32-bit halves of the int64. Rows of a
 * time series share their second often, so the date-and-time part is formatted once per second.
 */
class TimestampFormatter {
  private second = NaN;
  private prefix = '';

  format(high: number, low: number, typeId: number): string {
    // |high| < 2^21 keeps the value below 2^53: exact as a double (µs until the year 2255).
    if (high >= 2_097_152 || high < -2_097_152 || typeId === T.TIMESTAMP_NS) return rfc3339Micros(toMicros(BigInt(high) * 4294967296n + BigInt(low >>> 0), typeId));
    let micros = high * 4294967296 + (low >>> 0);
    if (typeId === T.TIMESTAMP_S) micros *= 1_000_000;
    else if (typeId === T.TIMESTAMP_MS) micros *= 1000;
    const second = Math.floor(micros / 1_000_000);
    const fraction = micros - second * 1_000_000;
    if (second !== this.second) {
      const date = new Date(second * 1000);
      if (Number.isNaN(date.getTime())) return String(micros);
      this.second = second;
      this.prefix = date.toISOString().slice(0, -5); // without ".mmmZ"
    }
    if (fraction === 0) return `${this.prefix}Z`;
    return `${this.prefix}.${String(fraction).padStart(6, '0').replace(/0+$/, '')}Z`;
  }
}

function toMicros(value: bigint, typeId: number): bigint {
  switch (typeId) {
    case T.TIMESTAMP_S: return value * 1_000_000n;
    case T.TIMESTAMP_MS: return value * 1000n;
    case T.TIMESTAMP_NS: return value / 1000n;
    default: return value;
  }
}

/** RFC 3339 in UTC with up to microsecond digits, trailing zeros dropped: 2021-01-01T00:00:00Z, …00.123456Z. */
export function rfc3339Micros(micros: bigint): string {
  let millis = micros / 1000n;
  let rest = micros % 1000n;
  if (rest < 0n) {
    rest += 1000n;
    millis -= 1n;
  }
  const date = new Date(Number(millis));
  if (Number.isNaN(date.getTime())) return micros.toString();
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ (or ±YYYYYY for far years)
  const fraction = `${iso.slice(-4, -1)}${rest.toString().padStart(3, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, -5)}${fraction ? `.${fraction}` : ''}Z`;
}

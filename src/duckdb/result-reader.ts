import duckdb from '@duckdb/node-bindings';
import duckdbApi, { type DuckDBDataChunk, type DuckDBResult } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';

const { JsonDuckDBValueConverter } = duckdbApi;
const T = duckdb.Type;

/** A result column: name, DuckDB type id, and for ENUM/DECIMAL the details needed to render it. */
export interface ResultColumn {
  name: string;
  typeId: number;
  /** ENUM: the dictionary. */
  enumValues?: string[];
  /** DECIMAL: the scale. */
  scale?: number;
}

export function resultColumns(result: DuckDBResult): ResultColumn[] {
  const names = result.columnNames();
  return result.columnTypes().map((type, i) => {
    const column: ResultColumn = { name: names[i]!, typeId: type.typeId as number };
    const logical = type.toLogicalType().logical_type;
    if (column.typeId === T.ENUM) {
      const size = duckdb.enum_dictionary_size(logical);
      column.enumValues = Array.from({ length: size }, (_, k) => duckdb.enum_dictionary_value(logical, k));
    } else if (column.typeId === T.DECIMAL) {
      column.scale = duckdb.decimal_scale(logical);
    }
    return column;
  });
}

/** Column values of one chunk as JSON texts (one string per row), or null for a NULL. */
export function chunkJsonColumns(chunk: DuckDBDataChunk, columns: readonly ResultColumn[]): Array<Array<string | null>> {
  return columns.map((column, c) => jsonColumn(chunk, column, c));
}

/** Column `c` of a chunk as JSON texts. */
function jsonColumn(chunk: DuckDBDataChunk, column: ResultColumn, c: number): Array<string | null> {
  const rows = chunk.rowCount;
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
  const valid = validity(vector, rows);
  const out: Array<string | null> = new Array(rows);
  const isNull = (i: number) => valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0;
  switch (column.typeId) {
    case T.BOOLEAN: {
      const data = duckdb.vector_get_data(vector, rows);
      for (let i = 0; i < rows; i++) out[i] = isNull(i) ? null : data[i] ? 'true' : 'false';
      return out;
    }
    case T.TINYINT: case T.SMALLINT: case T.INTEGER: case T.UTINYINT: case T.USMALLINT: case T.UINTEGER:
    case T.FLOAT: case T.DOUBLE: case T.BIGINT: case T.UBIGINT: {
      const values = numbers(vector, column.typeId, rows);
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
      const strings = stringsOf(vector, rows, valid);
      for (let i = 0; i < rows; i++) out[i] = strings[i] === null ? null : JSON.stringify(strings[i]);
      return out;
    }
    case T.TIMESTAMP: case T.TIMESTAMP_TZ: case T.TIMESTAMP_S: case T.TIMESTAMP_MS: case T.TIMESTAMP_NS: {
      const values = new BigInt64Array(copy(duckdb.vector_get_data(vector, rows * 8)).buffer, 0, rows);
      const toMicros = timestampScale(column.typeId);
      for (let i = 0; i < rows; i++) out[i] = isNull(i) ? null : `"${rfc3339Micros(toMicros(values[i]!))}"`;
      return out;
    }
    case T.DATE: {
      const days = new Int32Array(copy(duckdb.vector_get_data(vector, rows * 4)).buffer, 0, rows);
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

/** Arrow type for a result column; types without a direct Arrow form travel as UTF-8 text. */
export function arrowField(column: ResultColumn): arrow.Field {
  return new arrow.Field(column.name, arrowType(column), true);
}

function arrowType(column: ResultColumn): arrow.DataType {
  switch (column.typeId) {
    case T.BOOLEAN: return new arrow.Bool();
    case T.TINYINT: return new arrow.Int8();
    case T.SMALLINT: return new arrow.Int16();
    case T.INTEGER: return new arrow.Int32();
    case T.BIGINT: return new arrow.Int64();
    case T.UTINYINT: return new arrow.Uint8();
    case T.USMALLINT: return new arrow.Uint16();
    case T.UINTEGER: return new arrow.Uint32();
    case T.UBIGINT: return new arrow.Uint64();
    case T.FLOAT: return new arrow.Float32();
    case T.DOUBLE: return new arrow.Float64();
    case T.TIMESTAMP: case T.TIMESTAMP_S: case T.TIMESTAMP_MS: case T.TIMESTAMP_NS: return new arrow.TimestampMicrosecond();
    case T.TIMESTAMP_TZ: return new arrow.TimestampMicrosecond('UTC');
    case T.DATE: return new arrow.DateDay();
    case T.BLOB: return new arrow.Binary();
    default: return new arrow.Utf8();
  }
}

/** One chunk as an Arrow record batch (columns copied from DuckDB's vectors; strings re-encoded). */
export function chunkToArrow(chunk: DuckDBDataChunk, columns: readonly ResultColumn[], schema: arrow.Schema): arrow.RecordBatch {
  const rows = chunk.rowCount;
  const children = columns.map((column, c) => {
    const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
    const valid = validity(vector, rows);
    const nullBitmap = valid ?? undefined;
    const nullCount = valid === null ? 0 : countNulls(valid, rows);
    const type = schema.fields[c]!.type;
    switch (column.typeId) {
      case T.BOOLEAN: {
        const bytes = duckdb.vector_get_data(vector, rows);
        const bits = new Uint8Array((rows + 7) >> 3);
        for (let i = 0; i < rows; i++) if (bytes[i]) bits[i >>> 3]! |= 1 << (i & 7);
        return makeData({ type, length: rows, nullCount, nullBitmap, data: bits });
      }
      case T.TINYINT: case T.SMALLINT: case T.INTEGER: case T.BIGINT: case T.UTINYINT: case T.USMALLINT:
      case T.UINTEGER: case T.UBIGINT: case T.FLOAT: case T.DOUBLE: case T.DATE:
        return makeData({ type, length: rows, nullCount, nullBitmap, data: numbers(vector, column.typeId, rows) });
      case T.TIMESTAMP: case T.TIMESTAMP_TZ: case T.TIMESTAMP_S: case T.TIMESTAMP_MS: case T.TIMESTAMP_NS: {
        const raw = new BigInt64Array(copy(duckdb.vector_get_data(vector, rows * 8)).buffer, 0, rows);
        const toMicros = timestampScale(column.typeId);
        const data = column.typeId === T.TIMESTAMP || column.typeId === T.TIMESTAMP_TZ ? raw : raw.map(toMicros);
        return makeData({ type, length: rows, nullCount, nullBitmap, data });
      }
      case T.VARCHAR: case T.BLOB: {
        const { offsets, bytes } = stringBytes(vector, rows, valid);
        return makeData({ type, length: rows, nullCount, nullBitmap, valueOffsets: offsets, data: bytes });
      }
      default: {
        const texts = jsonColumn(chunk, column, c).map((t) => (t === null ? null : column.typeId === T.ENUM ? (JSON.parse(t) as string) : t));
        const encoder = new TextEncoder();
        const parts = texts.map((t) => (t === null ? new Uint8Array(0) : encoder.encode(t)));
        const offsets = new Int32Array(rows + 1);
        for (let i = 0; i < rows; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
        const bytes = new Uint8Array(offsets[rows]!);
        parts.forEach((p, i) => bytes.set(p, offsets[i]!));
        return makeData({ type, length: rows, nullCount, nullBitmap, valueOffsets: offsets, data: bytes });
      }
    }
  });
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows, nullCount: 0, children });
  return new arrow.RecordBatch(schema, struct);
}

/** apache-arrow's makeData, typed loosely: its per-type props are not exported. */
function makeData(props: { type: arrow.DataType; length: number; nullCount: number; nullBitmap: Uint8Array | undefined; data: ArrayBufferView; valueOffsets?: Int32Array }): arrow.Data {
  return arrow.makeData(props as never);
}

/** Validity bitmap (bit i = row i valid) or null when every row is valid; DuckDB and Arrow share the layout. */
function validity(vector: duckdb.Vector, rows: number): Uint8Array | null {
  const bytes = duckdb.vector_get_validity(vector, Math.ceil(rows / 64) * 8);
  return bytes ? copy(bytes) : null;
}

function countNulls(valid: Uint8Array, rows: number): number {
  let nulls = 0;
  for (let i = 0; i < rows; i++) if ((valid[i >>> 3]! & (1 << (i & 7))) === 0) nulls++;
  return nulls;
}

/** A private, aligned copy (the binding may hand out views of DuckDB memory that later changes). */
function copy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(Math.max(8, bytes.length)), 0, bytes.length);
  out.set(bytes);
  return out;
}

type NumberArray = Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | Float32Array | Float64Array;

function numbers(vector: duckdb.Vector, typeId: number, rows: number): NumberArray {
  const make: Record<number, [number, (b: ArrayBuffer) => NumberArray]> = {
    [T.TINYINT]: [1, (b) => new Int8Array(b, 0, rows)],
    [T.SMALLINT]: [2, (b) => new Int16Array(b, 0, rows)],
    [T.INTEGER]: [4, (b) => new Int32Array(b, 0, rows)],
    [T.DATE]: [4, (b) => new Int32Array(b, 0, rows)],
    [T.BIGINT]: [8, (b) => new BigInt64Array(b, 0, rows)],
    [T.UTINYINT]: [1, (b) => new Uint8Array(b, 0, rows)],
    [T.USMALLINT]: [2, (b) => new Uint16Array(b, 0, rows)],
    [T.UINTEGER]: [4, (b) => new Uint32Array(b, 0, rows)],
    [T.UBIGINT]: [8, (b) => new BigUint64Array(b, 0, rows)],
    [T.FLOAT]: [4, (b) => new Float32Array(b, 0, rows)],
    [T.DOUBLE]: [8, (b) => new Float64Array(b, 0, rows)],
  };
  const [width, view] = make[typeId]!;
  return view(copy(duckdb.vector_get_data(vector, rows * width)).buffer as ArrayBuffer);
}

function enumIds(vector: duckdb.Vector, dictionarySize: number, rows: number): Uint8Array | Uint16Array | Uint32Array {
  const width = dictionarySize < 256 ? 1 : dictionarySize < 65536 ? 2 : 4;
  const buffer = copy(duckdb.vector_get_data(vector, rows * width)).buffer;
  return width === 1 ? new Uint8Array(buffer, 0, rows) : width === 2 ? new Uint16Array(buffer, 0, rows) : new Uint32Array(buffer, 0, rows);
}

/** DuckDB string_t: 16 bytes; length, then the bytes inline (≤ 12) or a pointer to them. */
function stringView(vector: duckdb.Vector, rows: number): { data: Uint8Array; view: DataView } {
  const data = duckdb.vector_get_data(vector, rows * 16);
  return { data, view: new DataView(data.buffer, data.byteOffset, data.byteLength) };
}

function bytesAt(data: Uint8Array, view: DataView, i: number): Uint8Array {
  const offset = i * 16;
  const length = view.getUint32(offset, true);
  if (length <= 12) return data.subarray(offset + 4, offset + 4 + length);
  return duckdb.get_data_from_pointer(data.buffer as ArrayBuffer, data.byteOffset + offset + 8, length);
}

/** Strings byte for byte: Buffer's UTF-8 decoding keeps a leading U+FEFF (TextDecoder would drop it). */
function stringsOf(vector: duckdb.Vector, rows: number, valid: Uint8Array | null): Array<string | null> {
  const { data, view } = stringView(vector, rows);
  const out: Array<string | null> = new Array(rows);
  for (let i = 0; i < rows; i++) {
    if (valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0) out[i] = null;
    else {
      const bytes = bytesAt(data, view, i);
      out[i] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
    }
  }
  return out;
}

function stringBytes(vector: duckdb.Vector, rows: number, valid: Uint8Array | null): { offsets: Int32Array; bytes: Uint8Array } {
  const { data, view } = stringView(vector, rows);
  const offsets = new Int32Array(rows + 1);
  const parts: Uint8Array[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const part = valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0 ? new Uint8Array(0) : bytesAt(data, view, i);
    parts[i] = part;
    offsets[i + 1] = offsets[i]! + part.length;
  }
  const bytes = new Uint8Array(offsets[rows]!);
  for (let i = 0; i < rows; i++) bytes.set(parts[i]!, offsets[i]!);
  return { offsets, bytes };
}

function timestampScale(typeId: number): (v: bigint) => bigint {
  switch (typeId) {
    case T.TIMESTAMP_S: return (v) => v * 1_000_000n;
    case T.TIMESTAMP_MS: return (v) => v * 1000n;
    case T.TIMESTAMP_NS: return (v) => v / 1000n;
    default: return (v) => v;
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

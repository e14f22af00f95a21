import duckdb from '@duckdb/node-bindings';
import type { DuckDBDataChunk } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import { ColumnDictionary } from './arrow-dictionary.js';
import { decimalValues } from './decimal-values.js';
import { aligned, jsonColumn, StringSlots, T, vectorNumbers, vectorValidity, type ResultColumn } from './result-reader.js';

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
    // Arc's normalisation [26.09.1]: no decimals on the wire; scale 0 (and HUGEINT) as int64, else float64
    case T.DECIMAL: return column.scale === 0 ? new arrow.Int64() : new arrow.Float64();
    case T.HUGEINT: case T.UHUGEINT: return new arrow.Int64();
    default: return new arrow.Utf8();
  }
}

/**
 * DuckDB result chunks as Arrow record batches. Fixed-width columns and validity are views of
 * DuckDB's own vectors, strings are laid out in scratch memory reused from chunk to chunk: a
 * batch is valid until the next `convert` and only while its chunk lives, so serialise it at once.
 */
export class ArrowBatchConverter {
  readonly schema: arrow.Schema;
  private readonly scratch: Array<{ offsets: Int32Array; bytes: Uint8Array; bits: Uint8Array }>;
  /** Columns sent dictionary-encoded (x-arc-arrow-dictionary), by index. */
  private readonly dictionaries: Map<number, ColumnDictionary>;
  /** Rows converted before the current chunk (for error messages). */
  private rowsSeen = 0;
  /** Called once per column whose dictionary passes the warning size. */
  onLargeDictionary: (column: string, entries: number) => void = () => {};

  constructor(
    private readonly columns: readonly ResultColumn[],
    dictionaryColumns: ReadonlySet<number> = new Set(),
  ) {
    this.dictionaries = new Map([...dictionaryColumns].map((c) => [c, new ColumnDictionary(c)]));
    this.schema = new arrow.Schema(
      columns.map((column, c) => {
        const dictionary = this.dictionaries.get(c);
        return dictionary ? new arrow.Field(column.name, dictionary.type, true) : arrowField(column);
      }),
    );
    this.scratch = columns.map(() => ({ offsets: new Int32Array(0), bytes: new Uint8Array(0), bits: new Uint8Array(0) }));
  }

  convert(chunk: DuckDBDataChunk): arrow.RecordBatch {
    const rows = chunk.rowCount;
    const children = this.columns.map((column, c) => {
      const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
      const valid = vectorValidity(vector, rows);
      const base = { type: this.schema.fields[c]!.type, length: rows, nullCount: valid === null ? 0 : countNulls(valid, rows), nullBitmap: valid ?? undefined };
      const dictionary = this.dictionaries.get(c);
      if (dictionary) {
        const { indices, dictionary: values, grewPast } = dictionary.encode(vector, rows, valid);
        if (grewPast !== null) this.onLargeDictionary(column.name, grewPast);
        return arrow.makeData({ ...base, type: dictionary.type, data: indices, dictionary: values });
      }
      switch (column.typeId) {
        case T.BOOLEAN:
          return makeData({ ...base, data: this.booleanBits(c, duckdb.vector_get_data(vector, rows), rows) });
        case T.TINYINT: case T.SMALLINT: case T.INTEGER: case T.BIGINT: case T.UTINYINT: case T.USMALLINT:
        case T.UINTEGER: case T.UBIGINT: case T.FLOAT: case T.DOUBLE: case T.DATE:
          return makeData({ ...base, data: vectorNumbers(vector, column.typeId, rows) });
        case T.TIMESTAMP: case T.TIMESTAMP_TZ:
          return makeData({ ...base, data: aligned(duckdb.vector_get_data(vector, rows * 8), BigInt64Array, rows) });
        case T.TIMESTAMP_S: case T.TIMESTAMP_MS: case T.TIMESTAMP_NS: {
          const raw = aligned(duckdb.vector_get_data(vector, rows * 8), BigInt64Array, rows);
          const scale = column.typeId === T.TIMESTAMP_S ? (v: bigint) => v * 1_000_000n : column.typeId === T.TIMESTAMP_MS ? (v: bigint) => v * 1000n : (v: bigint) => v / 1000n;
          return makeData({ ...base, data: raw.map(scale) });
        }
        case T.VARCHAR: case T.BLOB:
          return makeData({ ...base, ...this.stringLayout(c, vector, rows, valid) });
        case T.DECIMAL: case T.HUGEINT: case T.UHUGEINT:
          return makeData({ ...base, data: decimalValues(vector, column, rows, valid, this.rowsSeen) });
        default: {
          const texts = jsonColumn(chunk, column, c).map((t) => (t === null ? null : column.typeId === T.ENUM ? (JSON.parse(t) as string) : t));
          const parts = texts.map((t) => (t === null ? new Uint8Array(0) : Buffer.from(t)));
          const offsets = new Int32Array(rows + 1);
          for (let i = 0; i < rows; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
          const bytes = new Uint8Array(offsets[rows]!);
          parts.forEach((p, i) => bytes.set(p, offsets[i]!));
          return makeData({ ...base, valueOffsets: offsets, data: bytes });
        }
      }
    });
    this.rowsSeen += rows;
    const struct = arrow.makeData({ type: new arrow.Struct(this.schema.fields), length: rows, nullCount: 0, children });
    return new arrow.RecordBatch(this.schema, struct);
  }

  private booleanBits(c: number, bytes: Uint8Array, rows: number): Uint8Array {
    const scratch = this.scratch[c]!;
    const size = (rows + 7) >> 3;
    if (scratch.bits.length < size) scratch.bits = new Uint8Array(size);
    const bits = scratch.bits.subarray(0, size);
    bits.fill(0);
    for (let i = 0; i < rows; i++) if (bytes[i]) bits[i >>> 3]! |= 1 << (i & 7);
    return bits;
  }

  /** Arrow's layout of a string column: offsets, then every value's bytes back to back. */
  private stringLayout(c: number, vector: duckdb.Vector, rows: number, valid: Uint8Array | null): { valueOffsets: Int32Array; data: Uint8Array } {
    const scratch = this.scratch[c]!;
    if (scratch.offsets.length < rows + 1) scratch.offsets = new Int32Array(rows + 1);
    const offsets = scratch.offsets.subarray(0, rows + 1);
    const slots = new StringSlots(vector, rows);
    let total = 0;
    offsets[0] = 0;
    for (let i = 0; i < rows; i++) {
      if (valid === null || (valid[i >>> 3]! & (1 << (i & 7))) !== 0) total += slots.length(i);
      offsets[i + 1] = total;
    }
    if (scratch.bytes.length < total) scratch.bytes = new Uint8Array(Math.max(total, scratch.bytes.length * 2));
    const bytes = scratch.bytes.subarray(0, total);
    const data = slots.data;
    for (let i = 0; i < rows; i++) {
      const at = offsets[i]!;
      const length = offsets[i + 1]! - at;
      if (length === 0) continue;
      if (length <= 12) {
        // Inline strings are short: a byte loop beats creating a view per value.
        const from = i * 16 + 4;
        for (let b = 0; b < length; b++) bytes[at + b] = data[from + b]!;
      } else {
        bytes.set(slots.outOfLine(i, length), at);
      }
    }
    return { valueOffsets: offsets, data: bytes };
  }
}

/** apache-arrow's makeData, typed loosely: its per-type props are not exported. */
function makeData(props: { type: arrow.DataType; length: number; nullCount: number; nullBitmap: Uint8Array | undefined; data: ArrayBufferView; valueOffsets?: Int32Array }): arrow.Data {
  return arrow.makeData(props as never);
}

const BITS_IN_BYTE = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let x = b; x !== 0; x >>= 1) n += x & 1;
  return n;
});

function countNulls(valid: Uint8Array, rows: number): number {
  let set = 0;
  const whole = rows >>> 3;
  for (let i = 0; i < whole; i++) set += BITS_IN_BYTE[valid[i]!]!;
  for (let i = whole << 3; i < rows; i++) if ((valid[i >>> 3]! & (1 << (i & 7))) !== 0) set++;
  return rows - set;
}

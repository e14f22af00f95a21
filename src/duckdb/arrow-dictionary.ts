import duckdb from '@duckdb/node-bindings';
import type { DuckDBDataChunk } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import { StringSlots, T, vectorValidity, type ResultColumn } from './result-reader.js';

/** The first batch must have at least this many rows for dictionary encoding to be considered (Arc's rule). */
export const DICTIONARY_MIN_ROWS = 256;
const DICTIONARY_MAX_DISTINCT = 4096;
/** Arc warns once when a dictionary passes this many entries (it keeps growing and is resent whole). */
export const DICTIONARY_WARN_ENTRIES = 65_536;

/**
 * Which string columns become `dictionary<int32, utf8>` (arc-spec-lifecycle §7.3), decided on
 * the first chunk: with at least 256 rows, each plain string column whose distinct non-null
 * values number at most min(rows / 4, 4096).
 */
export function dictionaryColumns(columns: readonly ResultColumn[], first: DuckDBDataChunk | null): Set<number> {
  const chosen = new Set<number>();
  if (first === null || first.rowCount < DICTIONARY_MIN_ROWS) return chosen;
  const rows = first.rowCount;
  const limit = Math.min(Math.floor(rows / 4), DICTIONARY_MAX_DISTINCT);
  columns.forEach((column, c) => {
    if (column.typeId !== T.VARCHAR) return;
    const seen = new Set<string>();
    const vector = duckdb.data_chunk_get_vector(first.chunk, c);
    const valid = vectorValidity(vector, rows);
    const slots = new StringSlots(vector, rows);
    for (let i = 0; i < rows && seen.size <= limit; i++) {
      if (valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0) continue;
      seen.add(keyOf(slots, i));
    }
    if (seen.size <= limit) chosen.add(c);
  });
  return chosen;
}

function keyOf(slots: StringSlots, i: number): string {
  const length = slots.length(i);
  const bytes = length <= 12 ? slots.data.subarray(i * 16 + 4, i * 16 + 4 + length) : slots.outOfLine(i, length);
  // latin1 maps bytes one to one: an exact key without UTF-8 decoding
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/**
 * One column's dictionary for the whole stream. It only grows; whenever it has grown since the
 * last batch, a new dictionary vector is made, which the IPC writer sends as a full replacement
 * (not a delta: polars cannot read delta dictionaries).
 */
export class ColumnDictionary {
  readonly type: arrow.Dictionary<arrow.Utf8, arrow.Int32>;
  private readonly index = new Map<string, number>();
  private readonly entries: Buffer[] = [];
  private entryBytes = 0;
  private vector: arrow.Vector<arrow.Utf8> | null = null;
  private indices = new Int32Array(0);
  private warned = false;

  constructor(id: number) {
    this.type = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32(), id, false);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The column's indices for this chunk (valid until the next call) and the dictionary they refer to. */
  encode(vector: duckdb.Vector, rows: number, valid: Uint8Array | null): { indices: Int32Array; dictionary: arrow.Vector<arrow.Utf8>; grewPast: number | null } {
    if (this.indices.length < rows) this.indices = new Int32Array(Math.max(rows, 2048));
    const indices = this.indices.subarray(0, rows);
    const slots = new StringSlots(vector, rows);
    const before = this.entries.length;
    for (let i = 0; i < rows; i++) {
      if (valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0) {
        indices[i] = 0;
        continue;
      }
      const key = keyOf(slots, i);
      let id = this.index.get(key);
      if (id === undefined) {
        id = this.entries.length;
        this.index.set(key, id);
        const bytes = Buffer.from(key, 'latin1');
        this.entries.push(bytes);
        this.entryBytes += bytes.length;
      }
      indices[i] = id;
    }
    if (this.vector === null || this.entries.length !== before) this.vector = this.rebuild();
    let grewPast: number | null = null;
    if (!this.warned && this.entries.length > DICTIONARY_WARN_ENTRIES) {
      this.warned = true;
      grewPast = this.entries.length;
    }
    return { indices, dictionary: this.vector, grewPast };
  }

  private rebuild(): arrow.Vector<arrow.Utf8> {
    const offsets = new Int32Array(this.entries.length + 1);
    const bytes = new Uint8Array(this.entryBytes);
    let at = 0;
    this.entries.forEach((entry, k) => {
      bytes.set(entry, at);
      at += entry.length;
      offsets[k + 1] = at;
    });
    const data = arrow.makeData({ type: new arrow.Utf8(), length: this.entries.length, nullCount: 0, valueOffsets: offsets, data: bytes });
    return new arrow.Vector([data]);
  }
}

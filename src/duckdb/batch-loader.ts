import duckdb from '@duckdb/node-bindings';
import duckdbApi, { type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import type { Column, ColumnBatch } from '../columnar/column-batch.js';

// Both DuckDB packages are CommonJS; Node's ESM loader cannot see all of their named exports.
const { BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, ENUM, TIMESTAMPTZ, VARCHAR, quotedIdentifier } = duckdbApi;

/** Dictionaries up to this size load as ENUM (a memcpy of ids); larger ones string by string. */
const MAX_ENUM_VALUES = 65535;

/**
 * Loads rows of a columnar batch into a DuckDB table: typed arrays are copied straight into
 * DuckDB vectors, strings go in as ENUM ids when the dictionary allows (a memcpy), `time` is
 * TIMESTAMPTZ. Used to write Parquet through DuckDB and to let queries see buffered rows.
 * Owns scratch memory: one loader per thread, one load at a time.
 */
export class BatchLoader {
  private readonly vectorSize = duckdb.vector_size();
  private validityScratch = new BigUint64Array(duckdb.vector_size() / 64);
  private idScratch = new ArrayBuffer(duckdb.vector_size() * 4);
  /** The binding reads only plain ArrayBuffers; buffer columns live in SharedArrayBuffers. */
  private readonly copyScratch = new Uint8Array(new ArrayBuffer(duckdb.vector_size() * 8));

  /** Creates `table` (replacing it) with the batch's schema and loads rows [start, end). */
  async createAndLoad(connection: DuckDBConnection, table: string, batch: ColumnBatch, start: number, end: number, temporary = false): Promise<void> {
    const layouts = batch.columns.map(layoutOf);
    const columnsSql = [`"time" TIMESTAMPTZ`, ...layouts.map((l, i) => `${quotedIdentifier(batch.columns[i]!.name)} ${l.sql}`)];
    await connection.run(`CREATE OR REPLACE ${temporary ? 'TEMP ' : ''}TABLE ${quotedIdentifier(table)} (${columnsSql.join(', ')})`);
    await this.load(connection, table, batch, layouts, start, end);
  }

  private async load(connection: DuckDBConnection, table: string, batch: ColumnBatch, layouts: ColumnLayout[], start: number, end: number): Promise<void> {
    const appender = await connection.createAppender(table);
    try {
      const chunk = DuckDBDataChunk.create([TIMESTAMPTZ, ...layouts.map((l) => l.type)]);
      const raw = chunk.chunk;
      for (let offset = start; offset < end; offset += this.vectorSize) {
        const rows = Math.min(this.vectorSize, end - offset);
        duckdb.data_chunk_reset(raw);
        this.copyTyped(duckdb.data_chunk_get_vector(raw, 0), batch.time, offset, rows);
        for (let c = 0; c < layouts.length; c++) {
          this.fillVector(duckdb.data_chunk_get_vector(raw, c + 1), batch.columns[c]!, layouts[c]!, offset, rows);
        }
        duckdb.data_chunk_set_size(raw, rows);
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  private fillVector(vector: duckdb.Vector, column: Column, layout: ColumnLayout, offset: number, rows: number): void {
    switch (column.type) {
      case 'int64':
      case 'float64':
      case 'bool':
        this.copyTyped(vector, column.values, offset, rows);
        break;
      case 'string':
        if (layout.enumWidth !== 0) this.copyEnumIds(vector, column.ids, layout.enumWidth, offset, rows);
        else assignStrings(vector, column, layout.encoded!, offset, rows);
        break;
    }
    if (column.valid !== null) this.copyValidity(vector, column.valid, offset, rows);
  }

  private copyTyped(vector: duckdb.Vector, array: BigInt64Array | Float64Array | Uint8Array | Uint32Array, offset: number, rows: number): void {
    const width = array.BYTES_PER_ELEMENT;
    const start = array.byteOffset + offset * width;
    const bytes = rows * width;
    if (array.buffer instanceof ArrayBuffer) {
      duckdb.copy_data_to_vector(vector, 0, array.buffer, start, bytes);
      return;
    }
    this.copyScratch.set(new Uint8Array(array.buffer, start, bytes));
    duckdb.copy_data_to_vector(vector, 0, this.copyScratch.buffer as ArrayBuffer, 0, bytes);
  }

  /** ENUM vectors hold uint8/16/32 ids depending on the dictionary size. */
  private copyEnumIds(vector: duckdb.Vector, ids: Uint32Array, width: 1 | 2 | 4, offset: number, rows: number): void {
    if (width === 4) {
      this.copyTyped(vector, ids, offset, rows);
      return;
    }
    const narrow = width === 1 ? new Uint8Array(this.idScratch, 0, rows) : new Uint16Array(this.idScratch, 0, rows);
    for (let i = 0; i < rows; i++) narrow[i] = ids[offset + i]!;
    duckdb.copy_data_to_vector(vector, 0, this.idScratch, 0, rows * width);
  }

  /** DuckDB validity: one bit per row, 1 = valid, in uint64 words. */
  private copyValidity(vector: duckdb.Vector, valid: Uint8Array, offset: number, rows: number): void {
    const words = this.validityScratch;
    words.fill(0n);
    const lanes = new Uint32Array(words.buffer);
    for (let i = 0; i < rows; i++) {
      if (valid[offset + i]) lanes[i >>> 5]! |= 1 << (i & 31);
    }
    duckdb.vector_ensure_validity_writable(vector);
    duckdb.copy_data_to_vector_validity(vector, 0, words.buffer as ArrayBuffer, 0, Math.ceil(rows / 64) * 8);
  }
}

interface ColumnLayout {
  type: DuckDBType;
  sql: string;
  /** Bytes per ENUM id, or 0 when the column loads as VARCHAR. */
  enumWidth: 0 | 1 | 2 | 4;
  /** VARCHAR string columns: the dictionary as UTF-8, encoded once per file. */
  encoded?: Buffer[];
}

function layoutOf(column: Column): ColumnLayout {
  switch (column.type) {
    case 'int64':
      return { type: BIGINT, sql: 'BIGINT', enumWidth: 0 };
    case 'float64':
      return { type: DOUBLE, sql: 'DOUBLE', enumWidth: 0 };
    case 'bool':
      return { type: BOOLEAN, sql: 'BOOLEAN', enumWidth: 0 };
    case 'string': {
      const dictionary = column.dictionary;
      // DuckDB string literals end at NUL, and an empty ENUM is not a type: load those as VARCHAR.
      if (dictionary.length === 0 || dictionary.length > MAX_ENUM_VALUES || dictionary.some((s) => s.includes('\0'))) {
        return { type: VARCHAR, sql: 'VARCHAR', enumWidth: 0, encoded: dictionary.map((value) => Buffer.from(value, 'utf8')) };
      }
      const type = ENUM(dictionary);
      return { type, sql: type.toString(), enumWidth: dictionary.length < 256 ? 1 : 2 };
    }
  }
}

function assignStrings(vector: duckdb.Vector, column: Extract<Column, { type: 'string' }>, encoded: Buffer[], offset: number, rows: number): void {
  const { ids, valid } = column;
  for (let i = 0; i < rows; i++) {
    if (valid !== null && !valid[offset + i]) continue;
    duckdb.vector_assign_string_element_len(vector, i, encoded[ids[offset + i]!]!);
  }
}

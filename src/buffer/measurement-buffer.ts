import { bytesPerRow, compareNames, copyBatch, isSharedBatch, type Column, type ColumnBatch, type ColumnType } from '../columnar/column-batch.js';
import type { ArrayPool } from './array-pool.js';

/** A buffer's rows handed to storage: the batch reads from `buffers`, which go back to the pool after the flush. */
export interface SealedBuffer {
  database: string;
  batch: ColumnBatch;
  buffers: SharedArrayBuffer[];
  bytes: number;
  /** Names the files of this flush (storage/layout.ts); queries use it to tell them apart. */
  stampNanos: bigint;
  /** With the write-ahead log on: which log rows this flush holds ([lsn, first row, count] triples). */
  contributions: number[];
}

const INITIAL_ROWS = 1024;
/** Rough heap cost of one dictionary string beyond its characters. */
const STRING_OVERHEAD = 48;

/**
 * The rows of one (database, measurement) since its last flush, held column by column in pooled
 * shared memory. The column set grows with the batches: a column first seen mid-buffer is NULL for
 * the rows before it, a column a batch lacks is NULL for that batch's rows, so requests with
 * changing field sets share one buffer (and one file). Types never differ: the schema check
 * (schema-conform.ts) gave every batch the measurement's types before it got here.
 */
export class MeasurementBuffer {
  rowCount = 0;
  /** performance.now() when the first row of this generation arrived. */
  firstRowAt = 0;
  private capacity = 0;
  private time: BigInt64Array | null = null;
  private columns: BufferColumn[] = [];
  private tagColumns: readonly string[] | null = null;
  private dictionaryBytes = 0;
  private contributions: number[] = [];

  constructor(
    readonly database: string,
    readonly measurement: string,
    private readonly pool: ArrayPool,
  ) {}

  /** Bytes this buffer holds (arrays at capacity, plus dictionary strings). */
  get bytes(): number {
    let total = this.time ? this.time.buffer.byteLength : 0;
    for (const column of this.columns) total += column.bytes;
    return total + this.dictionaryBytes;
  }

  /** Appends a batch (its columns sorted by name, as every batch's are). Returns the bytes added. */
  append(batch: ColumnBatch): number {
    const before = this.bytes;
    if (this.rowCount === 0 && this.keep(batch)) return this.bytes - before;
    if (this.rowCount === 0) this.start(batch);
    else this.adopt(batch);
    const start = this.rowCount;
    const rows = batch.rowCount;
    const end = start + rows;
    if (end > this.capacity) this.grow(end);
    this.time!.set(batch.time.subarray(0, rows), start);
    // Both lists are sorted by name, and the buffer's holds every column of the batch.
    const incoming = batch.columns;
    let b = 0;
    for (const column of this.columns) {
      const next = incoming[b];
      if (next !== undefined && next.name === column.name) {
        this.dictionaryBytes += column.append(next, start, rows);
        b++;
      } else {
        column.appendNulls(start, rows);
      }
    }
    this.rowCount = end;
    return this.bytes - before;
  }

  /**
   * Notes that the rows just appended are rows [start, start + count) of this measurement in the
   * log entry `lsn`; consecutive rows of one entry make one triple.
   */
  noteLogRows(lsn: number, start: number, count: number): void {
    const list = this.contributions;
    const n = list.length;
    if (n > 0 && list[n - 3] === lsn && list[n - 2]! + list[n - 1]! === start) list[n - 1]! += count;
    else list.push(lsn, start, count);
  }

  /** A copy of the rows buffered now (empty buffers give null). */
  snapshot(): ColumnBatch | null {
    if (this.rowCount === 0) return null;
    const columns = this.columns.map((column) => column.view(this.rowCount));
    return copyBatch({ measurement: this.measurement, rowCount: this.rowCount, time: this.time!, columns, tagColumns: this.tagColumns });
  }

  /** Hands the rows over and leaves the buffer empty. */
  seal(stampNanos: bigint): SealedBuffer {
    const rowCount = this.rowCount;
    const buffers: SharedArrayBuffer[] = [this.time!.buffer as SharedArrayBuffer];
    const columns: Column[] = [];
    for (const column of this.columns) {
      columns.push(column.view(rowCount));
      buffers.push(...column.buffers());
    }
    const sealed: SealedBuffer = {
      database: this.database,
      batch: {
        measurement: this.measurement,
        rowCount,
        time: this.time!.subarray(0, rowCount),
        columns,
        tagColumns: this.tagColumns,
      },
      buffers,
      bytes: this.bytes,
      stampNanos,
      contributions: this.contributions,
    };
    this.contributions = [];
    this.rowCount = 0;
    this.capacity = 0;
    this.time = null;
    this.columns = [];
    this.dictionaryBytes = 0;
    return sealed;
  }

  /** Columns and tags of `batch` this buffer has not had yet; earlier rows are NULL in them. */
  private adopt(batch: ColumnBatch): void {
    const columns = this.columns;
    let added = false;
    let b = 0;
    let c = 0;
    for (; b < batch.columns.length; b++) {
      const column = batch.columns[b]!;
      while (c < columns.length && columns[c]!.name < column.name) c++;
      const existing = columns[c];
      if (existing !== undefined && existing.name === column.name) {
        if (existing.type !== column.type) {
          throw new Error(`column '${column.name}' of '${this.measurement}' reached the buffer as ${column.type}, buffered as ${existing.type}`);
        }
        continue;
      }
      const fresh = new BufferColumn(column.name, column.type, this.capacity, this.pool);
      fresh.appendNulls(0, this.rowCount);
      columns.push(fresh);
      added = true;
    }
    if (added) columns.sort(compareNames);
    const tags = batch.tagColumns;
    if (tags !== null && tags !== this.tagColumns && (this.tagColumns === null || tags.some((name) => !this.tagColumns!.includes(name)))) {
      this.tagColumns = [...new Set([...(this.tagColumns ?? []), ...tags])].sort();
    }
  }

  /**
   * An empty buffer takes a batch whose arrays are shared memory of its own (a decode worker's,
   * see `sharedCopy`) as its storage instead of copying it: a body of millions of rows then costs
   * the event loop nothing per row. Returns false (nothing taken) for any other batch.
   */
  private keep(batch: ColumnBatch): boolean {
    if (batch.rowCount === 0 || !isSharedBatch(batch)) return false;
    const columns: BufferColumn[] = [];
    for (const column of batch.columns) {
      const kept = BufferColumn.keep(column, batch.rowCount, this.pool);
      if (kept === null) return false;
      columns.push(kept);
    }
    this.tagColumns = batch.tagColumns;
    this.firstRowAt = performance.now();
    this.capacity = batch.rowCount;
    this.time = batch.time;
    this.columns = columns;
    this.dictionaryBytes = columns.reduce((sum, column) => sum + column.dictionaryBytes, 0);
    this.rowCount = batch.rowCount;
    return true;
  }

  private start(batch: ColumnBatch): void {
    this.tagColumns = batch.tagColumns;
    this.firstRowAt = performance.now();
    this.capacity = Math.max(INITIAL_ROWS, batch.rowCount);
    this.time = new BigInt64Array(this.pool.take(this.capacity * 8), 0, this.capacity);
    this.columns = batch.columns.map((column) => new BufferColumn(column.name, column.type, this.capacity, this.pool));
  }

  private grow(rows: number): void {
    let capacity = this.capacity * 2;
    while (capacity < rows) capacity *= 2;
    const time = new BigInt64Array(this.pool.take(capacity * 8), 0, capacity);
    time.set(this.time!.subarray(0, this.rowCount));
    this.pool.give(this.time!.buffer as SharedArrayBuffer);
    this.time = time;
    for (const column of this.columns) column.grow(capacity, this.rowCount);
    this.capacity = capacity;
  }
}

/** One column of a buffer. */
class BufferColumn {
  private data: SharedArrayBuffer;
  private valid: Uint8Array | null = null;
  /** String columns: the buffer-wide dictionary and its index. */
  private dictionary: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly type: ColumnType,
    private capacity: number,
    private readonly pool: ArrayPool,
    data?: SharedArrayBuffer,
  ) {
    this.data = data ?? pool.take(capacity * bytesPerRow(type));
  }

  get bytes(): number {
    return this.data.byteLength + (this.valid ? this.valid.buffer.byteLength : 0);
  }

  /**
   * A column over `column`'s own arrays (no copy), or null when its dictionary repeats a value
   * (ids could not then be kept as they are).
   */
  static keep(column: Column, rows: number, pool: ArrayPool): BufferColumn | null {
    const data = (column.type === 'string' ? column.ids : column.values).buffer as SharedArrayBuffer;
    const kept = new BufferColumn(column.name, column.type, rows, pool, data);
    if (column.type === 'string') {
      for (let id = 0; id < column.dictionary.length; id++) kept.index.set(column.dictionary[id]!, id);
      if (kept.index.size !== column.dictionary.length) return null;
      kept.dictionary = column.dictionary.slice(0);
    }
    kept.valid = column.valid;
    return kept;
  }

  /** Heap bytes of the dictionary strings (as `append` counts them). */
  get dictionaryBytes(): number {
    let total = 0;
    for (const value of this.dictionary) total += 2 * value.length + STRING_OVERHEAD;
    return total;
  }

  /** Copies rows of `column` in at `start`; returns the dictionary bytes added. */
  append(column: Column, start: number, rows: number): number {
    let dictionaryBytes = 0;
    switch (column.type) {
      case 'int64':
        new BigInt64Array(this.data, 0, this.capacity).set(column.values.subarray(0, rows), start);
        break;
      case 'float64':
        new Float64Array(this.data, 0, this.capacity).set(column.values.subarray(0, rows), start);
        break;
      case 'bool':
        new Uint8Array(this.data, 0, this.capacity).set(column.values.subarray(0, rows), start);
        break;
      case 'string': {
        // Batch ids point into the batch's dictionary; translate them into this buffer's.
        const remap = new Uint32Array(column.dictionary.length);
        for (let i = 0; i < column.dictionary.length; i++) {
          const value = column.dictionary[i]!;
          let id = this.index.get(value);
          if (id === undefined) {
            id = this.dictionary.length;
            this.dictionary.push(value);
            this.index.set(value, id);
            dictionaryBytes += 2 * value.length + STRING_OVERHEAD;
          }
          remap[i] = id;
        }
        const ids = new Uint32Array(this.data, 0, this.capacity);
        const source = column.ids;
        for (let i = 0; i < rows; i++) ids[start + i] = remap[source[i]!]!;
        break;
      }
    }
    if (column.valid !== null) {
      this.ensureValid(start);
      this.valid!.set(column.valid.subarray(0, rows), start);
    } else if (this.valid !== null) {
      this.valid.fill(1, start, start + rows);
    }
    return dictionaryBytes;
  }

  grow(capacity: number, rows: number): void {
    const width = bytesPerRow(this.type);
    const data = this.pool.take(capacity * width);
    new Uint8Array(data).set(new Uint8Array(this.data, 0, rows * width));
    this.pool.give(this.data);
    this.data = data;
    if (this.valid !== null) {
      const valid = new Uint8Array(this.pool.take(capacity), 0, capacity);
      valid.set(this.valid.subarray(0, rows));
      this.pool.give(this.valid.buffer as SharedArrayBuffer);
      this.valid = valid;
    }
    this.capacity = capacity;
  }

  view(rows: number): Column {
    const valid = this.valid ? this.valid.subarray(0, rows) : null;
    switch (this.type) {
      case 'int64':
        return { name: this.name, type: 'int64', values: new BigInt64Array(this.data, 0, rows), valid };
      case 'float64':
        return { name: this.name, type: 'float64', values: new Float64Array(this.data, 0, rows), valid };
      case 'bool':
        return { name: this.name, type: 'bool', values: new Uint8Array(this.data, 0, rows), valid };
      case 'string':
        return { name: this.name, type: 'string', ids: new Uint32Array(this.data, 0, rows), dictionary: this.dictionary, valid };
    }
  }

  buffers(): SharedArrayBuffer[] {
    return this.valid ? [this.data, this.valid.buffer as SharedArrayBuffer] : [this.data];
  }

  /** Rows [start, start + rows) are NULL (values zeroed: pooled memory is not). */
  appendNulls(start: number, rows: number): void {
    if (rows === 0) return;
    this.ensureValid(start);
    this.valid!.fill(0, start, start + rows);
    const width = bytesPerRow(this.type);
    new Uint8Array(this.data, start * width, rows * width).fill(0);
  }

  /** Validity starts when the first NULL arrives; rows before it were all present. */
  private ensureValid(rowsBefore: number): void {
    if (this.valid !== null) return;
    this.valid = new Uint8Array(this.pool.take(this.capacity), 0, this.capacity);
    this.valid.fill(1, 0, rowsBefore);
  }
}

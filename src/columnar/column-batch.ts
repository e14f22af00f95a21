/**
 * The one columnar shape that flows from the decoders (src/ingest) through the buffers
 * (src/buffer) to the Parquet writers (src/storage). Values live in typed arrays; strings are
 * dictionary ids plus a dictionary; a missing value is a 0 in `valid` (null `valid` = no NULLs).
 * There is never one JS object per row.
 */
export type ColumnType = 'int64' | 'float64' | 'bool' | 'string';

interface ColumnBase {
  readonly name: string;
  /** 1 = value present, 0 = NULL; null when every row has a value. Same length as the values. */
  valid: Uint8Array | null;
}

export interface Int64Column extends ColumnBase {
  readonly type: 'int64';
  values: BigInt64Array;
}

export interface Float64Column extends ColumnBase {
  readonly type: 'float64';
  values: Float64Array;
}

export interface BoolColumn extends ColumnBase {
  readonly type: 'bool';
  /** 0 or 1 per row. */
  values: Uint8Array;
}

export interface StringColumn extends ColumnBase {
  readonly type: 'string';
  /** Index into `dictionary` per row (0 for NULL rows). */
  ids: Uint32Array;
  /** Distinct values, in first-seen order. */
  dictionary: string[];
}

export type Column = Int64Column | Float64Column | BoolColumn | StringColumn;

/** Rows of one measurement. Arrays hold at least `rowCount` entries; entries past it are garbage. */
export interface ColumnBatch {
  measurement: string;
  rowCount: number;
  /** Microseconds since the Unix epoch, UTC. Never NULL. */
  time: BigInt64Array;
  /** Every column but `time`, sorted by name, so two batches with one schema list them alike. */
  columns: Column[];
  /** Names of the columns that came from tags (row MessagePack, line protocol): Parquet `arc:tags`. */
  tagColumns: readonly string[] | null;
  /**
   * Set by `sharedCopy` only: every array is shared memory of this batch's own, nobody else writes
   * it, and whoever takes the batch may keep the arrays instead of copying them.
   */
  ownsSharedArrays?: true;
}

export const TIME_COLUMN = 'time';

/** "name:type,…" of a batch: two batches can share a buffer (and a file) only if these match. */
export function schemaSignature(columns: readonly Column[]): string {
  let signature = '';
  for (const column of columns) signature += `${column.name}:${column.type},`;
  return signature;
}

/** Bytes a column needs per row, for memory accounting. */
export function bytesPerRow(type: ColumnType): number {
  switch (type) {
    case 'int64':
    case 'float64':
      return 8;
    case 'string':
      return 4;
    case 'bool':
      return 1;
  }
}

export function compareNames(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A private copy of rows [0, rowCount) (for readers that must not see the buffer change under them). */
export function copyBatch(batch: ColumnBatch): ColumnBatch {
  const n = batch.rowCount;
  const slice = <T extends { slice(start: number, end: number): T }>(array: T): T => array.slice(0, n);
  const columns = batch.columns.map((column): Column => {
    const valid = column.valid ? slice(column.valid) : null;
    switch (column.type) {
      case 'int64':
        return { name: column.name, type: 'int64', values: slice(column.values), valid };
      case 'float64':
        return { name: column.name, type: 'float64', values: slice(column.values), valid };
      case 'bool':
        return { name: column.name, type: 'bool', values: slice(column.values), valid };
      case 'string':
        return { name: column.name, type: 'string', ids: slice(column.ids), dictionary: column.dictionary.slice(), valid };
    }
  });
  return { measurement: batch.measurement, rowCount: n, time: slice(batch.time), columns, tagColumns: batch.tagColumns };
}

/** Rows [from, to) of a batch as views of its arrays (no copy; the dictionary is shared). */
export function sliceBatch(batch: ColumnBatch, from: number, to: number): ColumnBatch {
  const columns = batch.columns.map((column): Column => {
    const valid = column.valid ? column.valid.subarray(from, to) : null;
    switch (column.type) {
      case 'int64':
        return { name: column.name, type: 'int64', values: column.values.subarray(from, to), valid };
      case 'float64':
        return { name: column.name, type: 'float64', values: column.values.subarray(from, to), valid };
      case 'bool':
        return { name: column.name, type: 'bool', values: column.values.subarray(from, to), valid };
      case 'string':
        return { name: column.name, type: 'string', ids: column.ids.subarray(from, to), dictionary: column.dictionary, valid };
    }
  });
  return { measurement: batch.measurement, rowCount: to - from, time: batch.time.subarray(from, to), columns, tagColumns: batch.tagColumns };
}

/**
 * A copy of rows [0, rowCount) whose arrays live in SharedArrayBuffers sized to the rows. A decode
 * worker hands batches over this way: posting them shares the memory instead of copying it, and a
 * buffer can keep such arrays as they are (see `isSharedBatch`), so a body of millions of rows
 * costs the event loop no copy at all.
 */
export function sharedCopy(batch: ColumnBatch): ColumnBatch {
  const n = batch.rowCount;
  const share = <T extends BigInt64Array | Float64Array | Uint8Array | Uint32Array>(array: T, make: (buffer: SharedArrayBuffer) => T): T => {
    const copy = make(new SharedArrayBuffer(Math.max(1, n) * array.BYTES_PER_ELEMENT));
    copy.set(array.subarray(0, n) as never);
    return copy;
  };
  const bytes = (array: Uint8Array) => share(array, (buffer) => new Uint8Array(buffer, 0, n));
  const columns = batch.columns.map((column): Column => {
    const valid = column.valid ? bytes(column.valid) : null;
    switch (column.type) {
      case 'int64':
        return { name: column.name, type: 'int64', values: share(column.values, (buffer) => new BigInt64Array(buffer, 0, n)), valid };
      case 'float64':
        return { name: column.name, type: 'float64', values: share(column.values, (buffer) => new Float64Array(buffer, 0, n)), valid };
      case 'bool':
        return { name: column.name, type: 'bool', values: bytes(column.values), valid };
      case 'string':
        return { name: column.name, type: 'string', ids: share(column.ids, (buffer) => new Uint32Array(buffer, 0, n)), dictionary: column.dictionary.slice(0), valid };
    }
  });
  const time = share(batch.time, (buffer) => new BigInt64Array(buffer, 0, n));
  return { measurement: batch.measurement, rowCount: n, time, columns, tagColumns: batch.tagColumns, ownsSharedArrays: true };
}

/** Whether `batch` came from `sharedCopy` with every array still starting its own SharedArrayBuffer. */
export function isSharedBatch(batch: ColumnBatch): boolean {
  if (batch.ownsSharedArrays !== true) return false;
  const owns = (array: ArrayBufferView | null) => array === null || (array.buffer instanceof SharedArrayBuffer && array.byteOffset === 0);
  if (!owns(batch.time)) return false;
  for (const column of batch.columns) {
    if (!owns(column.valid) || !owns(column.type === 'string' ? column.ids : column.values)) return false;
  }
  return true;
}

import type { Column, ColumnBatch, ColumnType } from '../columnar/column-batch.js';
import { setMicros, wordsOf } from '../columnar/time.js';

/** A field column of an import: where it is in a record, and its type (fixed for the whole file). */
export interface ImportColumn {
  name: string;
  /** Position in the CSV record. */
  index: number;
  type: ColumnType;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/;
const SPECIAL_FLOAT = /^[+-]?(nan|inf|infinity)$/i;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * The type a column of text values gets, as a MessagePack write of the same values would type it:
 * only integers → int64; integers and decimals → float64; only true/false → bool; anything else,
 * or no value at all, → string. Empty texts are NULLs and do not count.
 */
export function inferColumnType(values: readonly string[]): ColumnType {
  let integers = false;
  let floats = false;
  let bools = false;
  for (const value of values) {
    if (value === '') continue;
    if (INTEGER.test(value)) {
      if (parseInteger(value) === null) floats = true; // past int64: only a DOUBLE holds it
      else integers = true;
    } else if (DECIMAL.test(value) || SPECIAL_FLOAT.test(value)) floats = true;
    else if (parseBool(value) !== null) bools = true;
    else return 'string';
  }
  if (bools) return integers || floats ? 'string' : 'bool';
  if (floats) return 'float64';
  return integers ? 'int64' : 'string';
}

/** An int64 from decimal digits, or null past its range. */
export function parseInteger(text: string): number | bigint | null {
  if (text.length <= 15) return Number(text);
  const big = BigInt(text);
  if (big < INT64_MIN || big > INT64_MAX) return null;
  const asNumber = Number(big);
  return Number.isSafeInteger(asNumber) ? asNumber : big;
}

export function parseBool(text: string): boolean | null {
  const lower = text.length <= 5 ? text.toLowerCase() : '';
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return null;
}

function parseFloatText(text: string): number | null {
  if (DECIMAL.test(text)) return Number(text);
  if (SPECIAL_FLOAT.test(text)) {
    const lower = text.toLowerCase();
    if (lower.endsWith('nan')) return NaN;
    return lower.startsWith('-') ? -Infinity : Infinity;
  }
  return null;
}

/** One column's arrays in a chunk. */
interface ChunkColumn {
  spec: ImportColumn;
  int64: BigInt64Array | null;
  int64Words: Uint32Array | null;
  float64: Float64Array | null;
  bools: Uint8Array | null;
  ids: Uint32Array | null;
  valid: Uint8Array;
  hasNull: boolean;
  dictionary: string[];
  dictionaryIds: Map<string, number>;
}

/**
 * Up to `capacity` rows of one measurement with a fixed set of typed columns, refilled chunk after
 * chunk (its arrays are reused: the write path copies what it keeps). A row is added whole or not
 * at all, so a rejected row leaves no trace.
 */
export class ColumnChunk {
  rowCount = 0;
  private readonly time: BigInt64Array;
  private readonly timeWords: Uint32Array;
  private readonly columns: ChunkColumn[];
  /** Values of the row being added, checked before any is stored. */
  private readonly staged: Array<number | bigint | boolean | string | null>;

  constructor(
    readonly measurement: string,
    specs: readonly ImportColumn[],
    readonly capacity: number,
    private readonly tagColumns: readonly string[] | null,
  ) {
    this.time = new BigInt64Array(capacity);
    this.timeWords = wordsOf(this.time);
    this.columns = [...specs]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((spec) => {
        const int64 = spec.type === 'int64' ? new BigInt64Array(capacity) : null;
        return {
          spec,
          int64,
          int64Words: int64 ? wordsOf(int64) : null,
          float64: spec.type === 'float64' ? new Float64Array(capacity) : null,
          bools: spec.type === 'bool' ? new Uint8Array(capacity) : null,
          ids: spec.type === 'string' ? new Uint32Array(capacity) : null,
          valid: new Uint8Array(capacity),
          hasNull: false,
          dictionary: [],
          dictionaryIds: new Map(),
        };
      });
    this.staged = new Array(this.columns.length).fill(null);
  }

  get full(): boolean {
    return this.rowCount === this.capacity;
  }

  /** Adds a row of texts (`record[column.index]`); returns why it cannot be stored, or null. */
  addTextRow(micros: number | bigint, record: readonly string[]): string | null {
    for (let c = 0; c < this.columns.length; c++) {
      const { spec } = this.columns[c]!;
      const text = record[spec.index]!;
      if (text === '') {
        this.staged[c] = null;
        continue;
      }
      const value = spec.type === 'int64' ? (INTEGER.test(text) ? parseInteger(text) : null) : spec.type === 'float64' ? parseFloatText(text) : spec.type === 'bool' ? parseBool(text) : text;
      if (value === null) return `column '${spec.name}': ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} is not ${ARTICLE[spec.type]} (the column's type, decided from the first rows of the file)`;
      this.staged[c] = value;
    }
    this.commit(micros);
    return null;
  }

  /** Adds a row of values already of the columns' types (null = NULL), in the order of `specs` sorted by name. */
  addValues(micros: number | bigint, values: ReadonlyArray<number | bigint | boolean | string | null>): void {
    for (let c = 0; c < this.columns.length; c++) this.staged[c] = values[c]!;
    this.commit(micros);
  }

  private commit(micros: number | bigint): void {
    const row = this.rowCount;
    setMicros(this.time, this.timeWords, row, micros);
    for (let c = 0; c < this.columns.length; c++) {
      const column = this.columns[c]!;
      const value = this.staged[c]!;
      if (value === null) {
        column.valid[row] = 0;
        column.hasNull = true;
        continue;
      }
      column.valid[row] = 1;
      switch (column.spec.type) {
        case 'int64':
          setMicros(column.int64!, column.int64Words!, row, value as number | bigint); // any int64, not only times
          break;
        case 'float64':
          column.float64![row] = value as number;
          break;
        case 'bool':
          column.bools![row] = value ? 1 : 0;
          break;
        case 'string': {
          const text = value as string;
          let id = column.dictionaryIds.get(text);
          if (id === undefined) {
            id = column.dictionary.length;
            column.dictionary.push(text);
            column.dictionaryIds.set(text, id);
          }
          column.ids![row] = id;
          break;
        }
      }
    }
    this.rowCount++;
  }

  /** The rows so far as a batch viewing this chunk's arrays: valid until `reset`. */
  toBatch(): ColumnBatch {
    const n = this.rowCount;
    const columns = this.columns.map((column): Column => {
      const valid = column.hasNull ? column.valid.subarray(0, n) : null;
      const name = column.spec.name;
      switch (column.spec.type) {
        case 'int64':
          return { name, type: 'int64', values: column.int64!.subarray(0, n), valid };
        case 'float64':
          return { name, type: 'float64', values: column.float64!.subarray(0, n), valid };
        case 'bool':
          return { name, type: 'bool', values: column.bools!.subarray(0, n), valid };
        case 'string':
          return { name, type: 'string', ids: column.ids!.subarray(0, n), dictionary: column.dictionary, valid };
      }
    });
    return { measurement: this.measurement, rowCount: n, time: this.time.subarray(0, n), columns, tagColumns: this.tagColumns };
  }

  reset(): void {
    this.rowCount = 0;
    for (const column of this.columns) {
      column.hasNull = false;
      if (column.dictionary.length > 0) {
        column.dictionary = [];
        column.dictionaryIds.clear();
      }
    }
  }
}

const ARTICLE: Record<ColumnType, string> = { int64: 'an integer', float64: 'a number', bool: 'true or false', string: 'a string' };

import duckdb from '@duckdb/node-bindings';
import duckdbApi, { type DuckDBConnection, type DuckDBInstance, type DuckDBResult } from '@duckdb/node-api';
import path from 'node:path';
import type { Column, ColumnType } from '../columnar/column-batch.js';
import { StringSlots, aligned, vectorValidity } from './result-reader.js';

const { DuckDBInstance: Instance, quotedIdentifier, quotedString } = duckdbApi;

/** How a Parquet column is read: as one of the four column types, or (for the time column) as a timestamp. */
export type ParquetFieldKind = ColumnType | 'timestamp';

export interface ParquetField {
  name: string;
  /** DuckDB's name of the column type, e.g. `BIGINT`, `TIMESTAMP WITH TIME ZONE`, `DECIMAL(10,2)`. */
  sqlType: string;
  kind: ParquetFieldKind;
}

/** How the time column is read: µs since the epoch (timestamps, dates), raw integers, or texts. */
export type TimeRead = 'timestamp' | 'integer' | 'text';

export interface ParquetReadPlan {
  timeColumn: string;
  time: TimeRead;
  /** Field columns, read as their kind (timestamps of non-time columns as ISO text). */
  columns: readonly ParquetField[];
  /** Rows per slice. */
  sliceRows: number;
}

/** A run of rows in file order. Arrays are fresh per slice (the caller may keep them). */
export interface ParquetSlice {
  /** 0-based index of the first row in the file. */
  firstRow: number;
  rowCount: number;
  /** µs (timestamp) or raw integers, with 1/0 per row for present/NULL; or the texts. */
  time: { values: BigInt64Array; valid: Uint8Array | null } | { texts: Array<string | null> };
  /** The field columns, in the plan's order. */
  columns: Column[];
}

/** Integer types a BIGINT holds exactly. */
const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'UTINYINT', 'USMALLINT', 'UINTEGER']);
/** Numbers read as DOUBLE: floats, decimals, and integers too wide for BIGINT. */
const FLOAT_TYPES = /^(FLOAT|DOUBLE|REAL|DECIMAL.*|UBIGINT|HUGEINT|UHUGEINT)$/;
const TIMESTAMP_TYPES = /^(TIMESTAMP.*|DATE)$/;

/**
 * Reads a Parquet file in slices of rows with a DuckDB instance of its own: one thread, a small
 * memory limit, and access to the file's directory only. DuckDB streams the file row group by row
 * group, so a file of any size is read in bounded memory.
 */
export class ParquetSource {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly file: string,
    readonly fields: readonly ParquetField[],
    readonly rowCount: number,
    readonly rowGroups: number,
  ) {}

  /** Opens `file`; throws an Error with DuckDB's reason when it is not a readable Parquet file. */
  static async open(file: string, memoryLimit = '64MB'): Promise<ParquetSource> {
    const instance = await Instance.create(':memory:', { threads: '1', memory_limit: memoryLimit });
    const connection = await instance.connect();
    try {
      await connection.run("SET TimeZone = 'UTC'");
      await connection.run(`SET allowed_directories = [${quotedString(path.dirname(file) + path.sep)}]`);
      await connection.run('SET enable_external_access = false');
      const source = quotedString(file);
      const meta = (await connection.runAndReadAll(`SELECT num_rows, num_row_groups FROM parquet_file_metadata(${source})`)).getRowObjects();
      const described = (await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${source})`)).getRowObjects();
      const fields = described.map((row): ParquetField => {
        const sqlType = String(row.column_type);
        return { name: String(row.column_name), sqlType, kind: fieldKind(sqlType) };
      });
      return new ParquetSource(instance, connection, file, fields, Number(meta[0]?.num_rows ?? 0), Number(meta[0]?.num_row_groups ?? 0));
    } catch (err) {
      connection.closeSync();
      instance.closeSync();
      throw err;
    }
  }

  /** The rows in file order, `plan.sliceRows` at a time. */
  async *read(plan: ParquetReadPlan): AsyncGenerator<ParquetSlice> {
    const time = quotedIdentifier(plan.timeColumn);
    const timeSql = plan.time === 'timestamp' ? `epoch_us(${time})` : plan.time === 'integer' ? `CAST(${time} AS BIGINT)` : `CAST(${time} AS VARCHAR)`;
    const columnSql = plan.columns.map((field) => {
      const name = quotedIdentifier(field.name);
      const type = field.kind === 'int64' ? 'BIGINT' : field.kind === 'float64' ? 'DOUBLE' : field.kind === 'bool' ? 'BOOLEAN' : 'VARCHAR';
      return `CAST(${name} AS ${type})`;
    });
    const sql = `SELECT ${[timeSql, ...columnSql].join(', ')} FROM read_parquet(${quotedString(this.file)})`;
    const result: DuckDBResult = await this.connection.stream(sql);
    const kinds: ColumnType[] = plan.columns.map((field) => (field.kind === 'timestamp' ? 'string' : field.kind));
    let builder = new SliceBuilder(plan, kinds, 0);
    for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      let from = 0;
      while (from < chunk.rowCount) {
        const taken = builder.append(chunk.chunk, from, chunk.rowCount);
        from += taken;
        if (builder.full) {
          yield builder.finish();
          builder = new SliceBuilder(plan, kinds, builder.end);
        }
      }
    }
    if (builder.rows > 0) yield builder.finish();
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

function fieldKind(sqlType: string): ParquetFieldKind {
  if (INTEGER_TYPES.has(sqlType)) return 'int64';
  if (FLOAT_TYPES.test(sqlType)) return 'float64';
  if (sqlType === 'BOOLEAN') return 'bool';
  if (TIMESTAMP_TYPES.test(sqlType)) return 'timestamp';
  return 'string';
}

/** Copies DuckDB vectors (time first, then the fields) into one slice's arrays. */
class SliceBuilder {
  rows = 0;
  private readonly capacity: number;
  private readonly timeValues: BigInt64Array | null;
  private readonly timeValid: Uint8Array | null;
  private readonly timeTexts: Array<string | null> | null;
  private readonly values: Array<BigInt64Array | Float64Array | Uint8Array | Uint32Array>;
  private readonly valid: Uint8Array[];
  private readonly hasNull: boolean[];
  private readonly dictionaries: Array<{ values: string[]; ids: Map<string, number> } | null>;

  constructor(
    private readonly plan: ParquetReadPlan,
    private readonly kinds: readonly ColumnType[],
    private readonly firstRow: number,
  ) {
    const n = (this.capacity = plan.sliceRows);
    const textTime = plan.time === 'text';
    this.timeValues = textTime ? null : new BigInt64Array(n);
    this.timeValid = textTime ? null : new Uint8Array(n);
    this.timeTexts = textTime ? [] : null;
    this.values = kinds.map((kind) => (kind === 'int64' ? new BigInt64Array(n) : kind === 'float64' ? new Float64Array(n) : kind === 'bool' ? new Uint8Array(n) : new Uint32Array(n)));
    this.valid = kinds.map(() => new Uint8Array(n));
    this.hasNull = kinds.map(() => false);
    this.dictionaries = kinds.map((kind) => (kind === 'string' ? { values: [], ids: new Map() } : null));
  }

  get full(): boolean {
    return this.rows === this.capacity;
  }

  get end(): number {
    return this.firstRow + this.rows;
  }

  /** Copies rows [from, to) of a chunk, as many as fit; returns how many. */
  append(chunk: duckdb.DataChunk, from: number, to: number): number {
    const count = Math.min(to - from, this.capacity - this.rows);
    const at = this.rows;
    const timeVector = duckdb.data_chunk_get_vector(chunk, 0);
    if (this.timeTexts) {
      const texts = readStrings(timeVector, to, from, count);
      for (const text of texts) this.timeTexts.push(text);
    } else {
      const data = aligned(duckdb.vector_get_data(timeVector, to * 8), BigInt64Array, to);
      this.timeValues!.set(data.subarray(from, from + count), at);
      copyValidity(vectorValidity(timeVector, to), from, count, this.timeValid!, at);
    }
    for (let c = 0; c < this.kinds.length; c++) {
      const vector = duckdb.data_chunk_get_vector(chunk, c + 1);
      const bitmap = vectorValidity(vector, to);
      if (copyValidity(bitmap, from, count, this.valid[c]!, at)) this.hasNull[c] = true;
      const target = this.values[c]!;
      switch (this.kinds[c]) {
        case 'int64':
          (target as BigInt64Array).set(aligned(duckdb.vector_get_data(vector, to * 8), BigInt64Array, to).subarray(from, from + count), at);
          break;
        case 'float64':
          (target as Float64Array).set(aligned(duckdb.vector_get_data(vector, to * 8), Float64Array, to).subarray(from, from + count), at);
          break;
        case 'bool':
          (target as Uint8Array).set(duckdb.vector_get_data(vector, to).subarray(from, from + count), at);
          break;
        case 'string': {
          const dictionary = this.dictionaries[c]!;
          const ids = target as Uint32Array;
          const texts = readStrings(vector, to, from, count);
          for (let i = 0; i < count; i++) {
            const text = texts[i];
            if (text === null || text === undefined) continue;
            let id = dictionary.ids.get(text);
            if (id === undefined) {
              id = dictionary.values.length;
              dictionary.values.push(text);
              dictionary.ids.set(text, id);
            }
            ids[at + i] = id;
          }
          break;
        }
      }
    }
    this.rows += count;
    return count;
  }

  finish(): ParquetSlice {
    const n = this.rows;
    const columns = this.plan.columns.map((field, c): Column => {
      const valid = this.hasNull[c] ? this.valid[c]!.subarray(0, n) : null;
      const values = this.values[c]!;
      switch (this.kinds[c]) {
        case 'int64':
          return { name: field.name, type: 'int64', values: (values as BigInt64Array).subarray(0, n), valid };
        case 'float64':
          return { name: field.name, type: 'float64', values: (values as Float64Array).subarray(0, n), valid };
        case 'bool':
          return { name: field.name, type: 'bool', values: (values as Uint8Array).subarray(0, n), valid };
        default:
          return { name: field.name, type: 'string', ids: (values as Uint32Array).subarray(0, n), dictionary: this.dictionaries[c]!.values, valid };
      }
    });
    const time = this.timeTexts ? { texts: this.timeTexts } : { values: this.timeValues!.subarray(0, n), valid: this.timeValid!.subarray(0, n) };
    return { firstRow: this.firstRow, rowCount: n, time, columns };
  }
}

/** Writes 1/0 per row from a validity bitmap (null = all valid); returns whether any row was NULL. */
function copyValidity(bitmap: Uint8Array | null, from: number, count: number, target: Uint8Array, at: number): boolean {
  if (bitmap === null) {
    target.fill(1, at, at + count);
    return false;
  }
  let anyNull = false;
  for (let i = 0; i < count; i++) {
    const row = from + i;
    const bit = (bitmap[row >>> 3]! >>> (row & 7)) & 1;
    target[at + i] = bit;
    if (bit === 0) anyNull = true;
  }
  return anyNull;
}

/** Rows [from, from + count) of a VARCHAR vector of `rows` rows (null for NULL). */
function readStrings(vector: duckdb.Vector, rows: number, from: number, count: number): Array<string | null> {
  const slots = new StringSlots(vector, rows);
  const data = Buffer.from(slots.data.buffer, slots.data.byteOffset, slots.data.byteLength);
  const bitmap = vectorValidity(vector, rows);
  const out: Array<string | null> = new Array(count);
  for (let i = 0; i < count; i++) {
    const row = from + i;
    if (bitmap !== null && ((bitmap[row >>> 3]! >>> (row & 7)) & 1) === 0) {
      out[i] = null;
      continue;
    }
    const length = slots.length(row);
    if (length <= 12) out[i] = data.toString('utf8', row * 16 + 4, row * 16 + 4 + length);
    else {
      const bytes = slots.outOfLine(row, length);
      out[i] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
    }
  }
  return out;
}


import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { TIME_COLUMN, sliceBatch, type Column, type ColumnBatch } from '../columnar/column-batch.js';
import { END_TIME_US, MIN_TIME_US, getInt64, setMicros, wordsOf } from '../columnar/time.js';
import { ParquetSource, type ParquetField, type ParquetSlice, type TimeRead } from '../duckdb/parquet-source.js';
import { ArcError } from '../errors.js';
import { columnNamesProblem } from '../ingest/names.js';
import type { ImportReport } from './import-report.js';
import type { ImportSink } from './import-sink.js';
import { TimeReader, type TimeFormat } from './time-values.js';

export interface ParquetImportOptions {
  measurement: string;
  timeColumn: string;
  /** For an integer time column: its epoch unit ('' = detect from the first value). */
  timeFormat: TimeFormat;
  /** Where the upload is spooled while it is read (removed afterwards). */
  spoolDirectory: string;
}

/** Rows per chunk handed to the write path. */
const SLICE_ROWS = 16_384;

/**
 * Imports a Parquet file. Parquet keeps its metadata at the end, so the upload is first spooled to
 * a temporary file (streamed to disk, never held in memory), then read in slices by DuckDB. The
 * time column may be a TIMESTAMP (any unit, with or without zone), a DATE, an integer epoch (unit
 * from `time_format`, or detected) or RFC 3339 text. Field columns keep their type: integers
 * BIGINT (wider ones DOUBLE), floats and decimals DOUBLE, BOOLEAN, strings VARCHAR; any other type
 * is stored as its text. Rows whose time is NULL or out of range are rejected with their row number.
 */
export async function importParquet(input: AsyncIterable<Buffer>, options: ParquetImportOptions, sink: ImportSink, report: ImportReport): Promise<void> {
  fs.mkdirSync(options.spoolDirectory, { recursive: true });
  const spool = path.join(options.spoolDirectory, `upload-${randomUUID()}.parquet`);
  try {
    await pipeline(Readable.from(input, { objectMode: false }), fs.createWriteStream(spool));
    let source: ParquetSource;
    try {
      source = await ParquetSource.open(spool);
    } catch (err) {
      const reason = (err as Error).message.split(spool).join('the upload');
      throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the file is not a readable Parquet file: ${reason}`);
    }
    try {
      await importSource(source, options, sink, report);
    } finally {
      source.close();
    }
  } finally {
    fs.rmSync(spool, { force: true });
  }
}

async function importSource(source: ParquetSource, options: ParquetImportOptions, sink: ImportSink, report: ImportReport): Promise<void> {
  const timeField = source.fields.find((field) => field.name === options.timeColumn);
  if (!timeField) {
    throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the Parquet file has no time column ${JSON.stringify(options.timeColumn)} (time_column); it has ${JSON.stringify(source.fields.map((f) => f.name).slice(0, 50))}`, {
      time_column: options.timeColumn,
    });
  }
  const time: TimeRead = timeField.kind === 'timestamp' ? 'timestamp' : timeField.kind === 'int64' ? 'integer' : timeField.kind === 'string' ? 'text' : 'integer';
  if (timeField.kind === 'bool' || (timeField.kind === 'float64' && !/^(UBIGINT|HUGEINT|UHUGEINT)$/.test(timeField.sqlType))) {
    throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the time column ${JSON.stringify(options.timeColumn)} is ${timeField.sqlType}; it must be a TIMESTAMP, DATE, integer or text column`);
  }
  const columns = source.fields.filter((field) => field !== timeField);
  if (columns.some((field) => field.name.toLowerCase() === TIME_COLUMN)) {
    throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the Parquet file has a column named "time" besides the time column ${JSON.stringify(options.timeColumn)}; pass time_column=time or rename it`);
  }
  const problem = columnNamesProblem(columns.map((field) => field.name));
  if (problem) throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the Parquet file's columns: ${problem}`);
  const sorted = [...columns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  report.columns = Object.fromEntries(sorted.map((field) => [field.name, storedType(field)]));
  const reader = new TimeReader(options.timeFormat);
  for await (const slice of source.read({ timeColumn: timeField.name, time, columns: sorted, sliceRows: SLICE_ROWS })) {
    const batch = toBatch(slice, time, reader, options.measurement, report);
    if (batch.rowCount === 0) continue;
    await sink.write([batch]);
    report.rowsImported += batch.rowCount;
    report.measurements.add(options.measurement);
  }
}

function storedType(field: ParquetField): string {
  return field.kind === 'timestamp' ? 'string' : field.kind;
}

/** The slice's rows with a usable time, as a batch; the others are rejected with their row number (from 1). */
function toBatch(slice: ParquetSlice, time: TimeRead, reader: TimeReader, measurement: string, report: ImportReport): ColumnBatch {
  const n = slice.rowCount;
  const micros = new BigInt64Array(n);
  const words = wordsOf(micros);
  const keep = new Uint8Array(n);
  let kept = 0;
  const raw = 'texts' in slice.time ? null : slice.time;
  const rawWords = raw ? wordsOf(raw.values) : null;
  if (raw && time === 'timestamp') micros.set(raw.values);
  for (let i = 0; i < n; i++) {
    let reason: string | null = null;
    if (raw === null) {
      const text = (slice.time as { texts: Array<string | null> }).texts[i];
      if (text === null || text === undefined) reason = 'the time is NULL';
      else {
        const read = reader.readText(text.trim());
        if (read.ok) setMicros(micros, words, i, read.micros);
        else reason = read.reason;
      }
    } else if (raw.valid !== null && raw.valid[i] === 0) {
      reason = 'the time is NULL';
    } else {
      // Exact below 2^53; past it only the range check reads it, and the bounds are far from there.
      const value = getInt64(rawWords!, i);
      if (time === 'timestamp') {
        if (value < MIN_TIME_US || value >= END_TIME_US) reason = `time ${raw.values[i]} µs is outside years 1 to 9999`;
      } else {
        const read = reader.readInteger(Number.isSafeInteger(value) ? value : raw.values[i]!);
        if (read.ok) setMicros(micros, words, i, read.micros);
        else reason = read.reason;
      }
    }
    if (reason === null) {
      keep[i] = 1;
      kept++;
    } else {
      report.reject(slice.firstRow + i + 1, reason);
    }
  }
  const batch: ColumnBatch = { measurement, rowCount: n, time: micros, columns: slice.columns, tagColumns: null };
  if (kept === n) return batch;
  if (kept === 0) return sliceBatch(batch, 0, 0);
  return compact(batch, keep, kept);
}

/** The rows of `batch` with keep[i] = 1, copied. */
function compact(batch: ColumnBatch, keep: Uint8Array, kept: number): ColumnBatch {
  const pick = <A extends BigInt64Array | Float64Array | Uint8Array | Uint32Array>(source: A, make: (n: number) => A): A => {
    const out = make(kept);
    let j = 0;
    for (let i = 0; i < batch.rowCount; i++) if (keep[i] === 1) out[j++] = source[i]!;
    return out;
  };
  const columns = batch.columns.map((column): Column => {
    const valid = column.valid ? pick(column.valid, (k) => new Uint8Array(k)) : null;
    switch (column.type) {
      case 'int64':
        return { ...column, values: pick(column.values, (k) => new BigInt64Array(k)), valid };
      case 'float64':
        return { ...column, values: pick(column.values, (k) => new Float64Array(k)), valid };
      case 'bool':
        return { ...column, values: pick(column.values, (k) => new Uint8Array(k)), valid };
      case 'string':
        return { ...column, ids: pick(column.ids, (k) => new Uint32Array(k)), valid };
    }
  });
  return { ...batch, rowCount: kept, time: pick(batch.time, (k) => new BigInt64Array(k)), columns };
}

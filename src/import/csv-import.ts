import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse, type CsvError } from 'csv-parse';
import { TIME_COLUMN } from '../columnar/column-batch.js';
import { ArcError } from '../errors.js';
import { columnNamesProblem } from '../ingest/names.js';
import { ColumnChunk, inferColumnType, type ImportColumn } from './column-chunk.js';
import type { ImportReport } from './import-report.js';
import type { ImportSink } from './import-sink.js';
import { TimeReader, type TimeFormat } from './time-values.js';

export interface CsvImportOptions {
  measurement: string;
  /** Header name of the time column (default `time`). */
  timeColumn: string;
  timeFormat: TimeFormat;
  /** One character (default `,`). */
  delimiter: string;
  /** Lines before the header to skip (default 0). */
  skipRows: number;
}

/** Records read before the column types are decided (and nothing is written). */
const SAMPLE_RECORDS = 1000;
/** Rows per chunk handed to the write path. */
const CHUNK_ROWS = 16_384;
/** A record longer than this (an unclosed quote running on) is rejected instead of growing without end. */
const MAX_RECORD_BYTES = 4 << 20;

/**
 * Imports a CSV file: a header line (after `skipRows` lines), then one row per record. The time
 * column becomes `time`; every other column a field, typed from the first records: integers
 * BIGINT, integers and decimals mixed DOUBLE, true/false BOOLEAN, anything else VARCHAR (the
 * types a MessagePack write of the same values would get). An empty field is NULL. A record
 * that cannot be stored (wrong field count, a value not of its column's type, a bad time, broken
 * quoting) is rejected with its line number and reason; the others are written in chunks as the
 * file streams in.
 */
export async function importCsv(input: AsyncIterable<Buffer>, options: CsvImportOptions, sink: ImportSink, report: ImportReport): Promise<void> {
  const parser = parse({
    delimiter: options.delimiter,
    from_line: options.skipRows + 1,
    relax_column_count: true,
    relax_quotes: true,
    skip_records_with_error: true,
    skip_empty_lines: true,
    bom: true,
    info: true,
    max_record_size: MAX_RECORD_BYTES,
  });
  parser.on('skip', (err: CsvError & { lines?: number }) => report.reject(err.lines ?? 0, `malformed CSV: ${err.message}`));
  const feeding = pipeline(Readable.from(input, { objectMode: false }), parser);
  feeding.catch(() => undefined); // the loop below sees the same error
  const importer = new CsvRows(options, sink, report);
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    await importer.add(record, info.lines);
  }
  await feeding;
  await importer.finish();
}

class CsvRows {
  private header: string[] | null = null;
  private timeIndex = -1;
  private columns: ImportColumn[] | null = null;
  private readonly sample: Array<{ record: string[]; line: number }> = [];
  private chunk: ColumnChunk | null = null;
  private readonly time: TimeReader;

  constructor(
    private readonly options: CsvImportOptions,
    private readonly sink: ImportSink,
    private readonly report: ImportReport,
  ) {
    this.time = new TimeReader(options.timeFormat);
  }

  async add(record: string[], line: number): Promise<void> {
    if (this.header === null) {
      this.readHeader(record, line);
      return;
    }
    if (this.columns === null) {
      this.sample.push({ record, line });
      if (this.sample.length >= SAMPLE_RECORDS) await this.startColumns();
      return;
    }
    await this.addRow(record, line);
  }

  async finish(): Promise<void> {
    if (this.header === null) throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', 'the CSV file has no header line');
    if (this.columns === null) await this.startColumns();
    await this.writeChunk();
  }

  private readHeader(record: string[], line: number): void {
    const names = record.map((name) => name.trim());
    this.timeIndex = names.indexOf(this.options.timeColumn);
    if (this.timeIndex < 0) {
      throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the CSV header (line ${line}) has no time column ${JSON.stringify(this.options.timeColumn)} (time_column); it has ${JSON.stringify(names.slice(0, 50))}`, {
        line,
        time_column: this.options.timeColumn,
      });
    }
    const fields = names.filter((_, i) => i !== this.timeIndex);
    if (fields.some((name) => name.toLowerCase() === TIME_COLUMN)) {
      throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the CSV header (line ${line}) has a column named "time" besides the time column ${JSON.stringify(this.options.timeColumn)}; rename one of them`, { line });
    }
    const problem = columnNamesProblem(fields);
    if (problem) throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the CSV header (line ${line}): ${problem}`, { line });
    this.header = names;
  }

  /** Decides the column types from the sample, then writes the sample. */
  private async startColumns(): Promise<void> {
    const header = this.header!;
    this.columns = [];
    // Records of the wrong length will be rejected: their values must not type the columns.
    const typical = this.sample.filter(({ record }) => record.length === header.length);
    for (let i = 0; i < header.length; i++) {
      if (i === this.timeIndex) continue;
      const values = typical.map(({ record }) => record[i]!);
      this.columns.push({ name: header[i]!, index: i, type: inferColumnType(values) });
    }
    this.report.columns = Object.fromEntries(this.columns.map((column) => [column.name, column.type]));
    this.chunk = new ColumnChunk(this.options.measurement, this.columns, CHUNK_ROWS, null);
    for (const { record, line } of this.sample) await this.addRow(record, line);
    this.sample.length = 0;
  }

  private async addRow(record: string[], line: number): Promise<void> {
    const header = this.header!;
    if (record.length !== header.length) {
      this.report.reject(line, `expected ${header.length} fields (as in the header), got ${record.length}`);
      return;
    }
    const time = this.time.readText(record[this.timeIndex]!.trim());
    if (!time.ok) {
      this.report.reject(line, time.reason);
      return;
    }
    const chunk = this.chunk!;
    const problem = chunk.addTextRow(time.micros, record);
    if (problem !== null) {
      this.report.reject(line, problem);
      return;
    }
    if (chunk.full) await this.writeChunk();
  }

  private async writeChunk(): Promise<void> {
    const chunk = this.chunk;
    if (chunk === null || chunk.rowCount === 0) return;
    await this.sink.write([chunk.toBatch()]);
    this.report.rowsImported += chunk.rowCount;
    this.report.measurements.add(this.options.measurement);
    chunk.reset();
  }
}

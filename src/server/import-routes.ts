import path from 'node:path';
import type { Readable } from 'node:stream';
import { requireDatabase } from '../auth/database-scope.js';
import { ArcError, formatSize } from '../errors.js';
import { importCsv, type CsvImportOptions } from '../import/csv-import.js';
import { uploadedFile } from '../import/file-input.js';
import { ImportReport, ImportStats, type ImportFormat } from '../import/import-report.js';
import { ImportSink } from '../import/import-sink.js';
import { importLineProtocol } from '../import/lp-import.js';
import { importParquet } from '../import/parquet-import.js';
import { parseTimeFormat, type TimeFormat } from '../import/time-values.js';
import { parsePrecision } from '../ingest/line-protocol.js';
import { DEFAULT_DATABASE, checkDatabaseName, isValidMeasurementName, measurementNameError } from '../ingest/names.js';
import { allowLongUpload } from './long-uploads.js';
import { withMultipartFile } from './multipart.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';
import type { ServerState } from './server-state.js';

/** Hidden under the storage root (never a database): Parquet uploads wait here while they are read. */
export const IMPORT_SPOOL_DIRECTORY = '.import';
/** An import's share of ingest.max_buffer_memory: it waits for flushes past this instead of filling the buffers. */
const IMPORT_MEMORY_BUDGET = 16 << 20;
/** A refused upload up to this size is read to its end before the answer (see discardSmallRest). */
const DISCARD_LIMIT = 16 << 20;
/** Multipart framing around the file, allowed on top of import.max_file_size in Content-Length. */
const FRAMING_ALLOWANCE = 1 << 20;

/** POST /api/v1/import/csv|parquet|lp (admin) and GET /api/v1/import/stats. */
export function importRoutes(state: ServerState): Route[] {
  const stats = new ImportStats();
  const route = (format: ImportFormat): Route => ({
    method: 'POST',
    path: `/api/v1/import/${format}`,
    envelope: 'plain',
    permission: 'admin',
    handler: (context) => importFile(state, stats, context, format),
  });
  return [
    route('csv'),
    route('parquet'),
    route('lp'),
    {
      method: 'GET',
      path: '/api/v1/import/stats',
      envelope: 'plain',
      permission: 'any', // Arc: stats of a subsystem need any valid token
      handler: ({ res }) => sendJson(res, 200, { status: 'success', stats: stats.toJson() }),
    },
  ];
}

type Importer = (input: AsyncIterable<Buffer>, sink: ImportSink, report: ImportReport) => Promise<void>;

async function importFile(state: ServerState, stats: ImportStats, context: RequestContext, format: ImportFormat): Promise<void> {
  try {
    await runImport(state, stats, context, format);
  } catch (err) {
    await discardSmallRest(context.req);
    throw err;
  }
}

/**
 * Reads and drops what is left of a refused upload when it is small, so the client (which is still
 * sending) gets the error answer instead of a broken pipe; a big rest is not worth reading, and the
 * connection is closed after the answer instead.
 */
async function discardSmallRest(req: RequestContext['req']): Promise<void> {
  if (req.complete || req.destroyed) return;
  const declared = Number(req.headers['content-length'] ?? 'NaN');
  if (!(declared <= DISCARD_LIMIT)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      req.off('end', done);
      req.off('close', done);
      resolve();
    };
    req.on('end', done);
    req.on('close', done);
    req.resume();
  });
}

async function runImport(state: ServerState, stats: ImportStats, context: RequestContext, format: ImportFormat): Promise<void> {
  const { req, res } = context;
  const query = new URLSearchParams(context.rawQuery);
  const database = databaseOf(context, query);
  requireDatabase(context.principal, database);
  const importer = importerFor(state, format, query);
  const limit = state.config.import.maxFileSize;
  const declared = Number(req.headers['content-length'] ?? '-1');
  if (declared > limit + FRAMING_ALLOWANCE) {
    throw new ArcError('ARC_ERR_IMPORT_TOO_LARGE', `the upload (${formatSize(declared)}) is larger than import.max_file_size (${formatSize(limit)})`);
  }
  allowLongUpload(req, res);
  const report = new ImportReport(format, database);
  const sink = new ImportSink(state, database, Math.min(IMPORT_MEMORY_BUDGET, state.config.ingest.maxBufferMemory / 2));
  stats.active++;
  try {
    await withMultipartFile(req, 'file', (file: Readable) => importer(uploadedFile(file, limit, report), sink, report));
    stats.finished(report, null);
  } catch (err) {
    const error = err instanceof ArcError ? err : null;
    stats.finished(report, error ?? { code: 'ARC_ERR_INTERNAL', message: (err as Error).message });
    // A streamed import is not all-or-nothing: say what was written before the failure.
    if (error && sink.rows > 0 && error.details.rows_imported === undefined) {
      throw new ArcError(error.code, error.message, { ...error.details, rows_imported: report.rowsImported }, error.headers);
    }
    throw err;
  } finally {
    stats.active--;
  }
  sendJson(res, 200, { status: 'ok', result: report.toJson() });
}

function databaseOf(context: RequestContext, query: URLSearchParams): string {
  const header = context.req.headers['x-arc-database'];
  const value = (Array.isArray(header) ? header[0] : header)?.trim() || query.get('db')?.trim() || DEFAULT_DATABASE;
  checkDatabaseName(value);
  return value;
}

/** Checks the format's parameters before any of the body is read, and returns its importer. */
function importerFor(state: ServerState, format: ImportFormat, query: URLSearchParams): Importer {
  if (format === 'lp') {
    const precisionText = query.get('precision') ?? undefined;
    const precision = parsePrecision(precisionText);
    if (precision === null) {
      throw new ArcError('ARC_ERR_INVALID_PRECISION', `invalid precision ${JSON.stringify(precisionText)}: must be ns, us, ms, or s (or InfluxDB 1.x n, u, m, h)`, { precision: precisionText });
    }
    const filter = query.get('measurement');
    if (filter !== null && filter !== '' && !isValidMeasurementName(filter)) throw new ArcError('ARC_ERR_INVALID_MEASUREMENT', measurementNameError(filter), { measurement: filter });
    const options = {
      precision,
      precisionText: precisionText ?? 'ns',
      measurement: filter || null,
      interner: state.decodeContext.interner,
      nowMicros: state.decodeContext.nowMicros(),
    };
    return (input, sink, report) => importLineProtocol(input, options, sink, report);
  }
  const measurement = query.get('measurement');
  if (measurement === null || measurement === '') {
    throw new ArcError('ARC_ERR_BAD_REQUEST', `the measurement query parameter is required for ${format === 'csv' ? 'CSV' : 'Parquet'} imports (?measurement=NAME)`, { parameter: 'measurement' });
  }
  if (!isValidMeasurementName(measurement)) throw new ArcError('ARC_ERR_INVALID_MEASUREMENT', measurementNameError(measurement), { measurement });
  const timeColumn = query.get('time_column') || 'time';
  const timeFormat = timeFormatOf(query);
  if (format === 'parquet') {
    const options = { measurement, timeColumn, timeFormat, spoolDirectory: path.join(state.root, IMPORT_SPOOL_DIRECTORY) };
    return (input, sink, report) => importParquet(input, options, sink, report);
  }
  const options: CsvImportOptions = { measurement, timeColumn, timeFormat, delimiter: delimiterOf(query), skipRows: skipRowsOf(query) };
  return (input, sink, report) => importCsv(input, options, sink, report);
}

function timeFormatOf(query: URLSearchParams): TimeFormat {
  const text = query.get('time_format');
  const format = parseTimeFormat(text);
  if (format === null) {
    throw new ArcError('ARC_ERR_BAD_REQUEST', `time_format must be epoch_s, epoch_ms, epoch_us, epoch_ns or empty (detect); got ${JSON.stringify(text)}`, { parameter: 'time_format' });
  }
  return format;
}

function delimiterOf(query: URLSearchParams): string {
  let text = query.get('delimiter') ?? ',';
  if (text === '\\t' || text.toLowerCase() === 'tab') text = '\t';
  if (text.length !== 1 || text === '"' || text === '\n' || text === '\r') {
    throw new ArcError('ARC_ERR_BAD_REQUEST', `delimiter must be one character other than a quote or a line break (or "tab"); got ${JSON.stringify(query.get('delimiter'))}`, { parameter: 'delimiter' });
  }
  return text;
}

function skipRowsOf(query: URLSearchParams): number {
  const text = query.get('skip_rows') ?? '0';
  if (!/^\d{1,9}$/.test(text)) throw new ArcError('ARC_ERR_BAD_REQUEST', `skip_rows must be a whole number of lines; got ${JSON.stringify(text)}`, { parameter: 'skip_rows' });
  return Number(text);
}

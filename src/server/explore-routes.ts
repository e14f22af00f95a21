import { chunkJsonColumns, T, type ResultColumn } from '../duckdb/result-reader.js';
import { ArcError } from '../errors.js';
import { DEFAULT_DATABASE, checkDatabaseName } from '../ingest/names.js';
import { knownDatabases, measurementsOf } from './query-routes.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';
import type { ServerState } from './server-state.js';

/** Measurements described in one answer; a database with more lists the rest by name only. */
const DESCRIBED_MEASUREMENTS = 200;

/** DuckDB's type ids by name, spelled as SQL does where the enum differs (TIMESTAMP_TZ is TIMESTAMPTZ). */
const SQL_SPELLING: Record<string, string> = { TIMESTAMP_TZ: 'TIMESTAMPTZ', TIME_TZ: 'TIMETZ', TIMESTAMP_S: 'TIMESTAMP_S' };
const TYPE_NAMES = new Map<number, string>(
  Object.entries(T)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, id]) => [id, SQL_SPELLING[name] ?? name]),
);

export interface MeasurementOverview {
  name: string;
  file_count: number;
  bytes_on_disk: number;
  /** Rows in files and in the buffers, as a query sees them; null past DESCRIBED_MEASUREMENTS. */
  rows: number | null;
  first_time: string | null;
  last_time: string | null;
  columns: Array<{ name: string; type: string }> | null;
}

/**
 * GET /api/v1/console/explore?database=NAME (read permission): each measurement with its columns and
 * DuckDB types, rows, time range, files and bytes on disk: what the console's Explore page shows.
 * Rows and times come from the same queries a client could send, so buffered rows count too.
 */
export function exploreRoutes(state: ServerState): Route[] {
  return [{ method: 'GET', path: '/api/v1/console/explore', envelope: 'plain', permission: 'read', handler: (context) => explore(state, context) }];
}

async function explore(state: ServerState, { res, rawQuery }: RequestContext): Promise<void> {
  const database = new URLSearchParams(rawQuery).get('database') ?? DEFAULT_DATABASE;
  checkDatabaseName(database);
  if (!knownDatabases(state).includes(database)) throw new ArcError('ARC_ERR_DATABASE_NOT_FOUND', `Database '${database}' not found`, { database });
  const measurements: MeasurementOverview[] = [];
  for (const [index, m] of measurementsOf(state, database).entries()) {
    const overview: MeasurementOverview = { name: m.measurement, file_count: m.fileCount, bytes_on_disk: m.totalBytes, rows: null, first_time: null, last_time: null, columns: null };
    if (index < DESCRIBED_MEASUREMENTS) await describe(state, database, overview);
    measurements.push(overview);
  }
  sendJson(res, 200, { database, measurements, count: measurements.length });
}

function quoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function describe(state: ServerState, database: string, overview: MeasurementOverview): Promise<void> {
  // A bare name: the request's database (x-arc-database) resolves it, as for a client's query.
  const table = quoted(overview.name);
  const shape = await run(state, database, `SELECT * FROM ${table} LIMIT 0`);
  overview.columns = shape.columns.map((column) => ({ name: column.name, type: TYPE_NAMES.get(column.typeId) ?? `type ${column.typeId}` }));
  const hasTime = shape.columns.some((column) => column.name === 'time');
  const stats = await run(state, database, hasTime ? `SELECT count(*), min(time), max(time) FROM ${table}` : `SELECT count(*), NULL, NULL FROM ${table}`);
  const [rows, first, last] = stats.row ?? [];
  overview.rows = rows === null || rows === undefined ? 0 : Number(rows);
  overview.first_time = first ? (JSON.parse(first) as string) : null;
  overview.last_time = last ? (JSON.parse(last) as string) : null;
}

/** Runs a query; its columns and its first row as JSON texts. */
async function run(state: ServerState, database: string, sql: string): Promise<{ columns: ResultColumn[]; row: Array<string | null> | null }> {
  const query = await state.queries.open({ sql, database, headerDatabase: true });
  try {
    const chunk = await query.next();
    const row = chunk && chunk.rowCount > 0 ? chunkJsonColumns(chunk, query.columns).map((values) => values[0] ?? null) : null;
    return { columns: query.columns, row };
  } finally {
    await query.close();
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { canReach, databaseAuthorizer, reachable, requireDatabase } from '../auth/database-scope.js';
import type { Principal } from '../auth/auth-service.js';
import { chunkJsonColumns } from '../duckdb/result-reader.js';
import { ArcError } from '../errors.js';
import { DEFAULT_DATABASE, checkDatabaseName } from '../ingest/names.js';
import { stripComments, type OpenQuery, type QueryInput } from '../query/query-service.js';
import { DATABASE_MARKER, databaseCreatedAt, listDatabases } from '../query/storage-files.js';
import { readBody } from './body.js';
import { arrowOptions, streamArrow } from './arrow-response.js';
import { sendMsgpackTable, streamMsgpack } from './msgpack-response.js';
import { rfc3339, sendJson } from './respond.js';
import { ResponseBody } from './response-body.js';
import type { RequestContext } from './router.js';
import type { ServerState } from './server-state.js';

const MAX_QUERY_BODY = 1024 * 1024;
const RESERVED_DATABASES = new Set(['system', 'internal', '_internal']);

/**
 * The request's database for bare table names, whether the header was sent (arc-spec §9), and the
 * token's database scope, which the query service applies to every table the statement references.
 */
function queryDatabase(state: ServerState, context: RequestContext): Pick<QueryInput, 'database' | 'headerDatabase' | 'authorize' | 'signal'> {
  // server.write_timeout (30 s) would cut a query that works longer before its first byte; its
  // own limit is query.timeout, and the 504 must still reach the client.
  const silence = Math.max(state.config.server.writeTimeoutSec, state.config.query.timeoutSec + 10);
  const socket = context.req.socket;
  socket.setTimeout(silence * 1000);
  context.res.once('close', () => socket.setTimeout(state.config.server.writeTimeoutSec * 1000)); // a keep-alive socket's next request
  const authorize = databaseAuthorizer(context.principal);
  const scope = { signal: clientGone(context), ...(authorize ? { authorize } : {}) };
  const header = context.req.headers['x-arc-database'];
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return { database: DEFAULT_DATABASE, headerDatabase: false, ...scope };
  try {
    checkDatabaseName(value);
  } catch (err) {
    throw new ArcError('ARC_ERR_BAD_QUERY', `invalid x-arc-database header: ${(err as Error).message}`);
  }
  return { database: value, headerDatabase: true, ...scope };
}

/**
 * Aborted when the response closes before it finished: the client went away, so its query is
 * interrupted instead of holding a DuckDB session (and CPU) until the time limit.
 */
function clientGone(context: RequestContext): AbortSignal {
  const controller = new AbortController();
  const { res } = context;
  if (res.destroyed) controller.abort();
  else res.once('close', () => (res.writableFinished ? undefined : controller.abort()));
  return controller.signal;
}

async function sqlOf(context: RequestContext): Promise<string> {
  const body = await readBody(context.req, MAX_QUERY_BODY);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ArcError('ARC_ERR_BAD_QUERY', `Invalid request body: ${(err as Error).message}`);
  }
  const sql = (parsed as { sql?: unknown } | null)?.sql;
  if (typeof sql !== 'string' || sql.trim() === '') throw new ArcError('ARC_ERR_BAD_QUERY', 'SQL query is required');
  return sql;
}

/**
 * SHOW DATABASES / SHOW TABLES|MEASUREMENTS [FROM db] as Arc answers them, or null for other SQL.
 * A token scoped to databases sees only its databases in SHOW DATABASES, and SHOW TABLES of
 * another database is refused.
 */
function show(state: ServerState, sql: string, database: string, principal: Principal | null): { columns: string[]; rows: unknown[][] } | null {
  const text = stripComments(sql).trim();
  if (/^SHOW\s+DATABASES\s*;?$/i.test(text)) {
    return { columns: ['database'], rows: reachable(principal, knownDatabases(state), (name) => name).map((name) => [name]) };
  }
  const tables = /^SHOW\s+(?:TABLES|MEASUREMENTS)(?:\s+FROM\s+("[^"]+"|'[^']+'|`[^`]+`|[^\s;]+))?\s*;?$/i.exec(text);
  if (!tables) return null;
  const target = tables[1] ? tables[1].replace(/^["'`]|["'`]$/g, '') : database;
  checkDatabaseName(target);
  requireDatabase(principal, target);
  return { columns: ['database', 'table_name', 'storage_path', 'file_count', 'total_size_mb'], rows: measurementsOf(state, target).map((m) => [m.database, m.measurement, m.storagePath, m.fileCount, m.totalBytes / 1048576]) };
}

export function knownDatabases(state: ServerState): string[] {
  const names = new Set(listDatabases(state.root));
  for (const database of state.catalog.databases()) names.add(database);
  for (const { database } of state.buffers.bufferedMeasurements()) names.add(database);
  return [...names].sort();
}

/** Measurements with visible files (from the file catalog, no directory walk) plus those with rows only in memory so far. */
export function measurementsOf(state: ServerState, database: string) {
  const storagePath = (measurement: string) => path.join(state.root, database, measurement, '**', '*.parquet');
  const list = state.catalog.measurementsOf(database).map((m) => ({ ...m, storagePath: storagePath(m.measurement) }));
  const known = new Set(list.map((m) => m.measurement));
  for (const { database: db, measurement } of state.buffers.bufferedMeasurements()) {
    if (db === database && !known.has(measurement)) {
      known.add(measurement);
      list.push({ database, measurement, fileCount: 0, totalBytes: 0, storagePath: storagePath(measurement) });
    }
  }
  return list.sort((a, b) => a.measurement.localeCompare(b.measurement));
}

/** POST /api/v1/query: Arc's JSON envelope, streamed chunk by chunk. */
export async function queryJson(state: ServerState, context: RequestContext): Promise<void> {
  const sql = await sqlOf(context);
  await answerJson(state, context, sql);
}

async function answerJson(state: ServerState, context: RequestContext, sql: string): Promise<void> {
  const input = { sql, ...queryDatabase(state, context) };
  const shown = show(state, sql, input.database, context.principal);
  const timestamp = rfc3339(new Date());
  if (shown) {
    sendJson(context.res, 200, { success: true, columns: shown.columns, data: shown.rows, row_count: shown.rows.length, execution_time_ms: elapsed(context), timestamp });
    return;
  }
  state.metrics.queries.value++;
  const query = await state.queries.open(input);
  try {
    // The first chunk decides the status: an error before any row is a clean 4xx/5xx.
    const first = await query.next();
    // Arc does not encode its "no files" answer (a query without any column).
    const body = ResponseBody.start(context.req, context.res, JSON_HEADERS, query.columns.length > 0);
    if (!(await body.write(`{"columns":${JSON.stringify(query.columns.map((c) => c.name))},"data":[`))) return;
    let rows = 0;
    let failure: string | null = null;
    try {
      for (let chunk = first; chunk !== null; chunk = await query.next()) {
        if (!(await body.write((rows > 0 ? ',' : '') + jsonRows(chunkJsonColumns(chunk, query.columns), chunk.rowCount)))) return;
        rows += chunk.rowCount;
      }
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    // `success` comes last, so an error after the first rows is reported instead of hidden (Arc says success:true).
    const profile = context.req.headers['x-arc-profile'] === 'true' ? `,"profile":${JSON.stringify({ sources: query.sources })}` : '';
    const tail = failure === null ? `,"success":true}` : `,"success":false,"error":${JSON.stringify(failure)}}`;
    await body.end(`],"row_count":${rows},"execution_time_ms":${elapsed(context)},"timestamp":"${timestamp}"${profile}${tail}`);
  } finally {
    await query.close();
  }
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'Access-Control-Allow-Origin': '*' };

function jsonRows(columns: Array<Array<string | null>>, rows: number): string {
  const out: string[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    let row = '[';
    for (let c = 0; c < columns.length; c++) row += (c > 0 ? ',' : '') + (columns[c]![r] ?? 'null');
    out[r] = row + ']';
  }
  return out.join(',');
}

/** POST /api/v1/query/arrow: an Arrow IPC stream, one record batch per DuckDB chunk. */
export async function queryArrow(state: ServerState, context: RequestContext): Promise<void> {
  const sql = await sqlOf(context);
  // Arc's order: body and SQL first, then the Arrow headers, then x-arc-database.
  const options = arrowOptions(context.req.headers);
  const input: QueryInput = { sql, ...queryDatabase(state, context) };
  if (show(state, sql, input.database, context.principal)) throw new ArcError('ARC_ERR_BAD_QUERY', 'SHOW commands are not supported on the Arrow endpoint; use /api/v1/query');
  state.metrics.queries.value++;
  const query = await state.queries.open(input);
  try {
    // The first chunk decides the status: an error before any row is a clean 4xx/5xx.
    await streamArrow(context.res, query, await query.next(), options, state.log);
  } finally {
    await query.close();
  }
}

/** POST /api/v1/query/msgpack: Arc's columnar MessagePack result (arc-spec-lifecycle §7.1). */
export async function queryMsgpack(state: ServerState, context: RequestContext): Promise<void> {
  const timestamp = rfc3339(new Date());
  const sql = await sqlOf(context);
  const input: QueryInput = { sql, ...queryDatabase(state, context), nested: 'text' };
  const shown = show(state, sql, input.database, context.principal);
  if (shown) {
    const types = shown.columns.length === 1 ? ['utf8'] : ['utf8', 'utf8', 'utf8', 'int64', 'float64'];
    sendMsgpackTable(context.res, shown.columns, types, shown.rows, performance.now() - context.startedAt, rfc3339(new Date()));
    return;
  }
  state.metrics.queries.value++;
  const query = await state.queries.open(input);
  try {
    await streamMsgpack(context, query, {
      timestamp,
      profile: context.req.headers['x-arc-profile'] === 'true' ? { sources: query.sources } : undefined,
      spoolMemory: state.config.query.resultSpoolMemory,
      spoolDirectory: path.join(state.root, '.spool'),
    });
  } finally {
    await query.close();
  }
}

/** POST /api/v1/query/estimate: the row count of the query, with Arc's warning levels. */
export async function queryEstimate(state: ServerState, context: RequestContext): Promise<void> {
  const sql = await sqlOf(context);
  const input = { sql, ...queryDatabase(state, context) };
  if (show(state, sql, input.database, context.principal)) throw new ArcError('ARC_ERR_BAD_QUERY', 'SHOW commands are not supported on the estimate endpoint');
  let query: OpenQuery;
  try {
    query = await state.queries.open({ ...input, sql: `SELECT COUNT(*) AS n FROM (${stripComments(sql).replace(/;\s*$/, '')}) AS t` });
  } catch (err) {
    if (err instanceof ArcError && (err.status === 400 || err.code === 'ARC_ERR_DATABASE_FORBIDDEN')) throw err;
    // Arc: DuckDB failures are a 200 with success false.
    sendJson(context.res, 200, { success: false, estimated_rows: null, warning_level: 'error', execution_time_ms: elapsed(context), error: (err as Error).message });
    return;
  }
  try {
    const chunk = await query.next();
    const rows = chunk ? Number(JSON.parse(chunkJsonColumns(chunk, query.columns)[0]![0] ?? '0')) : 0;
    const level = rows > 1_000_000 ? 'high' : rows > 100_000 ? 'medium' : rows > 10_000 ? 'low' : 'none';
    const messages: Record<string, string> = {
      high: `Query will return ${rows} rows; consider adding LIMIT or filters`,
      medium: `Query will return ${rows} rows`,
      low: `Query will return ${rows} rows`,
    };
    sendJson(context.res, 200, { success: true, estimated_rows: rows, warning_level: level, ...(messages[level] ? { warning_message: messages[level] } : {}), execution_time_ms: elapsed(context) });
  } finally {
    await query.close();
  }
}

/** GET /api/v1/measurements?database= */
export function measurements(state: ServerState, context: RequestContext): void {
  const database = new URLSearchParams(context.rawQuery).get('database') ?? DEFAULT_DATABASE;
  checkDatabaseName(database);
  requireDatabase(context.principal, database);
  const list = measurementsOf(state, database).map((m) => ({
    database: m.database,
    measurement: m.measurement,
    file_count: m.fileCount,
    total_size_mb: m.totalBytes / 1048576,
    storage_path: m.storagePath,
  }));
  sendJson(context.res, 200, { success: true, measurements: list, count: list.length, execution_time_ms: elapsed(context) });
}

/** GET /api/v1/query/:measurement?database&limit&offset&order_by&where — a SELECT built from the parameters. */
export async function queryMeasurement(state: ServerState, context: RequestContext): Promise<void> {
  const query = new URLSearchParams(context.rawQuery);
  const measurement = context.params.measurement!;
  const database = query.get('database') ?? DEFAULT_DATABASE;
  checkDatabaseName(database);
  requireDatabase(context.principal, database);
  const limit = Number(query.get('limit') ?? '100');
  if (!Number.isInteger(limit) || limit < 0 || limit > 1_000_000) throw new ArcError('ARC_ERR_BAD_QUERY', 'limit must be an integer between 0 and 1000000');
  const offset = Number(query.get('offset') ?? '0');
  if (!Number.isInteger(offset) || offset < 0) throw new ArcError('ARC_ERR_BAD_QUERY', 'offset must be a non-negative integer');
  const orderBy = query.get('order_by') ?? 'time DESC';
  if (!/^\s*[A-Za-z_][\w]*(\s+(ASC|DESC))?(\s*,\s*[A-Za-z_][\w]*(\s+(ASC|DESC))?)*\s*$/i.test(orderBy)) {
    throw new ArcError('ARC_ERR_BAD_QUERY', 'order_by must be "column [ASC|DESC], …"');
  }
  const where = query.get('where');
  // The WHERE text goes through the same parser and guard as any query.
  const sql = `SELECT * FROM "${database}"."${measurement.replace(/"/g, '""')}"${where ? ` WHERE ${where}` : ''} ORDER BY ${orderBy} LIMIT ${limit} OFFSET ${offset}`;
  context.req.headers['x-arc-database'] = undefined;
  await answerJson(state, context, sql);
}

/** GET /api/v1/databases */
export function listDatabasesRoute(state: ServerState, context: RequestContext): void {
  const databases = knownDatabases(state).filter((name) => canReach(context.principal, name)).map((name) => {
    const createdAt = databaseCreatedAt(state.root, name);
    return { name, measurement_count: measurementsOf(state, name).length, ...(createdAt ? { created_at: createdAt } : {}) };
  });
  sendJson(context.res, 200, { databases, count: databases.length });
}

/** POST /api/v1/databases {"name"}: an empty database, marked so it lists before it has data. */
export async function createDatabase(state: ServerState, context: RequestContext): Promise<void> {
  const body = await readBody(context.req, MAX_QUERY_BODY);
  let name: unknown;
  try {
    name = (JSON.parse(body.toString('utf8')) as { name?: unknown } | null)?.name;
  } catch {
    throw new ArcError('ARC_ERR_BAD_REQUEST', 'Invalid request body: expected JSON {"name": "…"}');
  }
  if (typeof name !== 'string' || name === '') throw new ArcError('ARC_ERR_BAD_REQUEST', 'Database name is required');
  if (RESERVED_DATABASES.has(name.toLowerCase())) throw new ArcError('ARC_ERR_BAD_REQUEST', `Database name '${name}' is reserved`);
  checkDatabaseName(name);
  requireDatabase(context.principal, name);
  if (knownDatabases(state).includes(name)) throw new ArcError('ARC_ERR_DATABASE_EXISTS', `Database '${name}' already exists`);
  const createdAt = rfc3339(new Date());
  fs.mkdirSync(path.join(state.root, name), { recursive: true });
  fs.writeFileSync(path.join(state.root, name, DATABASE_MARKER), JSON.stringify({ created_at: createdAt }));
  sendJson(context.res, 201, { name, measurement_count: 0, created_at: createdAt });
}

/** GET /api/v1/databases/:name */
export function getDatabase(state: ServerState, context: RequestContext): void {
  requireDatabase(context.principal, context.params.name!);
  const name = existingDatabase(state, context.params.name!);
  sendJson(context.res, 200, { name, measurement_count: measurementsOf(state, name).length });
}

/** GET /api/v1/databases/:name/measurements */
export function databaseMeasurements(state: ServerState, context: RequestContext): void {
  requireDatabase(context.principal, context.params.name!);
  const name = existingDatabase(state, context.params.name!);
  const list = measurementsOf(state, name).map((m) => ({ name: m.measurement }));
  sendJson(context.res, 200, { database: name, measurements: list, count: list.length });
}

function existingDatabase(state: ServerState, name: string): string {
  checkDatabaseName(name);
  if (!knownDatabases(state).includes(name)) throw new ArcError('ARC_ERR_DATABASE_NOT_FOUND', `Database '${name}' not found`);
  return name;
}

function elapsed(context: RequestContext): number {
  return Math.round((performance.now() - context.startedAt) * 1000) / 1000;
}



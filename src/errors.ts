/**
 * Every error a client can receive, in one table: a stable code, the HTTP status, and a summary
 * that docs/errors.md repeats (a test keeps the two in step). Handlers throw `ArcError`; the
 * server's single error handler renders it in the envelope family of the route (arc-spec §1).
 */
export const ERROR_TABLE = {
  ARC_ERR_EMPTY_PAYLOAD: { status: 400, summary: 'The request body is empty.' },
  ARC_ERR_PAYLOAD_TOO_LARGE: { status: 413, summary: 'The raw request body is larger than server.max_payload_size.' },
  ARC_ERR_DECOMPRESSED_TOO_LARGE: {
    status: 400,
    summary: 'A gzip or zstd body expands past server.max_payload_size.',
  },
  ARC_ERR_DECODE_BUSY: {
    status: 503,
    summary: 'Large or compressed bodies being decoded already use the decode memory budget; retry after Retry-After.',
  },
  ARC_ERR_BAD_COMPRESSION: { status: 400, summary: 'A body that starts with gzip or zstd magic bytes does not decompress.' },
  ARC_ERR_BAD_MSGPACK: { status: 400, summary: 'The body is not a MessagePack value of a supported shape.' },
  ARC_ERR_INVALID_PRECISION: { status: 400, summary: 'The line protocol precision parameter is not one of ns, us, ms, s (or n, u, m, h).' },
  ARC_ERR_NO_RECORDS: { status: 400, summary: 'The line protocol body holds no data lines (only blank lines or comments).' },
  ARC_ERR_PARTIAL_WRITE: {
    status: 400,
    summary: 'Some line protocol lines were rejected; the valid ones were written. The body counts them and lists the first ones with line number and reason.',
  },
  ARC_ERR_INVALID_DATABASE: { status: 400, summary: 'The database name (x-arc-database) breaks the naming rule.' },
  ARC_ERR_INVALID_MEASUREMENT: { status: 400, summary: 'A measurement name breaks the naming rule.' },
  ARC_ERR_INVALID_ITEM: {
    status: 400,
    summary: 'An item of the payload is invalid; the body names the item index and the reason. Nothing of the request was written.',
  },
  ARC_ERR_TYPE_CONFLICT: {
    status: 400,
    summary: 'A column holds values of incompatible types within one request; the body names the column.',
  },
  ARC_ERR_SCHEMA_CONFLICT: {
    status: 400,
    summary: "A column's type differs from the type the measurement's first write gave it; the body names the column, the existing type and the sent one. Nothing of the request was written.",
  },
  ARC_ERR_BAD_QUERY: {
    status: 400,
    summary: 'The SQL is refused or cannot run: empty, too long, several statements, not a SELECT, a file-reading function, a function or view that reads server settings, a bad name, or a parse or binding error.',
  },
  ARC_ERR_BAD_ARROW_OPTION: {
    status: 400,
    summary: 'x-arc-arrow-compression is not zstd or lz4, or x-arc-arrow-dictionary is not true, 1, false or 0.',
  },
  ARC_ERR_QUERY_TIMEOUT: { status: 504, summary: 'The query ran longer than query.timeout and was stopped.' },
  ARC_ERR_QUERY_CANCELLED: {
    status: 499,
    summary: 'The client closed the connection before the answer was complete; the query was interrupted (the status is only seen in logs and metrics).',
  },
  ARC_ERR_RESULT_TOO_LARGE: {
    status: 400,
    summary: 'The result holds more than query.max_result_bytes bytes of cells; the query was stopped before the rest was produced.',
  },
  ARC_ERR_QUERY_OUT_OF_MEMORY: {
    status: 503,
    summary: 'DuckDB could not get the memory the query needs within query.memory_limit (shared by the queries running at once).',
  },
  ARC_ERR_QUERY_FAILED: { status: 500, summary: 'DuckDB failed while running the query (the message is DuckDB\'s).' },
  ARC_ERR_DATABASE_EXISTS: { status: 409, summary: 'POST /api/v1/databases for a name that exists already.' },
  ARC_ERR_DATABASE_NOT_FOUND: { status: 404, summary: 'The database has neither data nor a creation marker.' },
  ARC_ERR_BUFFER_FULL: {
    status: 503,
    summary: 'Buffered data passed ingest.max_buffer_memory; retry after the Retry-After seconds.',
  },
  ARC_ERR_WAL_UNAVAILABLE: {
    status: 503,
    summary: 'The write-ahead log could not take the write (disk full, I/O error, or too far behind); nothing of the request was kept. Retry after the Retry-After seconds.',
  },
  ARC_ERR_SHUTTING_DOWN: { status: 503, summary: 'The server is shutting down and takes no more writes.' },
  ARC_ERR_NOT_MULTIPART: { status: 415, summary: 'An import request is not multipart/form-data (or its multipart framing is broken).' },
  ARC_ERR_NO_FILE: { status: 400, summary: 'The multipart body of an import has no file in the field `file`.' },
  ARC_ERR_BAD_IMPORT_FILE: {
    status: 400,
    summary: 'The uploaded file cannot be imported as a whole (no header, no time column, not Parquet, an overlong line); rows written before the problem was found stay written (rows_imported).',
  },
  ARC_ERR_IMPORT_TOO_LARGE: { status: 413, summary: 'The uploaded file is larger than import.max_file_size (raw or decompressed).' },
  ARC_ERR_BACKUP_BUSY: { status: 409, summary: 'A backup is already running.' },
  ARC_ERR_BACKUP_NOT_FOUND: { status: 404, summary: 'No backup with this id in backup.directory.' },
  ARC_ERR_CONFIRM_REQUIRED: { status: 400, summary: 'A restore, delete, retention run or database delete needs confirm=true.' },
  ARC_ERR_RESTORE_OFFLINE: { status: 409, summary: 'Restores run with the server stopped (arc restore ID --confirm).' },
  ARC_ERR_BAD_REQUEST: { status: 400, summary: 'A query parameter or body field is missing or invalid; the message names it.' },
  ARC_ERR_UNAUTHORIZED: { status: 401, summary: 'No token, or an invalid, expired or revoked one.' },
  ARC_ERR_AUTH_UNAVAILABLE: {
    status: 503,
    summary: 'The token store cannot be read or written (disk or file failure), so the token cannot be verified or the token change stored; retry after the Retry-After seconds. Cached tokens keep working.',
  },
  ARC_ERR_FORBIDDEN: { status: 403, summary: 'The token lacks the permission the route needs, or the route is closed to this client.' },
  ARC_ERR_DATABASE_FORBIDDEN: {
    status: 403,
    summary: 'The token is scoped to a list of databases and the request reaches a database outside it; the body names the database and the allowed ones.',
  },
  ARC_ERR_ALL_DATABASES_REQUIRED: {
    status: 403,
    summary: 'The route spans every database (backups, token management, flushing all buffers, profiling, compaction listings, a compaction of every database, the retention trigger); a token scoped to databases cannot use it.',
  },
  ARC_ERR_NOT_FOUND: { status: 404, summary: 'No route for this method and path.' },
  ARC_ERR_METHOD_NOT_ALLOWED: { status: 405, summary: 'The path exists, but not for this method.' },
  ARC_ERR_CONFLICT: { status: 409, summary: 'The operation is already running (one profile at a time).' },
  ARC_ERR_COMPACTION_RUNNING: { status: 409, summary: 'POST /api/v1/compaction/trigger while a compaction cycle runs; the body has the running cycle_id.' },
  ARC_ERR_CQ_NOT_FOUND: { status: 404, summary: 'No continuous query with this id (`Continuous query not found`).' },
  ARC_ERR_CQ_EXISTS: { status: 400, summary: 'A continuous query with this name exists already (400, as in Arc).' },
  ARC_ERR_CQ_EXECUTION_FAILED: {
    status: 500,
    summary: 'A continuous query run failed (`Execution failed: …`): the query failed, or its output cannot be stored; nothing of the window changed and the watermark stays.',
  },
  ARC_ERR_SCHEDULER_DISABLED: { status: 503, summary: 'POST /api/v1/schedulers/cq/reload while the CQ scheduler is not running.' },
  ARC_ERR_DELETE_DISABLED: { status: 403, summary: 'Row delete or database delete while delete.enabled is false.' },
  ARC_ERR_BAD_PREDICATE: {
    status: 400,
    summary: 'The WHERE of a delete is empty, not one boolean expression over the measurement (several statements, a subquery, a file or settings function), or DuckDB refuses it (its message is given).',
  },
  ARC_ERR_DELETE_LIMIT: {
    status: 400,
    summary: 'A delete matches more rows than delete.max_rows_per_delete, or more than delete.confirmation_threshold without confirm (also for dry runs, as in Arc).',
  },
  ARC_ERR_DELETE_PARTIAL: { status: 207, summary: 'A delete rewrote some files and failed on others (failed_files lists them); the rewritten ones are deleted from, the others unchanged. Rerun it.' },
  ARC_ERR_DELETE_FAILED: { status: 500, summary: 'A delete or retention run failed before changing anything (files could not be read or written); nothing was deleted.' },
  ARC_ERR_DATABASE_BEING_DELETED: { status: 409, summary: 'A write to a database while it is being deleted; nothing of the request was kept.' },
  ARC_ERR_RETENTION_NOT_FOUND: { status: 404, summary: 'No retention policy with this id (`Retention policy not found`).' },
  ARC_ERR_RETENTION_EXISTS: { status: 400, summary: 'A retention policy with this name exists already (400, as in Arc).' },
  ARC_ERR_RETENTION_BUSY: { status: 500, summary: 'POST /api/v1/schedulers/retention/trigger while a retention run is going (500, as in Arc).' },
  ARC_ERR_FLUSH_FAILED: { status: 500, summary: 'Buffered data could not be written to Parquet; it stays buffered and is retried.' },
  ARC_ERR_CONSOLE_NOT_BUILT: {
    status: 503,
    summary: 'GET / or /ui/... while the web console is not built (no dist/console/index.html); the API works as usual.',
  },
  ARC_ERR_INTERNAL: { status: 500, summary: 'An unexpected server error; the server log has the details.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export class ArcError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra JSON fields for the body, e.g. `{ item: 3, column: "value" }`. */
    readonly details: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ArcError';
    this.status = ERROR_TABLE[code].status;
  }
}

/** Formats a byte count the way Arc's messages do ("1GB", "100MB", "512KB"). */
export function formatSize(bytes: number): string {
  const units: Array<[string, number]> = [['TB', 2 ** 40], ['GB', 2 ** 30], ['MB', 2 ** 20], ['KB', 2 ** 10]];
  for (const [unit, size] of units) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  for (const [unit, size] of units) {
    if (bytes >= size) return `${(bytes / size).toFixed(1)}${unit}`;
  }
  return `${bytes}B`;
}

import os from 'node:os';
import { parseSize } from './size.js';

/**
 * Every configuration key arc-ts knows, with Arc's names (arc-spec §12). `active` keys drive
 * behaviour. `planned` keys belong to features that are not built yet: a value different from
 * the default is refused at start-up when the feature would otherwise be silently missing
 * (see `refuseUnbuilt`), or warned about. `ignored` keys are Arc tuning knobs that have no
 * meaning in arc-ts; they are accepted, so an Arc arc.toml loads, and reported once.
 */
export type KeyStatus = 'active' | 'planned' | 'ignored';

export type ConfigValue = string | number | boolean | string[];

export interface KeySpec {
  key: string;
  status: KeyStatus;
  default: ConfigValue;
  /** Turns a TOML or environment value into the typed value, or returns an error text. */
  parse(raw: unknown): { value: ConfigValue } | { error: string };
  doc: string;
}

type Parser = KeySpec['parse'];

const str: Parser = (raw) =>
  typeof raw === 'string' ? { value: raw } : { error: `expected a string, got ${describe(raw)}` };

function int(min: number, max = Number.MAX_SAFE_INTEGER): Parser {
  return (raw) => {
    const n = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof n === 'bigint') return int(min, max)(Number(n));
    if (typeof n !== 'number' || !Number.isInteger(n)) return { error: `expected an integer, got ${describe(raw)}` };
    if (n < min || n > max) return { error: `must be between ${min} and ${max}, got ${n}` };
    return { value: n };
  };
}

const bool: Parser = (raw) => {
  if (typeof raw === 'boolean') return { value: raw };
  if (typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes' || v === 'on') return { value: true };
    if (v === 'false' || v === '0' || v === 'no' || v === 'off') return { value: false };
  }
  return { error: `expected true or false, got ${describe(raw)}` };
};

function size(min: number): Parser {
  return (raw) => {
    const bytes = typeof raw === 'string' || typeof raw === 'number' ? parseSize(raw) : null;
    if (bytes === null) return { error: `expected a size such as "512MB" or "1GB", got ${describe(raw)}` };
    if (bytes < min) return { error: `must be at least ${min} bytes, got ${describe(raw)}` };
    return { value: bytes };
  };
}

function oneOf(...choices: string[]): Parser {
  return (raw) => {
    const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    if (typeof v === 'string' && choices.includes(v)) return { value: v };
    return { error: `must be one of ${choices.join(', ')}; got ${describe(raw)}` };
  };
}

const strList: Parser = (raw) => {
  if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return { value: raw as string[] };
  if (typeof raw === 'string') return { value: raw.split(',').map((s) => s.trim()).filter((s) => s !== '') };
  return { error: `expected a list of strings, got ${describe(raw)}` };
};

function describe(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw);
  if (Array.isArray(raw)) return 'a list';
  if (raw !== null && typeof raw === 'object') return 'a table';
  return String(raw);
}

/** Queries leave a core to ingestion: a heavy query must not starve the write path. */
export const DEFAULT_QUERY_THREADS = Math.max(1, os.availableParallelism() - 1);

/** One flush worker per spare core: the main thread keeps one core for HTTP and decoding. */
export const DEFAULT_FLUSH_WORKERS = Math.max(1, Math.min(4, os.availableParallelism() - 1));

function k(key: string, status: KeyStatus, def: ConfigValue, parse: Parser, doc: string): KeySpec {
  return { key, status, default: def, parse, doc };
}

export const KEYS: readonly KeySpec[] = [
  k('server.host', 'active', '', str, 'Address to bind; "" listens on every interface (IPv4 and IPv6).'),
  k('server.port', 'active', 8000, int(0, 65535), 'TCP port; 0 picks a free port (printed at start-up).'),
  k('server.max_payload_size', 'active', 1073741824, size(1024), 'Largest request body, raw and after decompression ("1GB", "512MB").'),
  k('server.read_timeout', 'active', 30, int(1), 'Seconds allowed to receive a whole request.'),
  k('server.write_timeout', 'active', 30, int(1), 'Seconds a connection may stay silent while a request is being answered.'),
  k('server.idle_timeout', 'active', 120, int(1), 'Seconds an idle keep-alive connection stays open.'),
  k('server.turn_budget_ms', 'active', 1, int(0, 1000), 'While clients are connecting: request work one turn of the event loop may do before further requests wait for the next turn, so that a busy server accepts new connections within milliseconds (libuv accepts one per turn); 0 = no cap (arc-ts only).'),
  k('server.shutdown_timeout', 'active', 30, int(1), 'Seconds a SIGTERM/SIGINT shutdown may spend draining requests and flushing buffers.'),
  k('server.tls_enabled', 'active', false, bool, 'Serve HTTPS with the certificate and key below.'),
  k('server.tls_cert_file', 'active', '', str, 'PEM certificate chain for TLS.'),
  k('server.tls_key_file', 'active', '', str, 'PEM private key for TLS.'),
  k('server.console_directory', 'active', '', str, 'Built web console served at / and /ui/ ("" = dist/console of this installation).'),

  k('storage.backend', 'active', 'local', oneOf('local', 's3', 'azure'), 'Where Parquet files go; arc-ts supports "local" only.'),
  k('storage.local_path', 'active', './data/arc', str, 'Root directory of the Parquet files: {db}/{measurement}/YYYY/MM/DD/HH/.'),
  k('storage.s3_bucket', 'ignored', '', str, 'S3 storage is not supported by arc-ts.'),
  k('storage.s3_region', 'ignored', 'us-east-1', str, 'S3 storage is not supported by arc-ts.'),
  k('storage.s3_endpoint', 'ignored', '', str, 'S3 storage is not supported by arc-ts.'),
  k('storage.s3_use_ssl', 'ignored', true, bool, 'S3 storage is not supported by arc-ts.'),
  k('storage.s3_path_style', 'ignored', false, bool, 'S3 storage is not supported by arc-ts.'),
  k('storage.s3_prefix', 'ignored', '', str, 'S3 storage is not supported by arc-ts.'),

  k('ingest.max_buffer_size', 'active', 50000, int(1, 100_000_000), 'Rows buffered per (database, measurement) before a flush.'),
  k('ingest.max_buffer_age_ms', 'active', 5000, int(1, 86_400_000), 'Oldest buffered row age (ms) that forces a flush.'),
  k('ingest.compression', 'active', 'snappy', oneOf('snappy', 'zstd', 'gzip', 'none'), 'Parquet compression codec.'),
  k('ingest.max_buffer_memory', 'active', 1073741824, size(1 << 20), 'Cap on buffered plus in-flight data; above it writes get 503 with Retry-After (arc-ts only).'),
  k('ingest.parquet_writer', 'active', 'native', oneOf('native', 'duckdb'), 'Parquet encoder of the flush path: "native" (arc-ts\'s own, the fast default) or "duckdb" (DuckDB COPY; arc-ts only).'),
  k('ingest.worker_nice', 'active', 10, int(0, 19), 'Nice value of the decode and flush worker threads (Linux, per thread): the event loop that acknowledges writes gets the CPU first, background decoding and Parquet encoding use the rest; 0 = same priority (arc-ts only).'),
  k('ingest.warm_up_requests', 'active', 400, int(0, 100_000), 'Synthetic 1000-row writes run through decoding, buffering and Parquet encoding (into a temporary directory, never stored) before the server listens, so its first clients do not wait for the JIT; 0 = none (arc-ts only).'),
  k('ingest.flush_workers', 'active', DEFAULT_FLUSH_WORKERS, int(1, 64), 'Worker threads that encode and write Parquet files (default: cores - 1, at least 1).'),
  k('ingest.use_dictionary', 'ignored', false, bool, 'arc-ts always dictionary-encodes strings and never numbers.'),
  k('ingest.numeric_dictionary', 'ignored', false, bool, 'arc-ts always dictionary-encodes strings and never numbers.'),
  k('ingest.write_statistics', 'ignored', true, bool, 'arc-ts always writes column statistics.'),
  k('ingest.data_page_version', 'ignored', '2.0', str, 'arc-ts picks the page format itself.'),
  k('ingest.flush_queue_size', 'ignored', 100, int(1), 'arc-ts bounds in-flight flushes by ingest.max_buffer_memory instead.'),
  k('ingest.shard_count', 'ignored', 32, int(1), 'arc-ts has no lock shards (single-threaded buffer owner).'),
  k('ingest.flush_timeout_seconds', 'ignored', 30, int(1), 'arc-ts retries a failed flush until it succeeds.'),
  k('ingest.sort_keys', 'active', [], strList, 'Per-measurement sort order of compacted files ("cpu:host,region,time"); flush files are sorted by time.'),
  k('ingest.default_sort_keys', 'active', 'tags,time', str, 'Sort order of compacted files for other measurements; "tags" stands for the measurement\'s tag columns (sorted by name); "" means tags,time.'),
  k('ingest.decimal_columns', 'planned', [], strList, 'DECIMAL columns ("m:col=p,s"); not supported yet.'),
  k('ingest.default_decimal_columns', 'planned', '', str, 'DECIMAL columns for every measurement; not supported yet.'),

  k('wal.enabled', 'active', false, bool, 'Write-ahead log: a write is acknowledged only once it is in the log, so it survives a crash (kill -9, power loss with a syncing mode).'),
  k('wal.directory', 'active', './data/wal', str, 'Directory of the write-ahead log segments.'),
  k('wal.sync_mode', 'active', 'fdatasync', oneOf('fdatasync', 'fsync', 'async'), 'fdatasync or fsync: acknowledge after the log is synced (survives power loss); async: after it is written to the OS (survives a process crash), synced every second.'),
  k('wal.max_size_mb', 'active', 100, int(1), 'Segment size (MB) that starts a new segment; segments are deleted once their rows are in Parquet files.'),
  k('wal.max_age_seconds', 'active', 3600, int(1), 'Segment age that starts a new segment.'),
  k('wal.recovery_interval_seconds', 'ignored', 300, int(1), 'Arc: WAL maintenance interval.'),
  k('wal.recovery_batch_size', 'ignored', 10000, int(1), 'Arc: rows per replay batch (arc-ts replays each logged request whole).'),
  k('wal.buffer_size', 'ignored', 10000, int(1), 'Arc: WAL queue length (arc-ts acknowledges only logged writes, so it has no queue to drop from).'),

  k('auth.enabled', 'active', true, bool, 'Token authentication; false opens every route. The first start prints an admin token once (ARC_AUTH_BOOTSTRAP_TOKEN chooses it).'),
  k('auth.db_path', 'active', './data/arc.db', str, 'Token store (a DuckDB file); tokens are kept only as salted PBKDF2 hashes.'),
  k('auth.cache_ttl', 'active', 30, int(0), 'Seconds a verified token stays cached (revocation takes effect at once anyway).'),
  k('auth.max_cache_size', 'active', 1000, int(1), 'Verified tokens kept in the cache.'),
  k('auth.metrics_public', 'active', false, bool, 'Serve /metrics and /api/v1/metrics without a token (arc-ts only; Arc always does).'),

  k('query.timeout', 'active', 300, int(1), 'Query time limit in seconds; longer queries are stopped with 504.'),
  k('query.slow_query_threshold_ms', 'active', 0, int(0), 'Log queries slower than this many ms (0 = off).'),
  k('query.threads', 'active', DEFAULT_QUERY_THREADS, int(1, 256), 'DuckDB threads for queries (default: CPU cores - 1, at least 1, so ingestion keeps a core; arc-ts only).'),
  k('query.max_concurrent', 'active', 4, int(1, 64), 'Queries running at once; more wait (arc-ts only).'),
  k('query.memory_limit', 'active', '', str, 'DuckDB memory_limit for queries, e.g. "4GB"; "" = 25% of RAM (DuckDB alone would take 80%; arc-ts only).'),
  k('query.result_spool_memory', 'active', 16777216, size(65536), 'Memory a MessagePack query result may hold before it spills to a temporary file under the storage root (arc-ts only; Arc holds the whole result).'),
  k('query.max_result_bytes', 'active', 1073741824, size(0), 'Largest result a query may return (the bytes of its cells, before encoding); more is ARC_ERR_RESULT_TOO_LARGE; 0 = no limit (arc-ts only).'),
  k('query.parquet_metadata_cache', 'active', true, bool, 'Keep Parquet footers in memory between queries (files are never rewritten in place, so it is safe; arc-ts only).'),

  k('compaction.enabled', 'active', true, bool, 'Compaction: merge many small flush files into one sorted, deduplicated file per hour (and per day).'),
  k('compaction.hourly_enabled', 'active', true, bool, 'Run the hourly tier (merges the files of one hour directory).'),
  k('compaction.daily_enabled', 'active', true, bool, 'Run the daily tier (merges the hour files of a day into the day directory).'),
  k('compaction.hourly_schedule', 'active', '5 * * * *', str, 'Cron schedule (5 fields, local time) of the hourly tier.'),
  k('compaction.daily_schedule', 'active', '0 3 * * *', str, 'Cron schedule (5 fields, local time) of the daily tier.'),
  k('compaction.hourly_min_age_hours', 'active', 1, int(0), 'Hours an hour (and its newest file) must be old before it is compacted; values below 1 count as 1.'),
  k('compaction.hourly_min_files', 'active', 10, int(0), 'Files an hour needs (and new files since its last compaction) to be compacted; 0 means 10.'),
  k('compaction.daily_min_age_hours', 'active', 24, int(0), 'Hours a day (and its newest file) must be old before the daily tier takes it.'),
  k('compaction.daily_min_files', 'active', 12, int(0), 'Hour-level files a day needs to be compacted by the daily tier; 0 means 12.'),
  k('compaction.daily_skip_file_age_check_days', 'active', 7, int(0), 'Days older than this are compacted whatever their newest file time (backfilled history).'),
  k('compaction.max_concurrent', 'active', 2, int(1, 64), 'Partitions merged at the same time.'),
  k('compaction.max_files_per_batch', 'active', 30, int(0), 'Files merged into one output at most (2-500; outside, 30 or 500 with a warning).'),
  k('compaction.temp_directory', 'active', './data/compaction', str, 'Scratch directory of the merges (DuckDB spill files); emptied at start-up.'),
  k('compaction.memory_limit', 'active', '', str, 'DuckDB memory_limit of one merge ("512MB", "2GB"); "" = 1 GB per core divided by max_concurrent.'),
  k('compaction.threads', 'active', 0, int(0, 256), 'DuckDB threads of one merge; 0 = half the cores, at least 1.'),
  k('delete.enabled', 'active', false, bool, 'Row delete (POST /api/v1/delete) and database delete (DELETE /api/v1/databases/:name); off by default (Arc\'s code default) because both destroy data for good. Admin token required either way.'),
  k('delete.confirmation_threshold', 'active', 10000, int(0), 'A delete matching more rows needs confirm=true, even as a dry run (as in Arc).'),
  k('delete.max_rows_per_delete', 'active', 1000000, int(1), 'A delete matching more rows is refused (400), dry run or not.'),
  k('retention.enabled', 'active', true, bool, 'Retention policies: /api/v1/retention and the built-in schedule (off: the routes answer 404, as in Arc).'),
  k('scheduler.retention_schedule', 'active', '0 4 * * *', str, 'Cron schedule (5 fields, local time) that runs every active retention policy; Arc: 0 3 * * *, moved an hour so it does not meet the daily compaction tier.'),
  k('continuous_query.enabled', 'active', true, bool, 'Continuous queries: /api/v1/continuous_queries and the built-in scheduler (off: the routes answer 404, as in Arc).'),
  k('telemetry.enabled', 'ignored', true, bool, 'arc-ts sends no telemetry.'),

  k('import.max_file_size', 'active', 10 * 1073741824, size(1024), 'Largest file a bulk import (/api/v1/import/*) takes; it is streamed, never held in memory (arc-ts only).'),

  k('backup.directory', 'active', './data/backups', str, 'Where POST /api/v1/backup writes backups, one directory per backup; keep it outside storage.local_path (arc-ts only).'),

  k('metrics.stage_timings', 'active', true, bool, 'Time every pipeline stage for /metrics (cheap; off only to measure that cost).'),

  k('log.level', 'active', 'info', oneOf('debug', 'info', 'warn', 'error'), 'Lowest level written to the log.'),
  k('log.format', 'active', 'console', oneOf('console', 'json'), 'Log lines as readable text or as JSON.'),
];

export const KEY_BY_NAME: ReadonlyMap<string, KeySpec> = new Map(KEYS.map((spec) => [spec.key, spec]));

/** `server.max_payload_size` → `ARC_SERVER_MAX_PAYLOAD_SIZE` (Arc's rule). */
export function envName(key: string): string {
  return 'ARC_' + key.toUpperCase().replace(/\./g, '_');
}

/** ARC_* variables that are not config keys but are read elsewhere. */
export const NON_KEY_ENV = new Set([
  'ARC_CONFIG',
  'ARC_AUTH_BOOTSTRAP_TOKEN',
  'ARC_AUTH_FORCE_BOOTSTRAP',
  'ARC_STORAGE_S3_ACCESS_KEY',
  'ARC_STORAGE_S3_SECRET_KEY',
  'ARC_TEST_CONCURRENCY',
  'ARC_TEST_HOLD_DIR',
  'ARC_TOKEN',
]);

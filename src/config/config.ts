import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { KEYS, KEY_BY_NAME, NON_KEY_ENV, envName, type ConfigValue, type KeySpec } from './keys.js';

export type Compression = 'snappy' | 'zstd' | 'gzip' | 'none';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ArcConfig {
  server: {
    host: string;
    port: number;
    maxPayloadSize: number;
    readTimeoutSec: number;
    writeTimeoutSec: number;
    idleTimeoutSec: number;
    turnBudgetMs: number;
    shutdownTimeoutSec: number;
    tls: { enabled: boolean; certFile: string; keyFile: string };
    /** The built web console; '' = dist/console next to the compiled server. */
    consoleDirectory: string;
  };
  storage: { localPath: string };
  ingest: {
    maxBufferSize: number;
    maxBufferAgeMs: number;
    compression: Compression;
    parquetWriter: 'native' | 'duckdb';
    maxBufferMemory: number;
    flushWorkers: number;
    workerNice: number;
    warmUpRequests: number;
  };
  wal: { enabled: boolean; directory: string; syncMode: 'fdatasync' | 'fsync' | 'async'; maxSegmentBytes: number; maxSegmentAgeSec: number };
  auth: { enabled: boolean; dbPath: string; cacheTtlSec: number; maxCacheSize: number; metricsPublic: boolean };
  metrics: { stageTimings: boolean };
  import: { maxFileSize: number };
  backup: { directory: string };
  continuousQuery: { enabled: boolean };
  delete: { enabled: boolean; confirmationThreshold: number; maxRowsPerDelete: number };
  retention: { enabled: boolean; schedule: string };
  compaction: {
    enabled: boolean;
    hourly: CompactionTierConfig;
    daily: CompactionTierConfig & { skipFileAgeCheckDays: number };
    maxConcurrent: number;
    maxFilesPerBatch: number;
    tempDirectory: string;
    /** DuckDB memory_limit text for one merge ("" = derived). */
    memoryLimit: string;
    threads: number;
    /** Per measurement (`ingest.sort_keys`), and the default; "tags" expands to the tag columns. */
    sortKeys: Record<string, string[]>;
    defaultSortKeys: string[];
  };
  query: { timeoutSec: number; slowQueryMs: number; threads: number; maxConcurrent: number; memoryLimit: string; parquetMetadataCache: boolean; resultSpoolMemory: number; maxResultBytes: number };
  log: { level: LogLevel; format: 'console' | 'json' };
}

export interface CompactionTierConfig {
  enabled: boolean;
  schedule: string;
  minAgeHours: number;
  minFiles: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadedConfig {
  config: ArcConfig;
  /** The arc.toml that was read, or null when only defaults and environment were used. */
  file: string | null;
  warnings: string[];
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** An explicit file (--config or ARC_CONFIG); it must exist. */
  file?: string;
  cwd?: string;
}

/** Arc's search order for arc.toml (arc-spec §12). */
export function configSearchPath(cwd: string): string[] {
  return [path.join(cwd, 'arc.toml'), '/etc/arc/arc.toml', path.join(os.homedir(), '.arc', 'arc.toml')];
}

/**
 * Builds the configuration from the embedded defaults, then arc.toml, then ARC_* environment
 * variables. Any bad value throws a ConfigError that names the key and where the value came from.
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const warnings: string[] = [];
  const values = new Map<string, ConfigValue>(KEYS.map((spec) => [spec.key, spec.default]));
  const setBy = new Map<string, string>();

  const explicit = options.file ?? env.ARC_CONFIG;
  let file: string | null = null;
  if (explicit) {
    file = path.resolve(cwd, explicit);
    if (!fs.existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  } else {
    file = configSearchPath(cwd).find((candidate) => fs.existsSync(candidate)) ?? null;
  }

  if (file !== null) {
    let table: Record<string, unknown>;
    try {
      table = parseToml(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot parse ${file}: ${(err as Error).message}`);
    }
    for (const [key, raw] of flatten(table)) {
      const spec = KEY_BY_NAME.get(key);
      if (!spec) {
        warnings.push(`unknown key ${key} in ${file} (ignored)`);
        continue;
      }
      values.set(key, parseOrThrow(spec, raw, `in ${file}`));
      setBy.set(key, file);
    }
  }

  for (const spec of KEYS) {
    const name = envName(spec.key);
    const raw = env[name];
    if (raw === undefined) continue;
    values.set(spec.key, parseOrThrow(spec, raw, `from environment variable ${name}`));
    setBy.set(spec.key, name);
  }
  const known = new Set(KEYS.map((spec) => envName(spec.key)));
  for (const name of Object.keys(env)) {
    if (name.startsWith('ARC_') && !known.has(name) && !NON_KEY_ENV.has(name)) {
      warnings.push(`environment variable ${name} is not an arc-ts setting (ignored)`);
    }
  }

  for (const spec of KEYS) {
    const source = setBy.get(spec.key);
    if (source === undefined || spec.status === 'active') continue;
    if (sameValue(values.get(spec.key)!, spec.default)) continue;
    warnings.push(`${spec.key} is set (${source}) but has no effect in arc-ts: ${spec.doc}`);
  }

  const config = build(values);
  validate(config, values, setBy, warnings);
  return { config, file, warnings };
}

function parseOrThrow(spec: KeySpec, raw: unknown, where: string): ConfigValue {
  const result = spec.parse(raw);
  if ('error' in result) throw new ConfigError(`invalid value for ${spec.key} ${where}: ${result.error}`);
  return result.value;
}

function* flatten(table: Record<string, unknown>, prefix = ''): Generator<[string, unknown]> {
  for (const [name, value] of Object.entries(table)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
      yield* flatten(value as Record<string, unknown>, key);
    } else {
      yield [key, value];
    }
  }
}

function sameValue(a: ConfigValue, b: ConfigValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function build(values: Map<string, ConfigValue>): ArcConfig {
  const get = <T extends ConfigValue>(key: string) => values.get(key) as T;
  return {
    server: {
      host: get<string>('server.host'),
      port: get<number>('server.port'),
      maxPayloadSize: get<number>('server.max_payload_size'),
      readTimeoutSec: get<number>('server.read_timeout'),
      writeTimeoutSec: get<number>('server.write_timeout'),
      idleTimeoutSec: get<number>('server.idle_timeout'),
      turnBudgetMs: get<number>('server.turn_budget_ms'),
      shutdownTimeoutSec: get<number>('server.shutdown_timeout'),
      tls: {
        enabled: get<boolean>('server.tls_enabled'),
        certFile: get<string>('server.tls_cert_file'),
        keyFile: get<string>('server.tls_key_file'),
      },
      consoleDirectory: get<string>('server.console_directory'),
    },
    storage: { localPath: get<string>('storage.local_path') },
    ingest: {
      maxBufferSize: get<number>('ingest.max_buffer_size'),
      maxBufferAgeMs: get<number>('ingest.max_buffer_age_ms'),
      compression: get<Compression>('ingest.compression'),
      parquetWriter: get<'native' | 'duckdb'>('ingest.parquet_writer'),
      maxBufferMemory: get<number>('ingest.max_buffer_memory'),
      flushWorkers: get<number>('ingest.flush_workers'),
      workerNice: get<number>('ingest.worker_nice'),
      warmUpRequests: get<number>('ingest.warm_up_requests'),
    },
    wal: {
      enabled: get<boolean>('wal.enabled'),
      directory: get<string>('wal.directory'),
      syncMode: get<'fdatasync' | 'fsync' | 'async'>('wal.sync_mode'),
      maxSegmentBytes: get<number>('wal.max_size_mb') * 1024 * 1024,
      maxSegmentAgeSec: get<number>('wal.max_age_seconds'),
    },
    auth: {
      enabled: get<boolean>('auth.enabled'),
      dbPath: get<string>('auth.db_path'),
      cacheTtlSec: get<number>('auth.cache_ttl'),
      maxCacheSize: get<number>('auth.max_cache_size'),
      metricsPublic: get<boolean>('auth.metrics_public'),
    },
    metrics: { stageTimings: get<boolean>('metrics.stage_timings') },
    import: { maxFileSize: get<number>('import.max_file_size') },
    backup: { directory: get<string>('backup.directory') },
    continuousQuery: { enabled: get<boolean>('continuous_query.enabled') },
    retention: { enabled: get<boolean>('retention.enabled'), schedule: get<string>('scheduler.retention_schedule') },
    delete: {
      enabled: get<boolean>('delete.enabled'),
      confirmationThreshold: get<number>('delete.confirmation_threshold'),
      maxRowsPerDelete: get<number>('delete.max_rows_per_delete'),
    },
    compaction: {
      enabled: get<boolean>('compaction.enabled'),
      hourly: {
        enabled: get<boolean>('compaction.hourly_enabled'),
        schedule: get<string>('compaction.hourly_schedule'),
        minAgeHours: Math.max(1, get<number>('compaction.hourly_min_age_hours')),
        minFiles: get<number>('compaction.hourly_min_files') || 10,
      },
      daily: {
        enabled: get<boolean>('compaction.daily_enabled'),
        schedule: get<string>('compaction.daily_schedule'),
        minAgeHours: get<number>('compaction.daily_min_age_hours'),
        minFiles: get<number>('compaction.daily_min_files') || 12,
        skipFileAgeCheckDays: get<number>('compaction.daily_skip_file_age_check_days'),
      },
      maxConcurrent: get<number>('compaction.max_concurrent'),
      maxFilesPerBatch: Math.min(500, get<number>('compaction.max_files_per_batch') < 2 ? 30 : get<number>('compaction.max_files_per_batch')),
      tempDirectory: get<string>('compaction.temp_directory'),
      memoryLimit: get<string>('compaction.memory_limit'),
      threads: get<number>('compaction.threads') || Math.max(1, Math.floor(os.availableParallelism() / 2)),
      sortKeys: parseSortKeys(get<string[]>('ingest.sort_keys')),
      defaultSortKeys: splitKeys(get<string>('ingest.default_sort_keys')),
    },
    query: {
      timeoutSec: get<number>('query.timeout'),
      slowQueryMs: get<number>('query.slow_query_threshold_ms'),
      threads: get<number>('query.threads'),
      maxConcurrent: get<number>('query.max_concurrent'),
      memoryLimit: get<string>('query.memory_limit'),
      parquetMetadataCache: get<boolean>('query.parquet_metadata_cache'),
      resultSpoolMemory: get<number>('query.result_spool_memory'),
      maxResultBytes: get<number>('query.max_result_bytes'),
    },
    log: { level: get<LogLevel>('log.level'), format: get<'console' | 'json'>('log.format') },
  };
}

/** `ingest.sort_keys` entries "measurement:col1,col2" (validated in `validate`). */
function parseSortKeys(entries: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const entry of entries) {
    const at = entry.indexOf(':');
    if (at > 0) out[entry.slice(0, at).trim()] = splitKeys(entry.slice(at + 1));
  }
  return out;
}

function splitKeys(text: string): string[] {
  const keys = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  return keys.length > 0 ? keys : ['tags', 'time'];
}

const SORT_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Checks that involve several keys, or features that are not there to honour a setting. */
function validate(config: ArcConfig, values: Map<string, ConfigValue>, setBy: Map<string, string>, warnings: string[]): void {
  const where = (key: string) => (setBy.has(key) ? ` (set by ${setBy.get(key)})` : '');
  for (const entry of values.get('ingest.sort_keys') as string[]) {
    const at = entry.indexOf(':');
    const keys = at > 0 ? entry.slice(at + 1).split(',').map((k) => k.trim()) : [];
    if (at <= 0 || keys.length === 0 || keys.some((k) => !SORT_KEY.test(k))) {
      throw new ConfigError(`ingest.sort_keys${where('ingest.sort_keys')}: entry ${JSON.stringify(entry)} must be "measurement:column1,column2" with plain column names`);
    }
  }
  for (const k of config.compaction.defaultSortKeys) {
    if (!SORT_KEY.test(k)) throw new ConfigError(`ingest.default_sort_keys${where('ingest.default_sort_keys')}: ${JSON.stringify(k)} is not a plain column name`);
  }
  if (setBy.has('compaction.hourly_min_age_hours') && (values.get('compaction.hourly_min_age_hours') as number) < 1) {
    warnings.push('compaction.hourly_min_age_hours is below 1; using 1 (an hour still being written must not be compacted)');
  }
  const batch = values.get('compaction.max_files_per_batch') as number;
  if (setBy.has('compaction.max_files_per_batch') && (batch < 2 || batch > 500)) {
    warnings.push(`compaction.max_files_per_batch ${batch} is outside 2-500; using ${config.compaction.maxFilesPerBatch}`);
  }
  if (config.compaction.memoryLimit !== '' && !/^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$/i.test(config.compaction.memoryLimit)) {
    throw new ConfigError(`compaction.memory_limit${where('compaction.memory_limit')} must be a size with a unit such as "512MB" or "2GB", got ${JSON.stringify(config.compaction.memoryLimit)}`);
  }
  if (values.get('storage.backend') !== 'local') {
    // Only "local" exists; refusing is safer than writing somewhere the user did not ask for.
    throw new ConfigError(
      `storage.backend${where('storage.backend')} is "${String(values.get('storage.backend'))}", but arc-ts stores Parquet files on the local file system only; set it to "local"`,
    );
  }
  if (config.storage.localPath.trim() === '') throw new ConfigError(`storage.local_path${where('storage.local_path')} must not be empty`);
  if (config.server.tls.enabled && (!config.server.tls.certFile || !config.server.tls.keyFile)) {
    throw new ConfigError('server.tls_enabled is true, so server.tls_cert_file and server.tls_key_file must both be set');
  }
  if (config.wal.enabled && config.wal.directory.trim() === '') throw new ConfigError(`wal.directory${where('wal.directory')} must not be empty`);
}

import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BufferManager } from '../buffer/buffer-manager.js';
import { StringInterner } from '../columnar/string-interner.js';
import { nowMicros } from '../columnar/time.js';
import type { ArcConfig } from '../config/config.js';
import { decodeUtf8 } from '../ingest/msgpack-reader.js';
import type { Logger } from '../log.js';
import { ServerMetrics } from '../metrics/server-metrics.js';
import { AuthService, bootstrapOptionsFromEnv, formatBootstrapBanner } from '../auth/auth-service.js';
import { QueryEngine } from '../duckdb/query-engine.js';
import { QueryService } from '../query/query-service.js';
import { claimLockFile } from '../storage/directory-lock.js';
import { removeStaleTempFiles } from '../storage/durable-files.js';
import { FileCatalog } from '../storage/catalog.js';
import { CompactionManager } from '../compaction/compaction-manager.js';
import { recoverManifests } from '../compaction/manifest.js';
import { openCqStores } from '../lifecycle/cq-definitions.js';
import { CqScheduler } from '../lifecycle/cq-scheduler.js';
import { ContinuousQueryService } from '../lifecycle/cq-service.js';
import { recoverWindowSwaps, WindowSwapper } from '../lifecycle/cq-window-swap.js';
import { RowRewriter } from '../lifecycle/row-rewrite.js';
import { RetentionService } from '../lifecycle/retention.js';
import { removeStoredDefinitions, sweepTrash } from '../lifecycle/database-drop.js';
import { WriteAheadLog } from '../wal/write-ahead-log.js';
import { decodeLoggedWrite } from '../wal/logged-write.js';
import { DecodePool } from '../ingest/decode-pool.js';
import { FlushPool } from '../flush/flush-pool.js';
import { SchemaStore } from '../storage/measurement-schemas.js';
import { openParquetSchemaReader } from '../duckdb/parquet-schema.js';
import { createHttpServer } from './http-server.js';
import { interruptedRestore } from '../backup/restore.js';
import { IMPORT_SPOOL_DIRECTORY } from './import-routes.js';
import { Profiler } from './profiler.js';
import { Router } from './router.js';
import { buildRoutes, type ServerState } from './routes.js';
import { LoopTurns } from './loop-turns.js';
import { warmUpWritePath } from './warm-up.js';

/** Written into the storage root while a server runs: it locks the directory and tells the CLI where to connect. */

/** Decode worker threads for large or compressed write bodies, and the memory they may expand into (#13 item 5). */
const DECODE_WORKERS = 2;
const DECODE_MEMORY_BUDGET = 512 << 20;
export const SERVER_INFO_FILE = '.arc-server.json';

export interface ServerInfo {
  pid: number;
  url: string;
  port: number;
  started_at: string;
  version: string;
}

/** One running arc-ts server: storage workers, buffers and the HTTP listener, started and stopped in order. */
export class ArcServer {
  private activeRequests = 0;

  private constructor(
    readonly config: ArcConfig,
    private readonly log: Logger,
    private readonly http: http.Server,
    private readonly flushPool: FlushPool,
    private readonly engine: QueryEngine,
    readonly state: ServerState,
    private readonly infoPath: string,
    readonly url: string,
  ) {
    http.on('request', (_req, res: http.ServerResponse) => {
      this.activeRequests++;
      res.once('close', () => this.activeRequests--);
    });
  }

  static async start(config: ArcConfig, log: Logger, version: string): Promise<ArcServer> {
    if (os.endianness() !== 'LE') throw new Error('arc-ts needs a little-endian CPU (its int64 columns are written word by word)');
    const root = path.resolve(config.storage.localPath);
    fs.mkdirSync(root, { recursive: true });
    const infoPath = path.join(root, SERVER_INFO_FILE);
    lockDataDirectory(infoPath, version);
    const interrupted = interruptedRestore(root);
    if (interrupted) {
      fs.rmSync(infoPath, { force: true });
      throw new Error(interrupted);
    }
    // Parquet uploads an earlier run was reading when it stopped; this server holds the directory lock now.
    fs.rmSync(path.join(root, IMPORT_SPOOL_DIRECTORY), { recursive: true, force: true });

    let flushPool: FlushPool | null = null;
    let metrics: ServerMetrics | null = null;
    let engine: QueryEngine | null = null;
    let auth: AuthService | null = null;
    let wal: WriteAheadLog | null = null;
    let compaction: CompactionManager | null = null;
    let swapper: WindowSwapper | null = null;
    let rewriter: RowRewriter | null = null;
    const startedAtMs = Date.now();
    try {
      if (config.auth.enabled) {
        auth = await AuthService.open({
          dbPath: path.resolve(config.auth.dbPath),
          cacheTtlSeconds: config.auth.cacheTtlSec,
          maxCacheSize: config.auth.maxCacheSize,
          bootstrap: bootstrapOptionsFromEnv(process.env),
          log,
        });
        // The only time a generated token is shown: on stderr, never in the log.
        process.stderr.write(formatBootstrapBanner(auth.bootstrapTokens));
      }
      if (config.wal.enabled) {
        wal = await WriteAheadLog.open({
          directory: path.resolve(config.wal.directory),
          syncMode: config.wal.syncMode,
          maxSegmentBytes: config.wal.maxSegmentBytes,
          maxSegmentAgeMs: config.wal.maxSegmentAgeSec * 1000,
          storageRoot: root,
          log,
        });
        // Recorded flushes are published by now; what is left is debris no log record names. Done before
        // any new flush starts, so no file of this process can be mistaken for it.
        await sweepTempFiles(root, startedAtMs, log);
      }
      const logged = wal;
      // Compaction jobs a crash interrupted are finished or undone before anything reads the files.
      const recovered = recoverManifests(root, log);
      // Continuous-query window swaps a crash interrupted: finished or undone the same way.
      recoverWindowSwaps(root, log);
      // Deletes and retention rewrites the same way. (The write-ahead log opened before them needs no
      // file of theirs: the files they remove were retired in the log first, see RowRewriter.)
      RowRewriter.recover(root, log);
      // Database deletes a crash interrupted after their commit point: finished (definitions, then files).
      await sweepTrash(root, log, (database) => removeStoredDefinitions(root, database));
      // Every recovery step that publishes or removes files is done: the catalog starts from the disk.
      const catalog = await FileCatalog.load(root);
      flushPool = await FlushPool.start({
        root,
        compression: config.ingest.compression,
        parquetWriter: config.ingest.parquetWriter,
        version,
        workers: config.ingest.flushWorkers,
        nice: config.ingest.workerNice,
        onWorkerExit: (error) => log.error('flush worker stopped; starting a new one', { error }),
        onFlushed: (report, sealed, files) => {
          catalog.add(files.map((file) => ({ path: file.path, bytes: file.bytes, rows: file.rows, flushStamp: sealed.stampNanos })));
          metrics?.flushed(report);
          logged?.flushed(sealed);
        },
        ...(logged ? { recordFlush: (sealed, files) => logged.recordFlush(sealed, files) } : {}),
      });
      const legacySchemas = await openParquetSchemaReader();
      let schemas: SchemaStore;
      try {
        schemas = await SchemaStore.open(root, log, (dir) => legacySchemas.read(dir));
      } finally {
        legacySchemas.close();
      }
      const buffers = new BufferManager(flushPool, {
        schemas,
        maxBufferRows: config.ingest.maxBufferSize,
        maxBufferAgeMs: config.ingest.maxBufferAgeMs,
        maxMemoryBytes: config.ingest.maxBufferMemory,
        onFlushError: (error, sealed, attempt) =>
          log.error('flush failed; rows stay buffered and will be retried', {
            database: sealed.database,
            measurement: sealed.batch.measurement,
            rows: sealed.batch.rowCount,
            attempt,
            error,
          }),
      });
      const interner = new StringInterner(decodeUtf8);
      if (wal) {
        const started = performance.now();
        const report = await wal.replay(buffers, (kind, meta, body) => decodeLoggedWrite(kind, meta, body, interner));
        log.info('write-ahead log replayed', {
          ms: Math.round(performance.now() - started),
          segments: report.segments,
          writes: report.replayedWrites,
          rows: report.replayedRows,
          rows_already_in_files: report.skippedRows,
          files_republished: report.republishedFiles,
          damaged_ranges: report.damaged.length,
          undecodable_entries: report.undecodable,
        });
      }
      if (config.compaction.enabled) {
        const settings = config.compaction;
        compaction = new CompactionManager({
          root,
          catalog,
          log,
          hourly: settings.hourly,
          daily: settings.daily,
          maxConcurrent: settings.maxConcurrent,
          maxFilesPerBatch: settings.maxFilesPerBatch,
          tempDirectory: path.resolve(settings.tempDirectory),
          memoryLimit: settings.memoryLimit,
          threads: settings.threads,
          sortKeys: settings.sortKeys,
          defaultSortKeys: settings.defaultSortKeys,
          oldestInFlight: (database, measurement) => buffers.oldestInFlightStamp(database, measurement),
          ...(wal ? { walReferences: (file: string) => wal!.referencesFile(file) } : {}),
        });
        compaction.recoveredManifests = recovered.completed + recovered.rolledBack;
      }
      const walStats = wal ? () => wal!.stats() : undefined;
      metrics = new ServerMetrics(config.metrics.stageTimings, () => buffers.stats(), walStats);
      if (compaction) registerCompactionMetrics(metrics, compaction);
      engine = await QueryEngine.open({
        root,
        threads: config.query.threads,
        // DuckDB's own default (80 % of RAM) leaves nothing for ingestion when one query renders a huge result.
        memoryLimit: config.query.memoryLimit || `${Math.floor((os.totalmem() * 0.25) / 2 ** 20)}MiB`,
        connections: config.query.maxConcurrent,
        parquetMetadataCache: config.query.parquetMetadataCache,
      });
      const queryEngine = engine;
      metrics.registry.gauge('arc_query_sessions_in_use', 'DuckDB query sessions not idle: running a query, or finishing one that was stopped or abandoned', () => queryEngine.inUse);
      const queries = new QueryService(engine, catalog, buffers, { timeoutMs: config.query.timeoutSec * 1000, slowQueryMs: config.query.slowQueryMs, maxResultBytes: config.query.maxResultBytes }, log);
      let continuousQueries: ServerState['continuousQueries'] = null;
      if (config.continuousQuery.enabled) {
        swapper = await WindowSwapper.open(root, catalog, config.ingest.compression, log, wal ? (file) => wal!.referencesFile(file) : undefined);
        // ARC_TEST_CQ_CRASH_POINT (before-commit | after-commit): the crash test kills the server mid-swap.
        const service = new ContinuousQueryService(openCqStores(root), queries, swapper, log, process.env.ARC_TEST_CQ_CRASH_POINT);
        continuousQueries = { service, scheduler: new CqScheduler(service, log) };
      }
      // ARC_TEST_DELETE_CRASH_POINT (after-retire | before-commit | after-commit): the crash test kills the server mid-delete.
      rewriter = await RowRewriter.open({ root, catalog, buffers, wal, compression: config.ingest.compression, log, crashPoint: process.env.ARC_TEST_DELETE_CRASH_POINT });
      const retention = config.retention.enabled ? new RetentionService(root, catalog, rewriter, log, config.retention.schedule) : null;
      const state: ServerState = {
        config,
        buffers,
        metrics,
        profiler: new Profiler(flushPool),
        queries,
        catalog,
        compaction,
        root,
        auth,
        decodeContext: { interner, nowMicros },
        turns: new LoopTurns(config.server.turnBudgetMs),
        decodePool: new DecodePool({ workers: DECODE_WORKERS, memoryBudget: DECODE_MEMORY_BUDGET, nice: config.ingest.workerNice }),
        wal,
        log,
        version,
        startedAt: performance.now(),
        continuousQueries,
        rewriter,
        retention,
        schedulers: {
          cq: continuousQueries?.scheduler ?? { schedulerStatus: () => ({ enabled: false, reason: 'CQ feature not enabled (continuous_query.enabled=false)' }) },
          retention: retention ?? { schedulerStatus: () => ({ enabled: false, reason: 'Retention feature not enabled (retention.enabled=false)' }) },
        },
        ready: false,
      };
      if (config.ingest.warmUpRequests > 0) {
        try {
          const warm = await warmUpWritePath(flushPool, { requests: config.ingest.warmUpRequests, maxBufferRows: config.ingest.maxBufferSize, pool: buffers.pool, log });
          log.info('write path warmed up', { ms: warm.ms, requests: warm.requests, rows: warm.rows, flushes: warm.flushes });
        } catch (err) {
          // Only speed is lost: the server serves cold.
          log.warn('write path warm-up failed; serving without it', { error: (err as Error).message });
        }
      }
      const server = createHttpServer(config, new Router(buildRoutes(state)), log, metrics, auth, state.turns);
      await listen(server, config.server.host, config.server.port);
      const address = server.address() as AddressInfo;
      const scheme = config.server.tls.enabled ? 'https' : 'http';
      const host = config.server.host === '' || config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
      const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
      writeInfo(infoPath, { pid: process.pid, url, port: address.port, started_at: new Date().toISOString(), version });
      const arc = new ArcServer(config, log, server, flushPool, engine, state, infoPath, url);
      state.ready = true;
      metrics.serving();
      continuousQueries?.scheduler.reload();
      retention?.start();
      if (!wal) void sweepTempFiles(root, startedAtMs, log);
      return arc;
    } catch (err) {
      await compaction?.close();
      swapper?.close();
      rewriter?.close();
      metrics?.close();
      engine?.close();
      await auth?.close();
      await flushPool?.close();
      await wal?.close().catch(() => undefined);
      fs.rmSync(infoPath, { force: true });
      throw err;
    }
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /**
   * Graceful stop: /ready turns 503, no new connections, in-flight requests finish, then every
   * buffer is flushed to durable files. Returns the number of acknowledged rows that could not
   * be written before the shutdown timeout (0 unless the disk failed).
   */
  async stop(): Promise<number> {
    const deadline = Date.now() + this.config.server.shutdownTimeoutSec * 1000;
    this.state.ready = false;
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    while (this.activeRequests > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      this.http.closeIdleConnections();
    }
    this.http.closeAllConnections();
    await closed;
    // No new CQ run starts; the running ones finish (their swap is one atomic step either way).
    this.state.continuousQueries?.scheduler.stop();
    await this.state.continuousQueries?.service.settled();
    this.state.continuousQueries?.service.close();
    this.state.retention?.stop();
    await this.state.retention?.settled();
    // A running delete finishes (its swap is one atomic step either way); none starts after it.
    await this.state.rewriter.exclusive(async () => undefined);
    // Running merges are stopped; their outputs were never published, so nothing changes on disk.
    await this.state.compaction?.close();
    await this.state.decodePool.close();
    let lost = 0;
    try {
      await this.state.buffers.close(deadline);
    } catch (err) {
      lost = this.state.buffers.pendingRows;
      this.log.error('shutdown could not flush every buffer', { rows_not_written: lost, error: err as Error });
    }
    await this.flushPool.close();
    // Everything flushed means every segment can go; if not, the log keeps the rows for the next start.
    await this.state.wal?.close();
    this.engine.close();
    this.state.rewriter.close();
    await this.state.auth?.close();
    this.state.metrics.close();
    fs.rmSync(this.infoPath, { force: true });
    return lost;
  }
}

function registerCompactionMetrics(metrics: ServerMetrics, compaction: CompactionManager): void {
  const r = metrics.registry;
  const t = compaction.totals;
  r.counterFrom('arc_compaction_jobs_total', 'Compaction jobs that succeeded', () => t.jobsCompleted, { result: 'success' });
  r.counterFrom('arc_compaction_jobs_total', 'Compaction jobs that failed', () => t.jobsFailed, { result: 'failure' });
  r.counterFrom('arc_compaction_files_total', 'Files merged away by compaction', () => t.filesIn, { direction: 'in' });
  r.counterFrom('arc_compaction_files_total', 'Files written by compaction', () => t.filesOut, { direction: 'out' });
  r.counterFrom('arc_compaction_bytes_total', 'Bytes of the files merged away', () => t.bytesIn, { direction: 'in' });
  r.counterFrom('arc_compaction_bytes_total', 'Bytes of the files written', () => t.bytesOut, { direction: 'out' });
  r.counterFrom('arc_compaction_rows_deduplicated_total', 'Rows dropped as duplicates of a later row with the same tags and time', () => t.rowsDeduplicated);
  r.counterFrom('arc_compaction_duration_seconds_total', 'Time spent in compaction jobs', () => t.durationMs / 1000);
  r.gauge('arc_compaction_active_jobs', 'Compaction jobs running now', () => compaction.jobs().active_jobs);
}

async function sweepTempFiles(root: string, before: number, log: Logger): Promise<void> {
  const removed = await removeStaleTempFiles(root, before);
  if (removed > 0) log.info('removed temporary files left by an interrupted flush', { count: removed });
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host === '' ? undefined : host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Refuses to share a storage root with another live server: two writers would interleave files and buffers. */
function lockDataDirectory(infoPath: string, version: string): void {
  const mine: ServerInfo = { pid: process.pid, url: '', port: 0, started_at: new Date().toISOString(), version };
  claimLockFile(infoPath, mine, (pid) => `another arc-ts server (pid ${pid}) is using ${path.dirname(infoPath)}; stop it or set storage.local_path elsewhere`);
}

function writeInfo(infoPath: string, info: ServerInfo): void {
  const temp = `${infoPath}.${process.pid}`;
  fs.writeFileSync(temp, JSON.stringify(info, null, 2));
  fs.renameSync(temp, infoPath);
}

export function readServerInfo(root: string): ServerInfo | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(path.resolve(root), SERVER_INFO_FILE), 'utf8')) as ServerInfo;
  } catch {
    return null;
  }
}

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
import { removeStaleTempFiles } from '../storage/durable-files.js';
import { FlushPool } from '../storage/flush-pool.js';
import { createHttpServer } from './http-server.js';
import { Profiler } from './profiler.js';
import { Router } from './router.js';
import { buildRoutes, type ServerState } from './routes.js';

/** Written into the storage root while a server runs: it locks the directory and tells the CLI where to connect. */
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

    let flushPool: FlushPool | null = null;
    let metrics: ServerMetrics | null = null;
    let engine: QueryEngine | null = null;
    let auth: AuthService | null = null;
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
      flushPool = await FlushPool.start({
        root,
        compression: config.ingest.compression,
        parquetWriter: config.ingest.parquetWriter,
        version,
        workers: config.ingest.flushWorkers,
        onWorkerExit: (error) => log.error('flush worker stopped; starting a new one', { error }),
        onFlushed: (report) => metrics?.flushed(report),
      });
      const buffers = new BufferManager(flushPool, {
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
      metrics = new ServerMetrics(config.metrics.stageTimings, () => buffers.stats());
      engine = await QueryEngine.open({
        root,
        threads: config.query.threads,
        memoryLimit: config.query.memoryLimit || undefined,
        connections: config.query.maxConcurrent,
        parquetMetadataCache: config.query.parquetMetadataCache,
      });
      const queries = new QueryService(engine, root, buffers, { timeoutMs: config.query.timeoutSec * 1000, slowQueryMs: config.query.slowQueryMs }, log);
      const state: ServerState = {
        config,
        buffers,
        metrics,
        profiler: new Profiler(flushPool),
        queries,
        root,
        auth,
        decodeContext: { interner: new StringInterner(decodeUtf8), nowMicros },
        log,
        startedAt: performance.now(),
        ready: false,
      };
      const server = createHttpServer(config, new Router(buildRoutes(state)), log, metrics, auth);
      await listen(server, config.server.host, config.server.port);
      const address = server.address() as AddressInfo;
      const scheme = config.server.tls.enabled ? 'https' : 'http';
      const host = config.server.host === '' || config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
      const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
      writeInfo(infoPath, { pid: process.pid, url, port: address.port, started_at: new Date().toISOString(), version });
      const arc = new ArcServer(config, log, server, flushPool, engine, state, infoPath, url);
      state.ready = true;
      metrics.serving();
      void removeStaleTempFiles(root).then((removed) => {
        if (removed > 0) log.info('removed temporary files left by an interrupted flush', { count: removed });
      });
      return arc;
    } catch (err) {
      metrics?.close();
      engine?.close();
      await auth?.close();
      await flushPool?.close();
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
    let lost = 0;
    try {
      await this.state.buffers.close(deadline);
    } catch (err) {
      lost = this.state.buffers.pendingRows;
      this.log.error('shutdown could not flush every buffer', { rows_not_written: lost, error: err as Error });
    }
    await this.flushPool.close();
    this.engine.close();
    await this.state.auth?.close();
    this.state.metrics.close();
    fs.rmSync(this.infoPath, { force: true });
    return lost;
  }
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
  try {
    fs.writeFileSync(infoPath, JSON.stringify(mine), { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let other: Partial<ServerInfo> = {};
  try {
    other = JSON.parse(fs.readFileSync(infoPath, 'utf8')) as ServerInfo;
  } catch {
    // unreadable: a crash mid-write; treat as stale
  }
  if (typeof other.pid === 'number' && other.pid !== process.pid && isAlive(other.pid)) {
    throw new Error(`another arc-ts server (pid ${other.pid}) is using ${path.dirname(infoPath)}; stop it or set storage.local_path elsewhere`);
  }
  fs.writeFileSync(infoPath, JSON.stringify(mine));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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

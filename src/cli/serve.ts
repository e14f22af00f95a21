import path from 'node:path';
import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger, type Logger } from '../log.js';
import { ArcServer } from '../server/arc-server.js';
import { SERVER_NODE_FLAGS } from './node-flags.js';

/**
 * `arc serve [--config FILE]`: runs the server in this process until SIGTERM or SIGINT, then
 * drains requests and flushes every buffer before exiting (0 when nothing was lost).
 */
export async function serve(args: string[], version: string): Promise<void> {
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config' || arg === '-c') file = args[++i];
    else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
    else throw new UsageError(`arc serve: unknown option ${arg}`);
  }

  let loaded;
  try {
    loaded = loadConfig(file === undefined ? {} : { file });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`arc: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const { config } = loaded;
  const log = createLogger(config.log.level, config.log.format);
  for (const warning of loaded.warnings) log.warn(warning);
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = SERVER_NODE_FLAGS.filter((flag) => !given.some((arg) => arg.startsWith(flag.split('=')[0]!)));
  if (missing.length > 0) log.info(`started without ${missing.join(' ')} (the arc command and start.sh pass it): the server works, and uses more memory`);

  // Signal handlers come first: a SIGTERM during start-up must not kill the process outright.
  let server: ArcServer | null = null;
  let stopping = false;
  let pendingSignal: string | null = null;
  const stop = async (signal: string) => {
    if (server === null) {
      pendingSignal ??= signal; // honoured once start-up completes
      return;
    }
    if (stopping) {
      log.warn('shutdown already in progress', { signal });
      return;
    }
    stopping = true;
    log.info('shutting down: draining requests and flushing buffers', { signal });
    const lost = await server.stop();
    if (lost > 0) {
      log.error('stopped with unwritten rows', { rows: lost });
      process.exit(1);
    }
    log.info('stopped; every acknowledged row is on disk');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  installFaultGuard(log, () => server, async () => {
    if (stopping || server === null) return;
    stopping = true;
    const lost = await server.stop();
    log.error('stopped after an uncaught exception', { rows_not_written: lost });
  });

  try {
    server = await ArcServer.start(config, log, version);
  } catch (err) {
    log.error('start-up failed', { error: (err as Error).message });
    process.exit(1);
  }
  log.info('arc-ts listening', {
    url: server.url,
    port: server.port,
    data: path.resolve(config.storage.localPath),
    config: loaded.file ?? 'embedded defaults',
    version,
    pid: process.pid,
  });
  if (pendingSignal !== null) void stop(pendingSignal);
}

export class UsageError extends Error {}

/**
 * The last line of defence. A rejection nobody handled is logged and counted, and the server keeps
 * serving: it comes from work no request waits for, and every request handler answers its own
 * errors. An uncaught exception may have left state half-changed, so the server stops as it does
 * on SIGTERM (in-flight requests are answered, buffers flushed) and exits 70 for the supervisor to
 * restart it; with the write-ahead log on, anything the flush cannot write is replayed then.
 */
function installFaultGuard(log: Logger, running: () => ArcServer | null, stopAfterFault: () => Promise<void>): void {
  process.on('unhandledRejection', (reason) => {
    running()?.state.metrics.unhandledError();
    log.error('unhandled promise rejection (the server keeps serving)', { error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
  });
  let faulted = false;
  process.on('uncaughtException', (error) => {
    log.error('uncaught exception; stopping after answering in-flight requests and flushing buffers', { error: error.stack ?? error.message });
    if (faulted) return;
    faulted = true;
    const hardStop = setTimeout(() => process.exit(70), 60_000);
    hardStop.unref();
    stopAfterFault().then(
      () => process.exit(70),
      (err: unknown) => {
        log.error('shutdown after an uncaught exception failed', { error: err instanceof Error ? err.message : String(err) });
        process.exit(70);
      },
    );
  });
}

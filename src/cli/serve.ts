import path from 'node:path';
import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger } from '../log.js';
import { ArcServer } from '../server/arc-server.js';

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

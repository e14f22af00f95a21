import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Packr } from 'msgpackr';
import type { ArrayPool } from '../buffer/array-pool.js';
import { BufferManager } from '../buffer/buffer-manager.js';
import { StringInterner } from '../columnar/string-interner.js';
import type { FlushPool } from '../flush/flush-pool.js';
import { parseLineProtocol } from '../ingest/line-protocol.js';
import { decodeMsgpackPayload } from '../ingest/msgpack-decode.js';
import { decodeUtf8 } from '../ingest/msgpack-reader.js';
import type { Logger } from '../log.js';
import { SchemaStore } from '../storage/measurement-schemas.js';

/**
 * Start-up warm-up of the write path (#17). A fresh server's first second of load costs more CPU per
 * request than later ones: the decode, conform and append functions run interpreted until V8 has
 * seen them often enough to optimise them, the flush workers' encoder likewise, and the buffers'
 * arrays are fresh memory (slow to fault in on this kind of VM). Running a few hundred synthetic
 * requests through the same functions before the server listens moves that cost to start-up,
 * where no client waits for it; the arrays they used go back to the server's array pool already
 * faulted in.
 *
 * No row of it is visible: a scratch interner, schema store and buffer manager, and files written
 * under a temporary directory that is removed afterwards. The real buffers, interner, catalog and
 * write-ahead log are never touched, so the warm-up cannot add, change or resurrect a row.
 */
export interface WarmUpReport {
  requests: number;
  rows: number;
  flushes: number;
  ms: number;
}

const MEASUREMENTS = ['cpu', 'mem', 'disk', 'net'];
const HOSTS = Array.from({ length: 1000 }, (_, i) => `host${String(i).padStart(3, '0')}`);
const ROWS_PER_REQUEST = 1000;
/** Of every 8 requests: 6 columnar MessagePack (what SDKs send), 1 row MessagePack, 1 line protocol (Telegraf). */
const FORMAT_CYCLE = ['columnar', 'columnar', 'columnar', 'columnar', 'columnar', 'columnar', 'row', 'lp'] as const;

export async function warmUpWritePath(flushPool: FlushPool, options: { requests: number; maxBufferRows: number; pool: ArrayPool; log: Logger }): Promise<WarmUpReport> {
  const started = performance.now();
  removeAbandonedScratch(options.log);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
  // Once the warm-up is over (or failed), a flush of it still being retried succeeds at once: nothing may
  // keep writing scratch files, or recreate the directory, behind the server's back.
  let over = false;
  try {
    const schemas = await SchemaStore.open(scratch, options.log, async () => null);
    const buffers = new BufferManager(
      { write: (sealed) => (over ? Promise.resolve() : flushPool.writeScratch(sealed, scratch)) },
      { schemas, maxBufferRows: options.maxBufferRows, maxBufferAgeMs: 60_000, maxMemoryBytes: 256 << 20, pool: options.pool },
    );
    const interner = new StringInterner(decodeUtf8);
    const bodies = buildBodies(Date.now() * 1000);
    let rows = 0;
    for (let i = 0; i < options.requests; i++) {
      const format = FORMAT_CYCLE[i % FORMAT_CYCLE.length]!;
      const body = bodies[format][i % MEASUREMENTS.length]!;
      const nowMicros = Date.now() * 1000;
      const batches =
        format === 'lp'
          ? parseLineProtocol(body, { precision: 'ns', nowMicros, interner }).batches
          : decodeMsgpackPayload(body, { interner, nowMicros: () => nowMicros }).batches.map((decoded) => decoded.batch);
      rows += buffers.write('warm_up', buffers.conform('warm_up', batches));
      // Lets finished flushes hand their arrays back, as between real requests.
      if (i % 16 === 15) await yieldToLoop();
    }
    await buffers.close(Date.now() + 10_000);
    const flushes = buffers.stats().flushesCompleted;
    return { requests: options.requests, rows, flushes, ms: Math.round(performance.now() - started) };
  } finally {
    over = true;
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

const SCRATCH_PREFIX = 'arc-warm-up-';

/** Scratch directories of servers killed during their warm-up (their pid is gone); others may be in use. */
function removeAbandonedScratch(log: Logger): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(SCRATCH_PREFIX)) continue;
    const pid = Number.parseInt(entry.slice(SCRATCH_PREFIX.length), 10);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
    log.info('removed the warm-up scratch directory of a server that stopped during its warm-up', { directory: entry });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Per format, one body per measurement in the shapes of Arc's IoT benchmark (host tag, three floats). */
function buildBodies(startMicros: number): Record<(typeof FORMAT_CYCLE)[number], Buffer[]> {
  const packer = new Packr({ useRecords: false, variableMapSize: true });
  let seed = 0x2545f491;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  // Never integral, so msgpackr packs every one as a float64, as SDKs send them.
  const value = (): number => random() * 100 + 0.001;
  const host = (): string => HOSTS[Math.floor(random() * HOSTS.length)]!;
  const columnar = MEASUREMENTS.map((m) => {
    const time: bigint[] = [];
    const hosts: string[] = [];
    const fields: number[][] = [[], [], []];
    for (let i = 0; i < ROWS_PER_REQUEST; i++) {
      time.push(BigInt(startMicros + i));
      hosts.push(host());
      for (const column of fields) column.push(value());
    }
    return packer.pack({ m, columns: { time, host: hosts, value: fields[0], cpu_idle: fields[1], cpu_user: fields[2] } });
  });
  const row = MEASUREMENTS.map((m) =>
    packer.pack(Array.from({ length: ROWS_PER_REQUEST }, (_, i) => ({ m, t: BigInt(startMicros + i), h: host(), fields: { value: value(), cpu_idle: value(), cpu_user: value() } }))),
  );
  const lp = MEASUREMENTS.map((m) => {
    let text = '';
    for (let i = 0; i < ROWS_PER_REQUEST; i++) text += `${m},host=${host()} value=${value()},cpu_idle=${value()},cpu_user=${value()} ${startMicros + i}000\n`;
    return Buffer.from(text);
  });
  return { columnar, row, lp };
}

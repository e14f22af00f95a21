/**
 * Crash test of the write-ahead log: a server with the WAL on takes writes (MessagePack and line
 * protocol, every record carrying a unique `seq`), is killed with SIGKILL at a random moment,
 * restarted on the same directories, and so on; at the end every acknowledged record must be in
 * the Parquet files exactly once, and no record may be there twice.
 *
 *   node dist/bench/crash-test.js [--rounds 20] [--writers 4] [--min-ms 300] [--max-ms 2500] [--keep]
 *
 * Small buffers, a short buffer age and 1 MB segments make flushes, flush records and segment
 * deletions happen all the time, so kills land in every phase of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import duckdbApi from '@duckdb/node-api';
import { Pool } from 'undici';
import { MsgpackWriter } from '../src/cli/bench/payloads.js';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');

export interface CrashTestOptions {
  rounds: number;
  writers: number;
  /** Each round runs between minMs and maxMs (uniformly at random) before the kill. */
  minMs: number;
  maxMs: number;
  /** Scratch directory (storage root and log inside); created if missing. */
  dir: string;
  /** Extra ARC_* settings for the server. */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export interface CrashTestResult {
  rounds: number;
  /** Records acknowledged with 2xx. */
  acknowledged: number;
  /** Distinct records found in the files. */
  stored: number;
  /** Acknowledged but missing. */
  lost: number;
  /** Records stored more than once (counted once per extra copy). */
  duplicated: number;
  /** Sent, not acknowledged (the kill cut them off), yet stored: allowed, once. */
  unacknowledgedStored: number;
  /** Temporary files visible as *.parquet, or files DuckDB cannot read: must be none. */
  badFiles: string[];
  /** What each restart's recovery reported (from its log line). */
  recoveries: Array<Record<string, unknown>>;
}

const BATCH_ROWS = 200;
const HOUR_MICROS = 3_600_000_000;
const BASE_MICROS = Date.UTC(2025, 0, 1) * 1000;

export async function runCrashTest(options: CrashTestOptions): Promise<CrashTestResult> {
  const log = options.log ?? (() => {});
  const root = path.join(options.dir, 'arc');
  const walDir = path.join(options.dir, 'wal');
  const acked: Array<[number, number]> = [];
  const recoveries: Array<Record<string, unknown>> = [];
  let nextSeq = 0;

  for (let round = 1; round <= options.rounds; round++) {
    const server = await startServer(root, walDir, options.env);
    if (server.recovery) recoveries.push(server.recovery);
    const pool = new Pool(server.url, { connections: options.writers, pipelining: 1 });
    let running = true;
    const writer = async (w: number) => {
      for (let i = 0; running; i++) {
        const start = nextSeq;
        nextSeq += BATCH_ROWS;
        const lineProtocol = (w + i) % 3 === 0;
        const measurement = `m${(w + i) % 2}`;
        try {
          const response = await pool.request(lineProtocol ? lpRequest(measurement, start) : msgpackRequest(measurement, start));
          await response.body.dump();
          if (response.statusCode === 204) acked.push([start, BATCH_ROWS]);
        } catch {
          // the kill cut this request off: not acknowledged
        }
      }
    };
    const writers = Array.from({ length: options.writers }, (_, w) => writer(w));
    const runMs = options.minMs + Math.random() * (options.maxMs - options.minMs);
    await new Promise((resolve) => setTimeout(resolve, runMs));
    server.child.kill('SIGKILL');
    await server.exited;
    running = false;
    await Promise.all(writers);
    await pool.destroy();
    log(`round ${round}/${options.rounds}: killed after ${Math.round(runMs)} ms; ${acked.reduce((n, [, c]) => n + c, 0)} records acknowledged so far`);
  }

  // A last start replays the log; a clean stop flushes everything.
  const final = await startServer(root, walDir, options.env);
  if (final.recovery) recoveries.push(final.recovery);
  final.child.kill('SIGTERM');
  const code = await final.exited;
  if (code !== 0) throw new Error(`the final clean stop exited with ${code}`);
  return { rounds: options.rounds, ...(await compare(root, acked, nextSeq)), recoveries };
}

async function compare(root: string, acked: Array<[number, number]>, sent: number): Promise<Omit<CrashTestResult, 'rounds' | 'recoveries'>> {
  const files: string[] = [];
  const badFiles: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.parquet')) {
        if (entry.name.startsWith('.')) badFiles.push(full);
        else files.push(full);
      }
    }
  };
  if (fs.existsSync(root)) walk(root);
  const copies = new Uint8Array(sent);
  const instance = await duckdbApi.DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const file of files) {
      let rows;
      try {
        rows = (await connection.runAndReadAll(`SELECT seq FROM read_parquet(${duckdbApi.quotedString(file)})`)).getColumns()[0]!;
      } catch (err) {
        badFiles.push(`${file}: ${(err as Error).message}`);
        continue;
      }
      for (const seq of rows) copies[Number(seq)] = Math.min(255, copies[Number(seq)]! + 1);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const isAcked = new Uint8Array(sent);
  let acknowledged = 0;
  for (const [start, count] of acked) {
    isAcked.fill(1, start, start + count);
    acknowledged += count;
  }
  let stored = 0;
  let lost = 0;
  let duplicated = 0;
  let unacknowledgedStored = 0;
  for (let seq = 0; seq < sent; seq++) {
    const n = copies[seq]!;
    if (n > 0) stored++;
    if (n > 1) duplicated += n - 1;
    if (isAcked[seq] && n === 0) lost++;
    if (!isAcked[seq] && n > 0) unacknowledgedStored++;
  }
  return { acknowledged, stored, lost, duplicated, unacknowledgedStored, badFiles };
}

function msgpackRequest(measurement: string, start: number) {
  return {
    path: '/api/v1/write/msgpack',
    method: 'POST' as const,
    headers: { 'content-type': 'application/msgpack', 'x-arc-database': 'crash' },
    body: encodeColumnarSeq(measurement, start, BATCH_ROWS, (seq) => BASE_MICROS + (seq % 3) * HOUR_MICROS + seq),
  };
}

/** `{m, columns: {time, host, seq, v}}`, one row per seq from `start`. */
function encodeColumnarSeq(measurement: string, start: number, n: number, micros: (seq: number) => number): Buffer {
  const writer = new MsgpackWriter(64 + n * 40);
  writer.mapHeader(2);
  writer.str('m');
  writer.str(measurement);
  writer.str('columns');
  writer.mapHeader(4);
  writer.str('time');
  writer.arrayHeader(n);
  for (let seq = start; seq < start + n; seq++) writer.uint64(micros(seq));
  writer.str('host');
  writer.arrayHeader(n);
  for (let seq = start; seq < start + n; seq++) writer.str(`h${seq % 7}`);
  writer.str('seq');
  writer.arrayHeader(n);
  for (let seq = start; seq < start + n; seq++) writer.uint64(seq);
  writer.str('v');
  writer.arrayHeader(n);
  for (let seq = start; seq < start + n; seq++) writer.float64(seq / 2);
  return writer.finish();
}

function lpRequest(measurement: string, start: number) {
  const lines: string[] = [];
  for (let seq = start; seq < start + BATCH_ROWS; seq++) {
    const micros = BASE_MICROS + (seq % 3) * HOUR_MICROS + seq;
    lines.push(`${measurement},host=h${seq % 7} seq=${seq}i,v=${seq / 2} ${micros}000`);
  }
  return { path: '/write?db=crash', method: 'POST' as const, headers: { 'content-type': 'text/plain' }, body: lines.join('\n') };
}

interface RunningServer {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  recovery: Record<string, unknown> | null;
}

function startServer(root: string, walDir: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.tmpdir(),
      ARC_SERVER_HOST: '127.0.0.1',
      ARC_SERVER_PORT: '0',
      ARC_STORAGE_LOCAL_PATH: root,
      ARC_WAL_ENABLED: 'true',
      ARC_WAL_DIRECTORY: walDir,
      ARC_WAL_MAX_SIZE_MB: '1',
      ARC_INGEST_MAX_BUFFER_SIZE: '1500',
      ARC_INGEST_MAX_BUFFER_AGE_MS: '150',
      ARC_AUTH_ENABLED: 'false',
      ARC_LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let output = '';
    let recovery: Record<string, unknown> | null = null;
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (line.includes('write-ahead log replayed')) recovery = JSON.parse(line) as Record<string, unknown>;
        if (line.includes('arc-ts listening')) {
          resolve({ child, url: (JSON.parse(line) as { url: string }).url, exited, recovery });
          return;
        }
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '20' },
      writers: { type: 'string', default: '4' },
      'min-ms': { type: 'string', default: '300' },
      'max-ms': { type: 'string', default: '2500' },
      keep: { type: 'boolean', default: false },
    },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-crash-'));
  const started = Date.now();
  const result = await runCrashTest({
    rounds: Number(values.rounds),
    writers: Number(values.writers),
    minMs: Number(values['min-ms']),
    maxMs: Number(values['max-ms']),
    dir,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  const { recoveries, ...summary } = result;
  const replayed = recoveries.reduce((n, r) => n + Number(r.rows ?? 0), 0);
  const republished = recoveries.reduce((n, r) => n + Number(r.files_republished ?? 0), 0);
  process.stdout.write(
    `${JSON.stringify({ ...summary, replayed_rows: replayed, files_republished: republished, seconds: Math.round((Date.now() - started) / 1000), dir: values.keep ? dir : undefined }, null, 2)}\n`,
  );
  const ok = result.lost === 0 && result.duplicated === 0 && result.badFiles.length === 0;
  process.stdout.write(ok ? 'OK: 0 lost, 0 duplicated\n' : 'FAILED\n');
  process.exitCode = ok ? 0 : 1;
}

/**
 * Crash test of compaction: a server with the write-ahead log on takes writes (every record has a
 * unique `seq`) into closed past hours, is asked to compact them all the time (`force=true`) while a
 * query loop counts, and is killed with SIGKILL at a random moment; restarted on the same
 * directories, again and again. At the end every acknowledged record must be in the Parquet files
 * exactly once. During the rounds, no query may fail and none may count a record twice.
 *
 *   node dist/bench/compaction-crash.js [--rounds 20] [--writers 3] [--min-ms 600] [--max-ms 3000] [--keep]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import duckdbApi from '@duckdb/node-api';
import { Pool } from 'undici';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');
const BATCH_ROWS = 100;
const HOUR_MICROS = 3_600_000_000;
const BASE_MICROS = Date.UTC(2025, 0, 1) * 1000;

export interface CompactionCrashOptions {
  rounds: number;
  writers: number;
  minMs: number;
  maxMs: number;
  dir: string;
  /**
   * Rounds added, up to this many, while no compacted file is on disk yet: on a loaded machine a
   * round can end before any job finished, and a crash test in which compaction never ran proves nothing.
   */
  extraRoundsUntilCompacted?: number;
  log?: (line: string) => void;
}

export interface CompactionCrashResult {
  rounds: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  unacknowledgedStored: number;
  badFiles: string[];
  /** Queries run during the rounds, and those that failed or counted a record twice (must be 0). */
  queries: number;
  queryErrors: string[];
  /** Compacted outputs on disk at the end, and manifests start-up recovery finished or undid. */
  compactedFiles: number;
  recoveredManifests: number;
}

export async function runCompactionCrash(options: CompactionCrashOptions): Promise<CompactionCrashResult> {
  const log = options.log ?? (() => {});
  const root = path.join(options.dir, 'arc');
  const walDir = path.join(options.dir, 'wal');
  const acked: Array<[number, number]> = [];
  let ackedCount = 0;
  let nextSeq = 0;
  let queries = 0;
  let recoveredManifests = 0;
  const queryErrors: string[] = [];
  let rounds = options.rounds;
  for (let round = 1; round <= rounds; round++) {
    const server = await startServer(root, walDir);
    recoveredManifests += server.recovered;
    const pool = new Pool(server.url, { connections: options.writers + 2, pipelining: 1 });
    let running = true;
    const writer = async (w: number) => {
      for (let i = 0; running; i++) {
        const start = nextSeq;
        nextSeq += BATCH_ROWS;
        try {
          const response = await pool.request(lpRequest(`m${(w + i) % 2}`, start));
          await response.body.dump();
          if (response.statusCode === 204) {
            acked.push([start, BATCH_ROWS]);
            ackedCount += BATCH_ROWS;
          }
        } catch {
          // cut off by the kill: not acknowledged
        }
      }
    };
    const compactor = async () => {
      while (running) {
        try {
          const response = await pool.request({ path: '/api/v1/compaction/trigger?tier=hourly,daily&force=true', method: 'POST' });
          await response.body.dump();
        } catch {
          // killed
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const querier = async () => {
      while (running) {
        try {
          const response = await pool.request({
            path: '/api/v1/query',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-arc-database': 'crash' },
            body: JSON.stringify({ sql: 'SELECT count(*) AS n, count(DISTINCT seq) AS d FROM m0' }),
          });
          const text = await response.body.text();
          if (!running) return; // the kill may have cut the answer
          queries++;
          if (response.statusCode !== 200) {
            queryErrors.push(`status ${response.statusCode}: ${text.slice(0, 200)}`);
            continue;
          }
          const [n, d] = (JSON.parse(text) as { data: number[][] }).data[0]!;
          if (n !== d) queryErrors.push(`count ${n} but ${d} distinct records: a record counted twice`);
        } catch {
          // killed
        }
      }
    };
    const tasks = [...Array.from({ length: options.writers }, (_, w) => writer(w)), compactor(), querier()];
    const runMs = options.minMs + Math.random() * (options.maxMs - options.minMs);
    await new Promise((resolve) => setTimeout(resolve, runMs));
    server.child.kill('SIGKILL');
    await server.exited;
    running = false;
    await Promise.all(tasks);
    await pool.destroy();
    log(`round ${round}/${rounds}: killed after ${Math.round(runMs)} ms; ${ackedCount} records acknowledged, ${queries} queries so far`);
    if (round === rounds && rounds < options.rounds + (options.extraRoundsUntilCompacted ?? 0) && !hasCompactedFile(root)) rounds++;
  }
  const final = await startServer(root, walDir);
  recoveredManifests += final.recovered;
  final.child.kill('SIGTERM');
  const code = await final.exited;
  if (code !== 0) throw new Error(`the final clean stop exited with ${code}`);
  const compared = await compare(root, acked, nextSeq);
  return { rounds, acknowledged: ackedCount, ...compared, queries, queryErrors, recoveredManifests };
}

function hasCompactedFile(dir: string): boolean {
  if (!fs.existsSync(dir)) return false;
  return (fs.readdirSync(dir, { recursive: true }) as string[]).some((entry) => /_(compacted|daily)\.parquet$/.test(entry));
}

async function compare(root: string, acked: Array<[number, number]>, sent: number) {
  const files: string[] = [];
  const badFiles: string[] = [];
  let compactedFiles = 0;
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('_')) walk(full);
      } else if (entry.name.endsWith('.parquet')) {
        if (entry.name.startsWith('.')) badFiles.push(full);
        else files.push(full);
        if (/_(compacted|daily)\.parquet$/.test(entry.name)) compactedFiles++;
      } else if (entry.name.endsWith('.tmp') && !dir.includes('wal')) {
        badFiles.push(`${full}: temporary file left after a clean stop`);
      }
    }
  };
  if (fs.existsSync(root)) walk(root);
  const copies = new Uint8Array(sent);
  const instance = await duckdbApi.DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const file of files) {
      try {
        const rows = (await connection.runAndReadAll(`SELECT seq FROM read_parquet(${duckdbApi.quotedString(file)})`)).getColumns()[0]!;
        for (const seq of rows) copies[Number(seq)] = Math.min(255, copies[Number(seq)]! + 1);
      } catch (err) {
        badFiles.push(`${file}: ${(err as Error).message}`);
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const isAcked = new Uint8Array(sent);
  for (const [start, count] of acked) isAcked.fill(1, start, start + count);
  let lost = 0;
  let duplicated = 0;
  let unacknowledgedStored = 0;
  for (let seq = 0; seq < sent; seq++) {
    const n = copies[seq]!;
    if (n > 1) duplicated += n - 1;
    if (isAcked[seq] && n === 0) lost++;
    if (!isAcked[seq] && n > 0) unacknowledgedStored++;
  }
  return { lost, duplicated, unacknowledgedStored, badFiles, compactedFiles };
}

function lpRequest(measurement: string, start: number) {
  const lines: string[] = [];
  for (let seq = start; seq < start + BATCH_ROWS; seq++) {
    // Three closed hours; (host, time) is unique per record, so deduplication must keep every one.
    const micros = BASE_MICROS + (seq % 3) * HOUR_MICROS + seq;
    lines.push(`${measurement},host=h${seq % 7} seq=${seq}i,v=${seq / 2} ${micros}000`);
  }
  return { path: '/write?db=crash', method: 'POST' as const, headers: { 'content-type': 'text/plain' }, body: lines.join('\n') };
}

interface RunningServer {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  recovered: number;
}

function startServer(root: string, walDir: string): Promise<RunningServer> {
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
      ARC_WAL_MAX_AGE_SECONDS: '1',
      ARC_INGEST_MAX_BUFFER_SIZE: '600',
      ARC_INGEST_MAX_BUFFER_AGE_MS: '100',
      ARC_INGEST_FLUSH_WORKERS: '1',
      ARC_COMPACTION_TEMP_DIRECTORY: path.join(root, '..', 'compaction-tmp'),
      ARC_COMPACTION_THREADS: '1',
      ARC_COMPACTION_MAX_CONCURRENT: '1',
      ARC_QUERY_THREADS: '1',
      ARC_AUTH_ENABLED: 'false',
      ARC_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let output = '';
    let recovered = 0;
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const lines = output.split('\n');
      output = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('compaction: finished a job') || line.includes('compaction: undid a job')) recovered++;
        if (line.includes('arc-ts listening')) resolve({ child, url: (JSON.parse(line) as { url: string }).url, exited, recovered });
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '20' },
      writers: { type: 'string', default: '3' },
      'min-ms': { type: 'string', default: '600' },
      'max-ms': { type: 'string', default: '3000' },
      keep: { type: 'boolean', default: false },
    },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-compaction-crash-'));
  const started = Date.now();
  const result = await runCompactionCrash({
    rounds: Number(values.rounds),
    writers: Number(values.writers),
    minMs: Number(values['min-ms']),
    maxMs: Number(values['max-ms']),
    dir,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ ...result, queryErrors: result.queryErrors.slice(0, 10), seconds: Math.round((Date.now() - started) / 1000), dir: values.keep ? dir : undefined }, null, 2)}\n`);
  const ok = result.lost === 0 && result.duplicated === 0 && result.badFiles.length === 0 && result.queryErrors.length === 0;
  process.stdout.write(ok ? 'OK: 0 lost, 0 duplicated, no query failed or double-counted\n' : 'FAILED\n');
  process.exitCode = ok ? 0 : 1;
}

/**
 * What compaction buys and costs, on this machine, in one run:
 *
 *   node dist/bench/compaction-bench.js [--duration 60] [--iterations 5] [--ingest-seconds 20] [--dir /tmp/arc-cbench] [--keep]
 *
 * 1. A fresh server (auth off, compaction schedules parked) takes `--duration` seconds of `arc bench
 *    --unique` load (realistic data: no two records share a time, values do not recur) into closed
 *    past hours, then flushes.
 * 2. Files and bytes per measurement; five queries over `cpu`, raw DuckDB on the same files and
 *    through arc-ts (JSON), medians of `--iterations` interleaved runs.
 * 3. Ingest alone (a plain `arc bench` into another database), then the same while a forced hourly
 *    compaction runs (server and merge-process RSS sampled every 100 ms), then alone again.
 * 4. Files, bytes and the same queries after compaction; compaction rows/s from its job history.
 * 5. The sort key question: the compacted rows of `cpu` rewritten sorted by `time` only (same
 *    compression and row groups), the same five queries raw over both layouts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import duckdbApi from '@duckdb/node-api';
import { request } from 'undici';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const { DuckDBInstance } = duckdbApi;
const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');
const DATABASE = 'cbench';

const QUERIES: Array<{ name: string; sql: string }> = [
  { name: 'host = server042, last 10', sql: "SELECT * FROM cpu WHERE host = 'server042' ORDER BY time DESC LIMIT 10" },
  { name: 'max(time)', sql: 'SELECT max(time) AS t FROM cpu' },
  { name: 'count(*)', sql: 'SELECT count(*) AS n FROM cpu' },
  { name: '1 min time_bucket avg', sql: "SELECT time_bucket(INTERVAL '1 minute', time) AS b, avg(value) AS v FROM cpu GROUP BY b ORDER BY b" },
  { name: 'GROUP BY host', sql: 'SELECT host, avg(value) AS v, max(cpu_user) AS u, count(*) AS n FROM cpu GROUP BY host ORDER BY host' },
];

interface Options {
  duration: number;
  iterations: number;
  ingestSeconds: number;
  dir: string;
  keep: boolean;
  port: number;
}

function parse(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      iterations: { type: 'string', default: '5' },
      'ingest-seconds': { type: 'string', default: '20' },
      dir: { type: 'string', default: path.join(os.tmpdir(), 'arc-cbench') },
      port: { type: 'string', default: '8019' },
      keep: { type: 'boolean', default: false },
    },
  });
  return {
    duration: Number(values.duration),
    iterations: Number(values.iterations),
    ingestSeconds: Number(values['ingest-seconds']),
    dir: path.resolve(values.dir!),
    keep: values.keep!,
    port: Number(values.port),
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const options = parse();
  fs.rmSync(options.dir, { recursive: true, force: true });
  fs.mkdirSync(options.dir, { recursive: true });
  const url = `http://127.0.0.1:${options.port}`;
  const server = await startServer(options, url);
  const out: string[] = [];
  const say = (line: string) => {
    out.push(line);
    process.stdout.write(`${line}\n`);
  };
  try {
    say(`# compaction bench ${new Date().toISOString()} — ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.versions.node}`);
    log(`loading ${options.duration} s of unique records...`);
    const load = await runBench(['--unique', '--time-offset', '7200', '--duration', String(options.duration), '--database', DATABASE, '--workers', '8'], options);
    say(`load: ${Math.round(load.records).toLocaleString('en-US')} records in ${options.duration} s (${Math.round(load.records_per_sec).toLocaleString('en-US')} rec/s)`);
    await post(`${url}/api/v1/write/flush`);

    const before = storageOf(options.dir);
    say(`before: ${describe(before)}`);
    const beforeTimes = await timeQueries(url, filesOf(options.dir, 'cpu'), options.iterations);

    log('ingest alone...');
    const idle1 = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_idle'], options);
    log('compacting under ingest...');
    const sampler = new RssSampler(server.pid!);
    const compactStart = performance.now();
    const trigger = post(`${url}/api/v1/compaction/trigger?force=true&tier=hourly&database=${DATABASE}`);
    const busy = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_busy'], options);
    const busyEndedAt = performance.now();
    await trigger;
    await waitIdle(url);
    const compactSeconds = (performance.now() - compactStart) / 1000;
    sampler.stop();
    log('ingest alone again...');
    const idle2 = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_idle2'], options);

    // Every record of the load is in closed hours, so the forced cycle rewrites all of them once.
    const stats = (await getJson(`${url}/api/v1/compaction/stats`)) as { total_jobs_completed: number; total_jobs_failed: number; total_rows_deduplicated: number };
    const rowsIn = load.records;
    const after = storageOf(options.dir);
    say(`after: ${describe(after)}`);
    say(
      `compaction: ${stats.total_jobs_completed} jobs (${stats.total_jobs_failed} failed), ${rowsIn.toLocaleString('en-US')} rows, ${stats.total_rows_deduplicated} deduplicated, ` +
        `wall ${compactSeconds.toFixed(1)} s (${Math.round(rowsIn / compactSeconds).toLocaleString('en-US')} rows/s) under ingest, ` +
        `peak RSS server ${mb(sampler.peakServer)} MB, merge processes ${mb(sampler.peakChildren)} MB`,
    );
    const overlap = Math.min(1, compactSeconds / ((busyEndedAt - compactStart) / 1000));
    const baseline = (idle1.records_per_sec + idle2.records_per_sec) / 2;
    say(
      `ingest: alone ${Math.round(idle1.records_per_sec).toLocaleString('en-US')} / ${Math.round(idle2.records_per_sec).toLocaleString('en-US')} rec/s (before/after), ` +
        `while compacting ${Math.round(busy.records_per_sec).toLocaleString('en-US')} rec/s = ${(busy.records_per_sec / baseline).toFixed(2)}× ` +
        `(compaction covered ${(overlap * 100).toFixed(0)} % of that run); p99 alone ${idle1.latency_ms.p99} / ${idle2.latency_ms.p99} ms, compacting ${busy.latency_ms.p99} ms`,
    );
    const afterTimes = await timeQueries(url, filesOf(options.dir, 'cpu'), options.iterations);
    say('');
    say('| query | raw DuckDB before | raw DuckDB after | arc-ts before | arc-ts after |');
    say('|---|---:|---:|---:|---:|');
    for (const query of QUERIES) {
      const b = beforeTimes.get(query.name)!;
      const a = afterTimes.get(query.name)!;
      say(`| ${query.name} | ${b.raw.toFixed(1)} | ${a.raw.toFixed(1)} | ${b.arc.toFixed(1)} | ${a.arc.toFixed(1)} |`);
    }

    log('sort key comparison...');
    const sorted = await sortKeyComparison(options, filesOf(options.dir, 'cpu'));
    say('');
    say('| query (raw DuckDB, compacted cpu) | sorted host,time | sorted time |');
    say('|---|---:|---:|');
    for (const query of QUERIES) say(`| ${query.name} | ${sorted.tags.get(query.name)!.toFixed(1)} | ${sorted.time.get(query.name)!.toFixed(1)} |`);
    say(`bytes: host,time ${mb(sorted.tagsBytes)} MB, time ${mb(sorted.timeBytes)} MB`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    fs.writeFileSync(path.join(os.tmpdir(), 'arc-cbench-last.txt'), `${out.join('\n')}\n`);
    if (!options.keep) fs.rmSync(options.dir, { recursive: true, force: true });
  }
}

async function startServer(options: Options, url: string): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ARC_SERVER_HOST: '127.0.0.1',
    ARC_SERVER_PORT: String(options.port),
    ARC_STORAGE_LOCAL_PATH: options.dir,
    ARC_AUTH_ENABLED: 'false',
    ARC_COMPACTION_TEMP_DIRECTORY: path.join(options.dir, '_compaction_tmp'),
    // Parked: only the forced trigger of step 3 compacts.
    ARC_COMPACTION_HOURLY_SCHEDULE: '0 0 1 1 *',
    ARC_COMPACTION_DAILY_SCHEDULE: '0 0 1 1 *',
  };
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC, 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      const res = await request(`${url}/ready`);
      await res.body.dump();
      if (res.statusCode === 200) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server did not get ready: ${stderr}`);
}

interface BenchJson {
  records: number;
  records_per_sec: number;
  latency_ms: { p50: number; p99: number };
}

async function runBench(args: string[], options: Options): Promise<BenchJson> {
  const json = path.join(os.tmpdir(), `arc-cbench-${process.pid}-${Date.now()}.json`);
  const child = spawn(process.execPath, [ARC, 'bench', '--quiet', '--url', `http://127.0.0.1:${options.port}`, '--data', options.dir, '--json', json, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`arc bench ${args.join(' ')} exited ${code}`);
  const report = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchJson;
  fs.rmSync(json, { force: true });
  return report;
}

async function post(target: string): Promise<unknown> {
  const res = await request(target, { method: 'POST' });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`POST ${target}: ${res.statusCode} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function getJson(target: string): Promise<unknown> {
  const res = await request(target);
  return JSON.parse(await res.body.text());
}

async function waitIdle(url: string): Promise<void> {
  for (;;) {
    const status = (await getJson(`${url}/api/v1/compaction/status`)) as { cycle_running: boolean; queued_cycles: number };
    if (!status.cycle_running && status.queued_cycles === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Storage {
  files: number;
  bytes: number;
  byMeasurement: Map<string, { files: number; bytes: number }>;
}

function storageOf(root: string): Storage {
  const storage: Storage = { files: 0, bytes: 0, byMeasurement: new Map() };
  const base = path.join(root, DATABASE);
  for (const measurement of fs.readdirSync(base)) {
    const files = filesOf(root, measurement);
    const bytes = files.reduce((n, file) => n + fs.statSync(file).size, 0);
    storage.byMeasurement.set(measurement, { files: files.length, bytes });
    storage.files += files.length;
    storage.bytes += bytes;
  }
  return storage;
}

function filesOf(root: string, measurement: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.parquet') && !entry.name.startsWith('.') && !entry.name.startsWith('_')) out.push(full);
    }
  };
  walk(path.join(root, DATABASE, measurement));
  return out.sort();
}

function describe(storage: Storage): string {
  const parts = [...storage.byMeasurement].map(([m, s]) => `${m} ${s.files} files ${mb(s.bytes)} MB`);
  return `${storage.files} files, ${mb(storage.bytes)} MB (${parts.join('; ')})`;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Raw DuckDB (one thread, as the server's default query.threads on two cores) and arc-ts JSON, interleaved. */
async function timeQueries(url: string, files: string[], iterations: number): Promise<Map<string, { raw: number; arc: number }>> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  const list = `[${files.map((file) => `'${file.replace(/'/g, "''")}'`).join(', ')}]`;
  await connection.run(`CREATE VIEW cpu AS SELECT * FROM read_parquet(${list}, union_by_name = true)`);
  const results = new Map<string, { raw: number; arc: number }>();
  try {
    for (const query of QUERIES) {
      const raw: number[] = [];
      const arc: number[] = [];
      const runRaw = async () => {
        const started = performance.now();
        await connection.runAndReadAll(query.sql);
        return performance.now() - started;
      };
      const runArc = async () => {
        const started = performance.now();
        const res = await request(`${url}/api/v1/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-arc-database': DATABASE },
          body: JSON.stringify({ sql: query.sql }),
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${query.name}: ${res.statusCode} ${text.slice(0, 300)}`);
        return performance.now() - started;
      };
      await runRaw();
      await runArc();
      for (let i = 0; i < iterations; i++) {
        if (i % 2 === 0) raw.push(await runRaw()), arc.push(await runArc());
        else arc.push(await runArc()), raw.push(await runRaw());
      }
      results.set(query.name, { raw: median(raw), arc: median(arc) });
      log(`  ${query.name}: raw ${median(raw).toFixed(1)} ms, arc-ts ${median(arc).toFixed(1)} ms`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return results;
}

async function sortKeyComparison(options: Options, compacted: string[]) {
  const scratch = path.join(options.dir, '_sortkey');
  fs.mkdirSync(scratch, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  const timeSorted: string[] = [];
  try {
    // One output per compacted file, as compaction writes them, sorted by time alone.
    for (const [i, file] of compacted.entries()) {
      const target = path.join(scratch, `time_${i}.parquet`);
      await connection.run(
        `COPY (SELECT * FROM read_parquet('${file.replace(/'/g, "''")}') ORDER BY time) TO '${target}' (FORMAT PARQUET, COMPRESSION ZSTD, COMPRESSION_LEVEL 3, ROW_GROUP_SIZE 122880)`,
      );
      timeSorted.push(target);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const timeRaw = async (files: string[]) => {
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const c = await db.connect();
    const list = `[${files.map((file) => `'${file.replace(/'/g, "''")}'`).join(', ')}]`;
    await c.run(`CREATE VIEW cpu AS SELECT * FROM read_parquet(${list}, union_by_name = true)`);
    const out = new Map<string, number>();
    for (const query of QUERIES) {
      await c.runAndReadAll(query.sql);
      const times: number[] = [];
      for (let i = 0; i < options.iterations; i++) {
        const started = performance.now();
        await c.runAndReadAll(query.sql);
        times.push(performance.now() - started);
      }
      out.set(query.name, median(times));
    }
    c.closeSync();
    db.closeSync();
    return out;
  };
  const bytes = (files: string[]) => files.reduce((n, file) => n + fs.statSync(file).size, 0);
  return { tags: await timeRaw(compacted), time: await timeRaw(timeSorted), tagsBytes: bytes(compacted), timeBytes: bytes(timeSorted) };
}

/** Peak RSS of the server and, summed, of its child processes (the merge processes). */
class RssSampler {
  peakServer = 0;
  peakChildren = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 100);
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
  private sample(): void {
    this.peakServer = Math.max(this.peakServer, rssOf(this.pid));
    let children = 0;
    for (const child of childrenOf(this.pid)) children += rssOf(child);
    this.peakChildren = Math.max(this.peakChildren, children);
  }
}

function rssOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

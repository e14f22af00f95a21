/**
 * What row delete and retention cost, on this machine, in one run (issue #14):
 *
 *   node dist/bench/lifecycle-throughput.js [--rows 10000000] [--ingest-seconds 20] [--dir /tmp/arc-lbench] [--port 8021] [--keep]
 *   node dist/bench/lifecycle-throughput.js --smoke        # tiny: 20,000 rows, 2 s of ingest (proves the script works)
 *
 * 1. A fresh server (auth off, compaction parked, delete enabled) takes a day of `arc bench`-shaped
 *    cpu data (1000 hosts, columnar msgpack, 2024-01-01 UTC), then flushes.
 * 2. Ingest alone: `arc bench` into another database for `--ingest-seconds`.
 * 3. A row delete of one host over the whole day (every hour file is rewritten) while the same
 *    ingest runs: rows deleted, rows rewritten (kept rows written again) per second, ingest rate.
 * 4. A retention run whose cutoff falls mid-day (whole files before it deleted, the boundary hour
 *    rewritten) while the same ingest runs: rows removed per second, ingest rate.
 * 5. Ingest alone again. The report is printed and kept in /tmp/arc-lbench-last.txt.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { columnarPayload, Random } from '../src/cli/bench/payloads.js';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');
const DATABASE = 'lbench';
const DAY_START = Date.UTC(2024, 0, 1);
const DAY_MS = 86_400_000;
const LOAD_BATCH = 10_000;

interface Options {
  rows: number;
  ingestSeconds: number;
  dir: string;
  port: number;
  keep: boolean;
}

function parse(): Options {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000000' },
      'ingest-seconds': { type: 'string', default: '20' },
      dir: { type: 'string', default: path.join(os.tmpdir(), 'arc-lbench') },
      port: { type: 'string', default: '8021' },
      keep: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
    },
  });
  return {
    rows: values.smoke ? 20_000 : Number(values.rows),
    ingestSeconds: values.smoke ? 2 : Number(values['ingest-seconds']),
    dir: path.resolve(values.dir!),
    port: Number(values.port),
    keep: values.keep!,
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const n = (value: number) => Math.round(value).toLocaleString('en-US');

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
    say(`# lifecycle bench ${new Date().toISOString()} — ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.versions.node}`);
    log(`loading ${n(options.rows)} rows (one day of cpu, 1000 hosts)...`);
    const loadStarted = performance.now();
    await load(url, options.rows);
    await post(`${url}/api/v1/write/flush`);
    say(`load: ${n(options.rows)} rows in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s; ${describe(storageOf(path.join(options.dir, DATABASE, 'cpu')))}`);

    log('ingest alone...');
    const idle1 = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_idle'], options);

    log('row delete under ingest...');
    const before = await count(url, 'true');
    const host = await count(url, "host = 'server042'");
    const deleteStarted = performance.now();
    const deleting = postJson(`${url}/api/v1/delete`, { database: DATABASE, measurement: 'cpu', where: "host = 'server042'", confirm: true });
    const busyDelete = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_delete'], options);
    const deleted = (await deleting) as { deleted_count: number; rewritten_files: number; affected_files: number; execution_time_ms: number };
    const deleteSeconds = (performance.now() - deleteStarted) / 1000;
    const deleteTook = Math.max(deleted.execution_time_ms, 1) / 1000;
    if (deleted.deleted_count !== host) throw new Error(`the delete removed ${deleted.deleted_count} rows, the query counted ${host}`);
    // With the full data set every hour file holds rows of the host, so every kept row is written again.
    const files = storageOf(path.join(options.dir, DATABASE, 'cpu')).files;
    const rewritten = deleted.affected_files === files ? `${n(before - host)} kept rows rewritten` : `${deleted.affected_files} of ${files} files rewritten`;
    say(
      `delete host = 'server042': ${n(deleted.deleted_count)} rows deleted from ${deleted.affected_files} files, ${rewritten}, ${n(before)} rows scanned, ` +
        `in ${deleteTook.toFixed(2)} s = ${n(before / deleteTook)} rows/s (request ${deleteSeconds.toFixed(1)} s incl. waiting for the ingest run)`,
    );

    log('retention under ingest...');
    // The cutoff lands inside the day, at the wall clock's time of day (whole hours before it go, its hour is rewritten).
    const days = Math.floor((Date.now() - DAY_START) / DAY_MS);
    const policy = (await postJson(`${url}/api/v1/retention`, { name: 'bench', database: DATABASE, measurement: 'cpu', retention_days: days, buffer_days: 0, is_active: true })) as { id: number };
    const kept = before - host;
    const retentionStarted = performance.now();
    const retaining = postJson(`${url}/api/v1/retention/${policy.id}/execute`, { confirm: true });
    const busyRetention = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_retention'], options);
    const retained = (await retaining) as { deleted_count: number; files_deleted: number; files_rewritten: number; execution_time_ms: number; cutoff_date: string };
    const retentionSeconds = (performance.now() - retentionStarted) / 1000;
    const left = await count(url, 'true');
    if (left !== kept - retained.deleted_count) throw new Error(`retention: ${left} rows left, expected ${kept - retained.deleted_count}`);
    const retentionTook = retained.execution_time_ms / 1000;
    say(
      `retention cutoff ${retained.cutoff_date}: ${n(retained.deleted_count)} rows removed (${retained.files_deleted} files deleted whole, ${retained.files_rewritten} rewritten) ` +
        `in ${retentionTook.toFixed(2)} s = ${n(retained.deleted_count / Math.max(retentionTook, 0.001))} rows/s removed; ${n(left)} rows left (request ${retentionSeconds.toFixed(1)} s)`,
    );

    log('ingest alone again...');
    const idle2 = await runBench(['--duration', String(options.ingestSeconds), '--database', 'ingest_idle2'], options);
    const baseline = (idle1.records_per_sec + idle2.records_per_sec) / 2;
    const share = (busy: BenchJson) => `${n(busy.records_per_sec)} rec/s = ${(busy.records_per_sec / baseline).toFixed(2)}×, p99 ${busy.latency_ms.p99} ms`;
    say(`ingest alone: ${n(idle1.records_per_sec)} / ${n(idle2.records_per_sec)} rec/s (before/after), p99 ${idle1.latency_ms.p99} / ${idle2.latency_ms.p99} ms`);
    say(`ingest while deleting: ${share(busyDelete)} (the delete covered ${Math.min(100, (deleteTook / options.ingestSeconds) * 100).toFixed(0)} % of that run)`);
    say(`ingest while retention runs: ${share(busyRetention)} (the run covered ${Math.min(100, (retentionTook / options.ingestSeconds) * 100).toFixed(0)} % of that run)`);
    say(`after: ${describe(storageOf(path.join(options.dir, DATABASE, 'cpu')))}`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    fs.writeFileSync(path.join(os.tmpdir(), 'arc-lbench-last.txt'), `${out.join('\n')}\n`);
    if (!options.keep) fs.rmSync(options.dir, { recursive: true, force: true });
  }
}

/** A day of cpu rows, evenly spaced, as the query bench loads them (two senders). */
async function load(url: string, rows: number): Promise<void> {
  const random = new Random(0x0c0ffee);
  const step = Math.max(1, Math.floor((DAY_MS * 1000) / rows));
  let sent = 0;
  const sender = async () => {
    while (sent < rows) {
      const count = Math.min(LOAD_BATCH, rows - sent);
      const body = columnarPayload('cpu', count, DAY_START * 1000 + sent * step, step, random, ['host']);
      sent += count;
      const res = await request(`${url}/api/v1/write/msgpack`, { method: 'POST', body, headers: { 'content-type': 'application/msgpack', 'x-arc-database': DATABASE } });
      const text = await res.body.text();
      if (res.statusCode === 503) {
        sent -= count;
        await new Promise((resolve) => setTimeout(resolve, 200));
      } else if (res.statusCode !== 204) {
        throw new Error(`load: ${res.statusCode} ${text}`);
      }
    }
  };
  await Promise.all([sender(), sender()]);
}

async function startServer(options: Options, url: string): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ARC_SERVER_HOST: '127.0.0.1',
    ARC_SERVER_PORT: String(options.port),
    ARC_STORAGE_LOCAL_PATH: options.dir,
    ARC_AUTH_ENABLED: 'false',
    ARC_DELETE_ENABLED: 'true',
    ARC_DELETE_MAX_ROWS_PER_DELETE: '1000000000',
    ARC_COMPACTION_TEMP_DIRECTORY: path.join(options.dir, '_compaction_tmp'),
    ARC_COMPACTION_HOURLY_SCHEDULE: '0 0 1 1 *',
    ARC_COMPACTION_DAILY_SCHEDULE: '0 0 1 1 *',
    ARC_SCHEDULER_RETENTION_SCHEDULE: '0 0 1 1 *',
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
  const json = path.join(os.tmpdir(), `arc-lbench-${process.pid}-${Date.now()}.json`);
  const child = spawn(process.execPath, [ARC, 'bench', '--quiet', '--url', `http://127.0.0.1:${options.port}`, '--data', options.dir, '--json', json, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`arc bench ${args.join(' ')} exited ${code}`);
  const report = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchJson;
  fs.rmSync(json, { force: true });
  return report;
}

async function post(target: string): Promise<void> {
  const res = await request(target, { method: 'POST' });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`POST ${target}: ${res.statusCode} ${text}`);
}

async function postJson(target: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await request(target, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`POST ${target}: ${res.statusCode} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function count(url: string, where: string): Promise<number> {
  const body = (await postJson(`${url}/api/v1/query`, { sql: `SELECT count(*) AS n FROM ${DATABASE}.cpu WHERE ${where}` })) as { data: number[][] };
  return Number(body.data[0]?.[0] ?? 0); // no file left: no row
}

function storageOf(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  if (!fs.existsSync(dir)) return { files, bytes };
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.parquet') || entry.name.startsWith('.')) continue;
    files++;
    bytes += fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return { files, bytes };
}

function describe(storage: { files: number; bytes: number }): string {
  return `${storage.files} files, ${(storage.bytes / 1048576).toFixed(1)} MB`;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});

/**
 * Bulk import of big files in bounded memory (issue #15): generates a CSV file and a Parquet file
 * of about --size-mb each, imports each with `arc import` into a fresh server, and reports the
 * server's peak resident memory (VmHWM of /proc/PID/status, and VmRSS sampled every 100 ms), the
 * import time, and whether the stored rows equal the file's rows (DuckDB counts both).
 *
 *   node dist/bench/import-big.js [--size-mb 1024] [--format csv,parquet] [--wal] [--dir DIR] [--keep]
 *
 * The server runs with its defaults (auth off, one flush worker per spare core); --wal turns the
 * write-ahead log on. Generated files are reused from --dir when they exist with the right size.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import duckdbApi from '@duckdb/node-api';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');
const BASE_MS = Date.UTC(2025, 0, 1);

interface RunResult {
  format: string;
  fileBytes: number;
  fileRows: number;
  storedRows: number;
  seconds: number;
  peakRssMb: number;
  hwmBeforeMb: number;
  hwmAfterMb: number;
  baselineRssMb: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1024' },
      format: { type: 'string', default: 'csv,parquet' },
      wal: { type: 'boolean', default: false },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const sizeBytes = Number(values['size-mb']) * 1024 * 1024;
  if (!(sizeBytes > 0)) throw new Error('--size-mb must be a positive number');
  const dir = path.resolve(values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'arc-import-big-')));
  fs.mkdirSync(dir, { recursive: true });
  const duck = await duckdbApi.DuckDBInstance.create(':memory:', { threads: '2' });
  const db = await duck.connect();
  const results: RunResult[] = [];
  for (const format of values.format!.split(',')) {
    if (format !== 'csv' && format !== 'parquet') throw new Error(`--format: csv or parquet, not ${format}`);
    const file = path.join(dir, `big-${values['size-mb']}mb.${format}`);
    if (!fs.existsSync(file)) {
      process.stderr.write(`generating ${file}...\n`);
      if (format === 'csv') await generateCsv(file, sizeBytes);
      else await generateParquet(db, file, sizeBytes);
    }
    const fileRows = Number(
      (await db.runAndReadAll(format === 'csv' ? `SELECT count(*) AS n FROM read_csv('${file}', header = true)` : `SELECT num_rows AS n FROM parquet_file_metadata('${file}')`)).getRowObjects()[0]!.n,
    );
    results.push(await importOnce(format, file, fileRows, path.join(dir, `server-${format}`), values.wal!));
  }
  db.closeSync();
  duck.closeSync();
  const lines = ['format   file MB      rows    stored  import s   rows/s   baseline RSS MB  peak RSS MB (VmHWM)'];
  for (const r of results) {
    lines.push(
      `${r.format.padEnd(8)} ${(r.fileBytes / 2 ** 20).toFixed(0).padStart(7)} ${String(r.fileRows).padStart(9)} ${String(r.storedRows).padStart(9)} ${r.seconds.toFixed(1).padStart(9)} ${Math.round(r.fileRows / r.seconds).toString().padStart(8)} ${r.baselineRssMb.toFixed(0).padStart(17)} ${r.hwmAfterMb.toFixed(0).padStart(12)} ${r.storedRows === r.fileRows ? '' : ' ROWS DIFFER'}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(results)}\n`);
  if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  if (results.some((r) => r.storedRows !== r.fileRows)) process.exitCode = 1;
}

/** A CSV of about `bytes` bytes: time (epoch ms), host, region, usage, count, ok; written with back-pressure. */
async function generateCsv(file: string, bytes: number): Promise<void> {
  const out = fs.createWriteStream(file);
  let written = 0;
  const write = (text: string) => new Promise<void>((resolve) => (out.write(text) ? resolve() : out.once('drain', resolve)));
  await write('time,host,region,usage,count,ok\n');
  let i = 0;
  while (written < bytes) {
    let block = '';
    for (let k = 0; k < 10_000; k++, i++) block += `${BASE_MS + i},host-${i % 1000},region-${i % 7},${((i * 7919) % 100_000) / 1000},${i},${i % 2 === 0}\n`;
    written += block.length;
    await write(block);
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** A Parquet file of about `bytes` bytes (random values, so it does not compress away), 122,880-row groups. */
async function generateParquet(db: duckdbApi.DuckDBConnection, file: string, bytes: number): Promise<void> {
  const select = (rows: number) =>
    `SELECT TIMESTAMP '2025-01-01' + INTERVAL (i) MILLISECOND AS time, 'host-' || (i % 1000) AS host, random() AS usage, random() * 100 AS temp,
            (random() * 1e9)::BIGINT AS counter, i % 2 = 0 AS ok FROM range(${rows}) t(i)`;
  const probe = `${file}.probe`;
  await db.run(`COPY (${select(1_000_000)}) TO '${probe}' (FORMAT parquet, ROW_GROUP_SIZE 122880)`);
  const perRow = fs.statSync(probe).size / 1_000_000;
  fs.rmSync(probe);
  await db.run(`COPY (${select(Math.ceil(bytes / perRow))}) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 122880)`);
}

async function importOnce(format: string, file: string, fileRows: number, root: string, wal: boolean): Promise<RunResult> {
  fs.rmSync(root, { recursive: true, force: true });
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    ARC_SERVER_HOST: '127.0.0.1',
    ARC_SERVER_PORT: '0',
    ARC_STORAGE_LOCAL_PATH: path.join(root, 'data'),
    ARC_AUTH_ENABLED: 'false',
    ARC_LOG_FORMAT: 'json',
    ARC_IMPORT_MAX_FILE_SIZE: '100GB',
    ...(wal ? { ARC_WAL_ENABLED: 'true', ARC_WAL_DIRECTORY: path.join(root, 'wal') } : {}),
    // The caller's ARC_*, NODE_OPTIONS and MALLOC_* settings reach the server, for memory experiments.
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^(ARC_|NODE_OPTIONS$|MALLOC_)/.test(e[0]) && e[1] !== undefined)),
  };
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC, 'serve'], { env, cwd: root.replace(/[^/]+$/, ''), stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('arc-ts listening'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${output}`)));
  });
  const pid = child.pid!;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const baselineRssMb = status(pid, 'VmRSS');
  const hwmBeforeMb = status(pid, 'VmHWM');
  let peakRssMb = baselineRssMb;
  const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, status(pid, 'VmRSS'))), 100);
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const cli = spawn(process.execPath, [ARC, 'import', file, '--url', url, '--measurement', 'big', '--db', 'bench'], { stdio: ['ignore', 'inherit', 'inherit'] });
    cli.once('exit', resolve);
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const hwmAfterMb = status(pid, 'VmHWM');
  if (code !== 0) throw new Error(`arc import exited with ${code}`);
  await fetch(`${url}/api/v1/write/flush`, { method: 'POST' });
  const answer = (await (await fetch(`${url}/api/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'SELECT count(*) FROM bench.big' }) })).json()) as { data: number[][] };
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return { format, fileBytes: fs.statSync(file).size, fileRows, storedRows: answer.data[0]![0]!, seconds, peakRssMb, hwmBeforeMb, hwmAfterMb, baselineRssMb };
}

/** A /proc/PID/status memory line in MB. */
function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) / 1024 : 0;
}

await main();

/**
 * A/B benchmark of two server configurations on this machine, in one run: for each round, a fresh
 * server per configuration (A, then B, alternating so drift hits both), `arc bench` against it,
 * then medians and B/A ratios. This is how docs/benchmarks.md compares options.
 *
 *   node dist/bench/ab.js --a ARC_INGEST_PARQUET_WRITER=native --b ARC_INGEST_PARQUET_WRITER=duckdb \
 *     --rounds 3 -- --duration 20 --workers 3
 *
 * --a/--b take comma-separated KEY=VALUE environment settings (empty for defaults); everything
 * after `--` goes to `arc bench`. Each server gets a fresh data directory and token store under
 * /tmp, with a bootstrap admin token the bench sends, so `--a ARC_AUTH_ENABLED=false` compares auth
 * off with the default.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchReport } from '../src/cli/bench/report.js';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');

const split = process.argv.indexOf('--');
const { values } = parseArgs({
  args: process.argv.slice(2, split < 0 ? undefined : split),
  options: { a: { type: 'string', default: '' }, b: { type: 'string', default: '' }, rounds: { type: 'string', default: '3' }, label: { type: 'string', default: '' } },
});
const benchArgs = split < 0 ? [] : process.argv.slice(split + 1);
const rounds = Number(values.rounds);

function envOf(spec: string): Record<string, string> {
  return Object.fromEntries(spec.split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]));
}

async function runOne(settings: Record<string, string>, json: string): Promise<BenchReport> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-ab-'));
  const root = path.join(scratch, 'arc');
  const token = crypto.randomBytes(32).toString('base64url');
  const server = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC, 'serve'], {
    env: {
      ...process.env,
      ARC_SERVER_HOST: '127.0.0.1',
      ARC_SERVER_PORT: '0',
      ARC_STORAGE_LOCAL_PATH: root,
      ARC_AUTH_DB_PATH: path.join(scratch, 'arc.db'),
      ARC_WAL_DIRECTORY: path.join(scratch, 'wal'), // used only with ARC_WAL_ENABLED=true
      ARC_AUTH_BOOTSTRAP_TOKEN: token,
      ARC_LOG_FORMAT: 'json',
      ...settings,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The server's stderr holds the bootstrap banner: shown only if something goes wrong.
  let serverStderr = '';
  server.stderr.on('data', (chunk: Buffer) => (serverStderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('arc-ts listening'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    server.once('exit', (code) => reject(new Error(`server exited with ${code}\n${serverStderr}`)));
  });
  const bench = spawn(process.execPath, [ARC, 'bench', '--url', url, '--data', root, `--token=${token}`, '--quiet', '--json', json, ...benchArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => bench.once('exit', resolve));
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  fs.rmSync(scratch, { recursive: true, force: true });
  if (code !== 0) throw new Error(`arc bench exited with ${code}\n${serverStderr}`);
  return JSON.parse(fs.readFileSync(json, 'utf8')) as BenchReport;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-ab-reports-'));
const results: Record<'a' | 'b', BenchReport[]> = { a: [], b: [] };
for (let round = 0; round < rounds; round++) {
  for (const side of ['a', 'b'] as const) {
    process.stderr.write(`round ${round + 1}/${rounds}, ${side.toUpperCase()} (${values[side] || 'defaults'})\n`);
    results[side].push(await runOne(envOf(values[side]!), path.join(out, `${side}-${round}.json`)));
  }
}

const metrics: Array<[string, (r: BenchReport) => number]> = [
  ['records/s', (r) => r.records_per_sec],
  ['p50 ms', (r) => r.latency_ms.p50],
  ['p95 ms', (r) => r.latency_ms.p95],
  ['p99 ms', (r) => r.latency_ms.p99],
  ['server CPU %', (r) => r.server?.cpu_percent ?? 0],
  ['server peak RSS MB', (r) => r.server?.peak_rss_mb ?? 0],
  ['bench CPU %', (r) => r.bench.cpu_percent],
  ['errors', (r) => Object.values(r.errors).reduce((x, y) => x + y, 0)],
];
const lines = [
  `${values.label || 'A/B'}: ${rounds} rounds, arc bench ${benchArgs.join(' ')}`,
  `A = ${values.a || 'defaults'}; B = ${values.b || 'defaults'}; medians (all runs)`,
  `| | A | B | B/A |`,
  `|---|---|---|---|`,
];
for (const [name, get] of metrics) {
  const a = results.a.map(get);
  const b = results.b.map(get);
  const ma = median(a);
  const mb = median(b);
  const runs = (xs: number[]) => xs.map((x) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2))).join(' / ');
  lines.push(`| ${name} | ${fmt(ma)} (${runs(a)}) | ${fmt(mb)} (${runs(b)}) | ${ma === 0 ? 'n/a' : (mb / ma).toFixed(2)} |`);
}
process.stdout.write(`${lines.join('\n')}\nreports: ${out}\n`);

function fmt(x: number): string {
  return x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2);
}

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/config.js';
import { countRowsByMeasurement } from '../../duckdb/row-counts.js';
import { readServerInfo, SERVER_INFO_FILE } from '../../server/arc-server.js';
import { runLoad } from './load-runner.js';
import { makePayload, Random, type BenchCompression, type BenchMode, type Payload } from './payloads.js';
import { ARROW_VARIANTS, BackgroundQueries, formatQueryReport, runQueryBench, type ArrowVariant } from './query-bench.js';
import { LATE_MS } from './open-loop.js';
import { MetricsSampler, ProcessSampler, isLocalProcess, loopDelayBetween, ownCpuPercent, readLoopDelay } from './process-stats.js';
import { formatComparison, formatReport, machineInfo, type BenchReport, type VerifyReport } from './report.js';

export const BENCH_HELP = `usage: arc bench [options]            (also: npm run bench -- [options])
       arc bench --mode query [--rows N] [--iterations N]
       arc bench --compare A.json B.json

Drives a running server with Arc's IoT load (1000-record batches, measurement cpu/mem/disk/net,
host 1 of 1000, value/cpu_idle/cpu_user floats, time in µs) and reports records/s, latency
percentiles, errors, and the CPU and memory both the server and the bench used.

  --mode columnar|row|lp   payload format (default columnar MessagePack)
  --mode query             query benchmark instead: loads a one-day cpu data set (--rows, default
                           10,000,000) into --database (default bench_query) unless it is there, then
                           times COUNT(*), LIMIT 100000, a 1 h time_bucket over the day and GROUP BY
                           host through arc-ts (JSON and Arrow IPC) next to DuckDB itself on the same
                           files, and a full SELECT * over Arrow; --iterations runs per way (default 10)
  --arrow-variants LIST    query mode: also time the full SELECT * over Arrow with each option set of
                           LIST (comma-separated: plain, zstd, lz4, dict, zstd+dict, lz4+dict):
                           rows/s and bytes on the wire per x-arc-arrow-compression/-dictionary
  --query-load SQL         write modes: run SQL back to back on one connection during the run, to see
                           what a heavy query does to write latency (database: --query-database,
                           default bench_query)
  --compress none|gzip|zstd
  --batch-size N           records per request (default 1000)
  --workers N              concurrent keep-alive connections (default 8)
  --duration S             seconds to run (default 10)
  --pregenerate N          distinct payloads built before the clock starts (default 200)
  --unique                 columnar only: every send gets fresh times (a clock 1 µs per record that
                           never repeats) and float values that do not recur, instead of replaying
                           the pregenerated bodies as they are (for compaction and dedup benchmarks)
  --time-offset S          with --unique: the clock starts S seconds before now (default 0); e.g.
                           7200 writes into hours that are already closed, so they can be compacted
  --rate R                 open loop at R records/s: request k is due at k × batch/R s whatever the
                           answers do, latency counts from that scheduled time (queueing in the bench
                           included), and sends that leave more than 2 ms late are counted in the report
  --connect-first          open every connection (one GET /health each) before the clock starts, so
                           the run measures the server with its clients connected; by default
                           connections open as the load needs them, inside the measured time
  --database NAME          x-arc-database (default bench)
  --url URL                server (default: the server recorded in the data directory, else http://127.0.0.1:8000)
  --path PATH              request path (default by mode)
  --token TOKEN            sent as Authorization: Bearer TOKEN (default: ARC_TOKEN); --verify flushes, so admin
  --pid PID                server process to sample (default: from the data directory when local)
  --data DIR               storage root (default storage.local_path of arc.toml / ARC_*)
  --verify                 flush, then count stored rows per measurement against acknowledged records
  --json FILE              also write the report as JSON
  --quiet                  no progress lines
`;

const DEFAULT_PATH: Record<BenchMode, string> = {
  columnar: '/api/v1/write/msgpack',
  row: '/api/v1/write/msgpack',
  lp: '/api/v1/write/line-protocol',
};

export async function bench(argv: string[], version: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      mode: { type: 'string', default: 'columnar' },
      compress: { type: 'string', default: 'none' },
      'batch-size': { type: 'string', default: '1000' },
      workers: { type: 'string', default: '8' },
      duration: { type: 'string', default: '10' },
      pregenerate: { type: 'string', default: '200' },
      'connect-first': { type: 'boolean', default: false },
      rate: { type: 'string' },
      unique: { type: 'boolean', default: false },
      'time-offset': { type: 'string', default: '0' },
      database: { type: 'string' },
      rows: { type: 'string', default: '10000000' },
      iterations: { type: 'string', default: '10' },
      'arrow-variants': { type: 'string', default: '' },
      'query-load': { type: 'string' },
      'query-database': { type: 'string', default: 'bench_query' },
      url: { type: 'string' },
      path: { type: 'string' },
      token: { type: 'string' },
      pid: { type: 'string' },
      data: { type: 'string' },
      verify: { type: 'boolean', default: false },
      json: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  if (values.compare) return compare(argv.filter((a) => !a.startsWith('--')));

  const log = (line: string) => {
    if (!values.quiet) process.stderr.write(`${line}\n`);
  };
  const loaded = loadConfig({}).config;
  const root = path.resolve(values.data ?? loaded.storage.localPath);
  const info = readServerInfo(root);
  const url = values.url ?? info?.url ?? 'http://127.0.0.1:8000';
  const token = values.token ?? process.env.ARC_TOKEN;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

  if (values.mode === 'query') {
    const report = await runQueryBench({
      url,
      headers: auth,
      database: values.database ?? 'bench_query',
      root: serverPidFor(url, info) !== null ? root : null,
      rows: positiveInt('--rows', values.rows!),
      iterations: positiveInt('--iterations', values.iterations!),
      threads: loaded.query.threads,
      arrowVariants: values['arrow-variants']!.split(',').filter((v) => v !== '').map((v) => oneOf('--arrow-variants', v.trim(), ARROW_VARIANTS) as ArrowVariant),
      log,
    });
    process.stdout.write(`${formatQueryReport(report)}\n`);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify({ ...report, version, machine: machineInfo(), started_at: new Date().toISOString() }, null, 2)}\n`);
    return 0;
  }

  const mode: BenchMode = oneOf('--mode', values.mode!, ['columnar', 'row', 'lp'] as const);
  const database = values.database ?? 'bench';
  const compression = oneOf('--compress', values.compress!, ['none', 'gzip', 'zstd'] as const);
  const batchSize = positiveInt('--batch-size', values['batch-size']!);
  const workers = positiveInt('--workers', values.workers!);
  const durationSec = positiveNumber('--duration', values.duration!);
  const pregenerate = positiveInt('--pregenerate', values.pregenerate!);
  const rate = values.rate === undefined ? undefined : positiveNumber('--rate', values.rate);

  const pid = values.pid !== undefined ? positiveInt('--pid', values.pid) : serverPidFor(url, info);
  const headers: Record<string, string> = { 'content-type': mode === 'lp' ? 'text/plain' : 'application/msgpack', 'x-arc-database': database, ...auth };
  log(`generating ${pregenerate} ${mode} payloads of ${batchSize} records...`);
  const random = new Random(0x5eed1234);
  const timeOffsetSec = Number(values['time-offset']);
  if (!Number.isFinite(timeOffsetSec) || timeOffsetSec < 0) throw new Error('--time-offset must be a number of seconds >= 0');
  const unique = values.unique ? { startMicros: Math.round((Date.now() - timeOffsetSec * 1000) * 1000) } : undefined;
  const payloads: Payload[] = Array.from({ length: pregenerate }, () => makePayload(mode, compression as BenchCompression, batchSize, random, unique));

  const before = values.verify ? await countAfterFlush(url, headers, root, database) : null;
  log(`running against ${url} for ${durationSec} s with ${workers} workers${rate ? ` at ${rate} records/s` : ''}`);
  const sampler = pid !== null ? new ProcessSampler(pid) : null;
  const remoteSampler = pid === null ? new MetricsSampler(url, token ? { authorization: `Bearer ${token}` } : {}) : null;
  const background = values['query-load'] ? new BackgroundQueries(url, auth, values['query-database']!, values['query-load']) : null;
  const metricsHeaders: Record<string, string> = token ? { authorization: headers.authorization! } : {};
  const loopBefore = await readLoopDelay(url, metricsHeaders);
  const ownStart = process.cpuUsage();
  const load = await runLoad({
    url,
    path: values.path ?? DEFAULT_PATH[mode],
    payloads,
    workers,
    durationSec,
    rate,
    headers,
    connectFirst: values['connect-first'] === true,
    onSecond: (p) =>
      log(`  ${p.elapsedSec.toFixed(0).padStart(4)} s  ${Math.round(p.recordsLastSecond).toLocaleString('en-US').padStart(12)} records/s   p50 ${p.p50Ms.toFixed(2)} ms   p99 ${p.p99Ms.toFixed(2)} ms   errors ${p.errors}${p.lateSends !== null ? `   late sends ${p.lateSends}` : ''}`),
  });
  const server = sampler?.stop() ?? (await remoteSampler?.stop()) ?? null;
  const benchCpu = ownCpuPercent(ownStart, load.elapsedSec);
  const queryLoad = (await background?.stop()) ?? null;
  const loopAfter = loopBefore ? await readLoopDelay(url, metricsHeaders) : null;

  let verify: VerifyReport | null = null;
  if (before !== null) {
    const after = await countAfterFlush(url, headers, root, database);
    verify = compareCounts(before, after, load.ackedByMeasurement);
  }

  const h = load.histogram;
  const ms = (percentile: number) => h.getValueAtPercentile(percentile) / 1000;
  const report: BenchReport = {
    tool: 'arc bench',
    version,
    started_at: new Date(Date.now() - load.elapsedSec * 1000).toISOString(),
    settings: { url, mode, compression, batch_size: batchSize, workers, duration_s: durationSec, rate: rate ?? null, pregenerated: pregenerate, connect_first: values['connect-first'] === true, unique: values.unique === true, time_offset_s: timeOffsetSec, database },
    machine: machineInfo(),
    elapsed_s: load.elapsedSec,
    records: load.records,
    requests: load.requests,
    records_per_sec: load.records / load.elapsedSec,
    requests_per_sec: load.requests / load.elapsedSec,
    latency_ms: { p50: ms(50), p95: ms(95), p99: ms(99), p999: ms(99.9), max: h.maxValue / 1000, mean: h.mean / 1000 },
    errors: load.errors,
    error_samples: load.errorSamples,
    server: server ? { pid, source: pid !== null ? '/proc' : '/api/v1/metrics', cpu_percent: server.cpuPercent, peak_rss_mb: server.peakRssMb } : null,
    bench: { cpu_percent: benchCpu },
    server_event_loop: loopBefore && loopAfter ? loopDelayBetween(loopBefore, loopAfter) : null,
    open_loop:
      load.schedule && rate
        ? { offered_records_per_sec: rate, scheduled_requests: load.schedule.scheduled, late_sends: load.schedule.late, late_threshold_ms: LATE_MS, max_send_lag_ms: load.schedule.maxLagMs }
        : null,
    verify,
    query_load: queryLoad,
  };
  process.stdout.write(`${formatReport(report)}\n`);
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return verify && !verify.ok ? 1 : 0;
}

/** The pid of the server at `url` when it is the one recorded in the local data directory. */
function serverPidFor(url: string, info: ReturnType<typeof readServerInfo>): number | null {
  if (info === null || !isLocalProcess(info.pid)) return null;
  try {
    return new URL(url).port === String(info.port) ? info.pid : null;
  } catch {
    return null;
  }
}

async function countAfterFlush(url: string, headers: Record<string, string>, root: string, database: string): Promise<Record<string, number>> {
  const response = await fetch(new URL('/api/v1/write/flush', url), { method: 'POST', headers: { authorization: headers.authorization ?? '' } });
  if (!response.ok) throw new Error(`flush before counting failed: ${response.status} ${await response.text()}`);
  if (!fs.existsSync(path.join(root, SERVER_INFO_FILE))) {
    throw new Error(`--verify counts the Parquet files under ${root}, but no server runs there; pass --data`);
  }
  return countRowsByMeasurement(root, database);
}

function compareCounts(before: Record<string, number>, after: Record<string, number>, acked: Record<string, number>): VerifyReport {
  const stored: Record<string, number> = {};
  let lost = 0;
  let duplicated = 0;
  for (const m of new Set([...Object.keys(after), ...Object.keys(acked)])) {
    stored[m] = (after[m] ?? 0) - (before[m] ?? 0);
    const difference = stored[m] - (acked[m] ?? 0);
    if (difference < 0) lost -= difference;
    else duplicated += difference;
  }
  return { stored, acked, lost, duplicated, ok: lost === 0 && duplicated === 0 };
}

function compare(files: string[]): number {
  if (files.length !== 2) throw new Error('usage: arc bench --compare A.json B.json');
  const [a, b] = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as BenchReport) as [BenchReport, BenchReport];
  process.stdout.write(`${formatComparison(a, b, path.basename(files[0]!), path.basename(files[1]!))}\n`);
  return 0;
}

function oneOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new Error(`${flag} must be one of ${choices.join(', ')}; got ${JSON.stringify(value)}`);
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer; got ${JSON.stringify(value)}`);
  return n;
}

function positiveNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${flag} must be a positive number; got ${JSON.stringify(value)}`);
  return n;
}

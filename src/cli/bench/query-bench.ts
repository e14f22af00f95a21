import path from 'node:path';
import duckdbApi from '@duckdb/node-api';
import { CompressionType, tableFromIPC } from 'apache-arrow';
import { compressionRegistry } from 'apache-arrow/ipc/compression/registry';
import { decompressFrameSync } from 'lz4-napi';
import zstd from 'zstd-napi';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { columnarPayload, Random } from './payloads.js';

const { DuckDBInstance, quotedString } = duckdbApi;

/** The day the query data set covers (UTC), fixed so runs and machines compare. */
const DAY_START = Date.UTC(2024, 0, 1);
const DAY_MICROS = 86_400_000_000;
const LOAD_BATCH = 10_000;

export interface QueryBenchOptions {
  url: string;
  headers: Record<string, string>;
  database: string;
  /** Storage root, for the raw DuckDB baseline over the same files; null when the server is remote. */
  root: string | null;
  rows: number;
  iterations: number;
  /** DuckDB threads of the baseline: the server's query.threads, so both get the same CPU. */
  threads: number;
  /** Extra full scans over Arrow with these options (`--arrow-variants`), each timed like the plain one. */
  arrowVariants?: ArrowVariant[];
  log: (line: string) => void;
}

/** An Arrow option set: `plain`, `zstd`, `lz4`, `dict`, `zstd+dict`, `lz4+dict`. */
export type ArrowVariant = 'plain' | 'zstd' | 'lz4' | 'dict' | 'zstd+dict' | 'lz4+dict';
export const ARROW_VARIANTS: readonly ArrowVariant[] = ['plain', 'zstd', 'lz4', 'dict', 'zstd+dict', 'lz4+dict'];

function variantHeaders(variant: ArrowVariant): Record<string, string> {
  const headers: Record<string, string> = {};
  const [first, second] = variant.split('+');
  if (first === 'zstd' || first === 'lz4') headers['x-arc-arrow-compression'] = first;
  if (first === 'dict' || second === 'dict') headers['x-arc-arrow-dictionary'] = 'true';
  return headers;
}

export interface ArrowVariantTiming {
  variant: ArrowVariant;
  headers: Record<string, string>;
  rows: number;
  p50_ms: number;
  p95_ms: number;
  rows_per_sec: number;
  /** Bytes of the response body on the wire. */
  wire_bytes: number;
  /** Wire megabytes per second (what the network carries). */
  mb_per_sec: number;
}

export interface QueryTiming {
  name: string;
  sql: string;
  rows: number;
  /** p50/p95 in ms per way of running it; a way that was not run is absent. */
  duckdb?: Percentiles;
  json?: Percentiles;
  arrow?: Percentiles;
}

export interface Percentiles {
  p50: number;
  p95: number;
  runs: number;
}

export interface QueryBenchReport {
  tool: 'arc bench --mode query';
  database: string;
  rows: number;
  iterations: number;
  loaded: { rows: number; seconds: number } | null;
  threads: number;
  queries: QueryTiming[];
  /** A full `SELECT *` over Arrow IPC, timed to the last byte. */
  arrow_stream: { rows: number; p50_ms: number; rows_per_sec: number; mb_per_sec: number; duckdb_rows_per_sec: number | null } | null;
  /** The full scan once per `--arrow-variants` entry, interleaved. */
  arrow_variants: ArrowVariantTiming[];
}

interface BenchQuery {
  name: string;
  sql: string;
  formats: Array<'json' | 'arrow'>;
}

/** The query set over a one-day, `rows`-row cpu measurement. */
function querySet(): BenchQuery[] {
  const day = new Date(DAY_START).toISOString().slice(0, 10);
  const next = new Date(DAY_START + 86_400_000).toISOString().slice(0, 10);
  return [
    { name: 'count', sql: 'SELECT count(*) AS n FROM cpu', formats: ['json', 'arrow'] },
    { name: 'limit 100k', sql: 'SELECT * FROM cpu LIMIT 100000', formats: ['json', 'arrow'] },
    {
      name: '1h time_bucket, 1 day',
      sql: `SELECT time_bucket(INTERVAL '1 hour', time) AS hour, avg(value) AS avg_value, max(cpu_user) AS max_user, count(*) AS n FROM cpu WHERE time >= '${day}' AND time < '${next}' GROUP BY hour ORDER BY hour`,
      formats: ['json', 'arrow'],
    },
    { name: 'group by host', sql: 'SELECT host, avg(value) AS avg_value, min(cpu_idle) AS min_idle, count(*) AS n FROM cpu GROUP BY host ORDER BY host', formats: ['json', 'arrow'] },
  ];
}

/**
 * `arc bench --mode query`: makes sure the database holds the cpu data set (loading it through the
 * msgpack endpoint when it does not), then times each query through arc-ts (JSON and Arrow IPC,
 * to the last byte) and through a DuckDB of its own over the same Parquet files, interleaved so
 * the machine's drift hits all of them alike.
 */
export async function runQueryBench(options: QueryBenchOptions): Promise<QueryBenchReport> {
  const pool = new Pool(options.url, { connections: 2, keepAliveTimeout: 60_000 });
  try {
    const client = new QueryClient(pool, options.headers, options.database);
    const loaded = await ensureDataSet(pool, client, options);
    const baseline = options.root === null ? null : await RawDuckDb.open(path.join(options.root, options.database, 'cpu'), options.threads);
    if (baseline === null) options.log('the server is not local: no raw DuckDB baseline (pass --data to the storage root)');
    try {
      const queries: QueryTiming[] = [];
      for (const query of querySet()) {
        options.log(`timing "${query.name}" (${options.iterations} runs per way)...`);
        queries.push(await timeQuery(query, client, baseline, options.iterations));
      }
      // The whole measurement over Arrow, next to DuckDB delivering the same rows to its own client.
      const scans = Math.max(3, Math.ceil(options.iterations / 2));
      options.log(`timing a full SELECT * over Arrow IPC (${scans} runs per way)...`);
      const full = await timeQuery({ name: 'SELECT * (whole measurement)', sql: 'SELECT * FROM cpu', formats: ['arrow'] }, client, baseline, scans);
      queries.push(full);
      const bytes = (await client.arrow('SELECT * FROM cpu', false)).bytes;
      const p50 = full.arrow!.p50;
      const variants = options.arrowVariants ?? [];
      if (variants.length > 0) options.log(`timing SELECT * over Arrow with ${variants.join(', ')} (${scans} runs each)...`);
      const arrowVariants = variants.length > 0 ? await timeArrowVariants(client, variants, scans) : [];
      return {
        tool: 'arc bench --mode query',
        database: options.database,
        rows: options.rows,
        iterations: options.iterations,
        loaded,
        threads: options.threads,
        queries,
        arrow_stream: {
          rows: full.rows,
          p50_ms: p50,
          rows_per_sec: full.rows / (p50 / 1000),
          mb_per_sec: bytes / 1e6 / (p50 / 1000),
          duckdb_rows_per_sec: full.duckdb ? full.rows / (full.duckdb.p50 / 1000) : null,
        },
        arrow_variants: arrowVariants,
      };
    } finally {
      baseline?.close();
    }
  } finally {
    await pool.close();
  }
}

/** The full scan with each Arrow option set, interleaved; the warm-up decodes each stream and checks its rows. */
async function timeArrowVariants(client: QueryClient, variants: ArrowVariant[], runs: number): Promise<ArrowVariantTiming[]> {
  compressionRegistry.set(CompressionType.ZSTD, { decode: (b) => zstd.decompress(b) });
  compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: (b) => decompressFrameSync(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) });
  const sql = 'SELECT * FROM cpu';
  const measured = new Map<ArrowVariant, { histogram: Histogram; rows: number; bytes: number }>();
  for (const variant of variants) {
    const { rows, bytes } = await client.arrow(sql, true, variantHeaders(variant));
    measured.set(variant, { histogram: new Histogram(), rows, bytes });
  }
  const rows = measured.get(variants[0]!)!.rows;
  for (const [variant, m] of measured) if (m.rows !== rows) throw new Error(`Arrow ${variant} returned ${m.rows} rows, ${variants[0]} ${rows}`);
  for (let i = 0; i < runs; i++) {
    for (const variant of i % 2 === 0 ? variants : [...variants].reverse()) {
      const started = performance.now();
      await client.arrow(sql, false, variantHeaders(variant));
      measured.get(variant)!.histogram.record(performance.now() - started);
    }
  }
  return variants.map((variant) => {
    const m = measured.get(variant)!;
    const p50 = m.histogram.percentile(50);
    return {
      variant,
      headers: variantHeaders(variant),
      rows: m.rows,
      p50_ms: p50,
      p95_ms: m.histogram.percentile(95),
      rows_per_sec: m.rows / (p50 / 1000),
      wire_bytes: m.bytes,
      mb_per_sec: m.bytes / 1e6 / (p50 / 1000),
    };
  });
}

async function timeQuery(query: BenchQuery, client: QueryClient, baseline: RawDuckDb | null, iterations: number): Promise<QueryTiming> {
  const ways: Array<{ name: 'duckdb' | 'json' | 'arrow'; run: (check: boolean) => Promise<number> }> = [];
  if (baseline) ways.push({ name: 'duckdb', run: () => baseline.rowsOf(query.sql) });
  if (query.formats.includes('json')) ways.push({ name: 'json', run: async (check) => (await client.json(query.sql, check)).rows });
  if (query.formats.includes('arrow')) ways.push({ name: 'arrow', run: async (check) => (await client.arrow(query.sql, check)).rows });
  const histograms = new Map(ways.map((way) => [way.name, new Histogram()]));
  let rows = -1;
  // One warm-up per way (file metadata and OS cache), checked: every way must return the same rows.
  for (const way of ways) {
    const n = await way.run(true);
    if (rows >= 0 && n !== rows) throw new Error(`"${query.name}": ${way.name} returned ${n} rows, another way ${rows}`);
    rows = n;
  }
  for (let i = 0; i < iterations; i++) {
    for (const way of i % 2 === 0 ? ways : [...ways].reverse()) {
      const started = performance.now();
      await way.run(false);
      histograms.get(way.name)!.record(performance.now() - started);
    }
  }
  const timing: QueryTiming = { name: query.name, sql: query.sql, rows };
  for (const [name, histogram] of histograms) timing[name] = { p50: histogram.percentile(50), p95: histogram.percentile(95), runs: iterations };
  return timing;
}

/** Loads the data set unless the database's cpu measurement already holds exactly `rows` rows. */
async function ensureDataSet(pool: Pool, client: QueryClient, options: QueryBenchOptions): Promise<QueryBenchReport['loaded']> {
  const existing = await client.count();
  if (existing === options.rows) {
    options.log(`${options.database}.cpu already holds ${existing.toLocaleString('en-US')} rows`);
    return null;
  }
  if (existing !== 0) {
    throw new Error(`${options.database}.cpu holds ${existing.toLocaleString('en-US')} rows, not ${options.rows.toLocaleString('en-US')}: pass another --database, or the same --rows`);
  }
  options.log(`loading ${options.rows.toLocaleString('en-US')} rows into ${options.database}.cpu (one day, 1000 hosts)...`);
  const started = performance.now();
  const random = new Random(0x0c0ffee);
  const step = Math.max(1, Math.floor(DAY_MICROS / options.rows));
  const headers = { ...options.headers, 'content-type': 'application/msgpack', 'x-arc-database': options.database };
  let sent = 0;
  const sendNext = async (): Promise<void> => {
    while (sent < options.rows) {
      const n = Math.min(LOAD_BATCH, options.rows - sent);
      const body = columnarPayload('cpu', n, DAY_START * 1000 + sent * step, step, random);
      sent += n;
      const response = await pool.request({ path: '/api/v1/write/msgpack', method: 'POST', body, headers });
      const text = await response.body.text();
      if (response.statusCode === 503) {
        sent -= n; // over the memory cap: the server asked us to slow down
        await new Promise((resolve) => setTimeout(resolve, 200));
      } else if (response.statusCode !== 204) {
        throw new Error(`loading failed: ${response.statusCode} ${text}`);
      }
    }
  };
  await Promise.all([sendNext(), sendNext()]);
  const flush = await pool.request({ path: '/api/v1/write/flush', method: 'POST', headers: options.headers });
  const flushText = await flush.body.text();
  if (flush.statusCode !== 200) throw new Error(`flush after loading failed (needs an admin token): ${flush.statusCode} ${flushText}`);
  const seconds = (performance.now() - started) / 1000;
  const stored = await client.count();
  if (stored !== options.rows) throw new Error(`loaded ${options.rows} rows but the server counts ${stored}`);
  options.log(`loaded in ${seconds.toFixed(1)} s`);
  return { rows: stored, seconds };
}

/** Queries through the server, read to the last byte as a client would. */
class QueryClient {
  constructor(
    private readonly pool: Pool,
    private readonly headers: Record<string, string>,
    private readonly database: string,
  ) {}

  async count(): Promise<number> {
    const answer = await this.post('/api/v1/query', 'SELECT count(*) AS n FROM cpu');
    const body = JSON.parse(answer.toString('utf8')) as { data: number[][] };
    return body.data.length === 0 ? 0 : Number(body.data[0]![0]);
  }

  /** `check` parses the body (outside the timing loop) to count its rows; timed runs read it to the end and drop it. */
  async json(sql: string, check: boolean): Promise<{ rows: number }> {
    if (!check) {
      await this.post('/api/v1/query', sql, false);
      return { rows: -1 };
    }
    const parsed = JSON.parse((await this.post('/api/v1/query', sql)).toString('utf8')) as { success: boolean; data: unknown[]; row_count: number };
    if (!parsed.success || parsed.data.length !== parsed.row_count) throw new Error(`bad JSON answer to ${sql}`);
    return { rows: parsed.data.length };
  }

  /** Timed runs read the stream to its end and drop it, as a streaming client would; `check` decodes it. */
  async arrow(sql: string, check: boolean, headers: Record<string, string> = {}): Promise<{ rows: number; bytes: number }> {
    if (!check) return { rows: -1, bytes: await this.post('/api/v1/query/arrow', sql, false, headers) };
    const body = await this.post('/api/v1/query/arrow', sql, true, headers);
    return { rows: tableFromIPC(body).numRows, bytes: body.length };
  }

  private async post(route: string, sql: string, keep?: true, headers?: Record<string, string>): Promise<Buffer>;
  private async post(route: string, sql: string, keep: false, headers?: Record<string, string>): Promise<number>;
  private async post(route: string, sql: string, keep = true, headers: Record<string, string> = {}): Promise<Buffer | number> {
    const response = await this.pool.request({
      path: route,
      method: 'POST',
      headers: { ...this.headers, ...headers, 'content-type': 'application/json', 'x-arc-database': this.database },
      body: JSON.stringify({ sql }),
    });
    if (response.statusCode !== 200) throw new Error(`${route} answered ${response.statusCode}: ${(await response.body.text()).slice(0, 500)}`);
    if (!keep) {
      let bytes = 0;
      for await (const chunk of response.body) bytes += (chunk as Buffer).length;
      return bytes;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

/** The same SQL straight into DuckDB over the measurement's files, every result chunk fetched. */
class RawDuckDb {
  private constructor(
    private readonly instance: duckdbApi.DuckDBInstance,
    private readonly connection: duckdbApi.DuckDBConnection,
    private readonly glob: string,
  ) {}

  static async open(measurementDir: string, threads: number): Promise<RawDuckDb> {
    const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
    const connection = await instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    return new RawDuckDb(instance, connection, path.join(measurementDir, '**', '*.parquet'));
  }

  async rowsOf(sql: string): Promise<number> {
    const result = await this.connection.stream(sql.replace(/\bFROM cpu\b/, `FROM read_parquet(${quotedString(this.glob)}, union_by_name = true)`));
    let rows = 0;
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) rows += chunk.rowCount;
    return rows;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/** Milliseconds, kept to the microsecond. */
class Histogram {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  record(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }
  percentile(p: number): number {
    return this.histogram.getValueAtPercentile(p) / 1000;
  }
}

export function formatQueryReport(report: QueryBenchReport): string {
  const ms = (p?: Percentiles) => (p ? p.p50.toFixed(1) : 'n/a');
  const ratio = (p: Percentiles | undefined, base: Percentiles | undefined) => (p && base ? ` (${(p.p50 / base.p50).toFixed(2)}×)` : '');
  const lines = [
    `query benchmark: ${report.database}.cpu, ${report.rows.toLocaleString('en-US')} rows, ${report.iterations} runs per way, DuckDB threads ${report.threads}`,
    report.loaded ? `loaded ${report.loaded.rows.toLocaleString('en-US')} rows in ${report.loaded.seconds.toFixed(1)} s (${Math.round(report.loaded.rows / report.loaded.seconds).toLocaleString('en-US')} rows/s)` : 'data set already loaded',
    '',
    '| query | rows | raw DuckDB p50 ms | arc-ts JSON p50 ms | arc-ts Arrow p50 ms |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const q of report.queries) {
    lines.push(`| ${q.name} | ${q.rows.toLocaleString('en-US')} | ${ms(q.duckdb)} | ${ms(q.json)}${ratio(q.json, q.duckdb)} | ${ms(q.arrow)}${ratio(q.arrow, q.duckdb)} |`);
  }
  if (report.arrow_stream) {
    const s = report.arrow_stream;
    const raw = s.duckdb_rows_per_sec === null ? '' : `; raw DuckDB delivers the same rows at ${(s.duckdb_rows_per_sec / 1e6).toFixed(2)} M rows/s`;
    lines.push('', `Arrow IPC, SELECT * (${s.rows.toLocaleString('en-US')} rows): p50 ${s.p50_ms.toFixed(0)} ms = ${(s.rows_per_sec / 1e6).toFixed(2)} M rows/s, ${s.mb_per_sec.toFixed(0)} MB/s${raw}`);
  }
  if (report.arrow_variants.length > 0) {
    lines.push('', '| Arrow option | p50 ms | M rows/s | bytes on the wire | wire MB/s |', '|---|---:|---:|---:|---:|');
    for (const v of report.arrow_variants) {
      lines.push(`| ${v.variant} | ${v.p50_ms.toFixed(0)} | ${(v.rows_per_sec / 1e6).toFixed(2)} | ${v.wire_bytes.toLocaleString('en-US')} | ${v.mb_per_sec.toFixed(0)} |`);
    }
  }
  return lines.join('\n');
}

/**
 * `--query-load SQL`: one client running SQL back to back for the length of a write benchmark, so
 * the write latency a heavy query causes shows in the same report.
 */
export class BackgroundQueries {
  private readonly pool: Pool;
  private readonly latencies = new Histogram();
  private completed = 0;
  private readonly failures: string[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(url: string, headers: Record<string, string>, database: string, readonly sql: string) {
    this.pool = new Pool(url, { connections: 1, keepAliveTimeout: 60_000 });
    const client = new QueryClient(this.pool, headers, database);
    this.loop = (async () => {
      while (!this.stopped) {
        const started = performance.now();
        try {
          await client.json(sql, false);
          this.latencies.record(performance.now() - started);
          this.completed++;
        } catch (err) {
          this.failures.push((err as Error).message);
          if (this.failures.length >= 3) return; // a broken query should not spin
        }
      }
    })();
  }

  /** Waits for the query in flight, so the next phase of the benchmark starts on a quiet server. */
  async stop(): Promise<{ sql: string; completed: number; p50_ms: number | null; errors: string[] }> {
    this.stopped = true;
    await this.loop;
    await this.pool.close();
    return { sql: this.sql, completed: this.completed, p50_ms: this.completed > 0 ? this.latencies.percentile(50) : null, errors: this.failures };
  }
}

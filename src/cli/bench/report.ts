import os from 'node:os';

/** The JSON report of one bench run (`--json`); `--compare` reads two of them. */
export interface BenchReport {
  tool: 'arc bench';
  version: string;
  started_at: string;
  settings: {
    url: string;
    mode: string;
    compression: string;
    batch_size: number;
    workers: number;
    duration_s: number;
    rate: number | null;
    pregenerated: number;
    connect_first?: boolean;
    /** --unique: fresh times and values on every send. */
    unique?: boolean;
    time_offset_s?: number;
    database: string;
  };
  machine: { cpus: number; cpu_model: string; node: string; platform: string };
  elapsed_s: number;
  records: number;
  requests: number;
  records_per_sec: number;
  requests_per_sec: number;
  latency_ms: { p50: number; p95: number; p99: number; p999: number; max: number; mean: number };
  errors: Record<string, number>;
  error_samples: string[];
  /** pid is null when the figures come from the server's /api/v1/metrics (not a local process). */
  server: { pid: number | null; source: '/proc' | '/api/v1/metrics'; cpu_percent: number; peak_rss_mb: number } | null;
  bench: { cpu_percent: number };
  /**
   * The server's event-loop delay over the run (the diff of its arc_event_loop_delay_seconds
   * histogram before and after): stalls next to the latencies they cause. Null if it is not exposed.
   */
  server_event_loop: { samples: number; p99_ms: number; max_ms: number } | null;
  /** --rate only: the schedule and how well the bench kept it. Null in closed loop. */
  open_loop: {
    offered_records_per_sec: number;
    scheduled_requests: number;
    /** Requests sent more than late_threshold_ms after their scheduled time (the bench fell behind). */
    late_sends: number;
    late_threshold_ms: number;
    max_send_lag_ms: number;
  } | null;
  verify: VerifyReport | null;
  /** --query-load: the heavy query that ran alongside the writes. */
  query_load?: { sql: string; completed: number; p50_ms: number | null; errors: string[] } | null;
}

export interface VerifyReport {
  /** Rows the run added to storage, per measurement. */
  stored: Record<string, number>;
  acked: Record<string, number>;
  lost: number;
  duplicated: number;
  ok: boolean;
}

export function machineInfo(): BenchReport['machine'] {
  const cpus = os.cpus();
  return { cpus: os.availableParallelism(), cpu_model: cpus[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}` };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function formatReport(report: BenchReport): string {
  const s = report.settings;
  const l = report.latency_ms;
  const lines = [
    `arc bench: ${s.mode}${s.compression !== 'none' ? ` + ${s.compression}` : ''}, ${s.batch_size} records/request, ${s.workers} workers, ${fmt(report.elapsed_s, 1)} s${s.rate ? `, open loop at ${fmt(s.rate)} records/s` : ''}`,
    `  records/s     ${fmt(report.records_per_sec)}   (${fmt(report.records)} records acknowledged)`,
    `  requests/s    ${fmt(report.requests_per_sec)}   (${fmt(report.requests)} requests)`,
    `  latency ms    p50 ${fmt(l.p50, 2)}   p95 ${fmt(l.p95, 2)}   p99 ${fmt(l.p99, 2)}   p99.9 ${fmt(l.p999, 2)}   max ${fmt(l.max, 2)}`,
    `  errors        ${Object.keys(report.errors).length === 0 ? 'none' : Object.entries(report.errors).map(([k, v]) => `${k}: ${fmt(v)}`).join(', ')}`,
  ];
  for (const sample of report.error_samples) lines.push(`                ${sample}`);
  lines.push(
    report.server
      ? `  server        CPU ${fmt(report.server.cpu_percent)}% of one core, peak RSS ${fmt(report.server.peak_rss_mb)} MB (${report.server.pid !== null ? `pid ${report.server.pid}` : 'from /api/v1/metrics'})`
      : '  server        CPU and memory not available (neither a local pid nor /api/v1/metrics)',
    `  bench itself  CPU ${fmt(report.bench.cpu_percent)}% of one core   (machine: ${report.machine.cpus} cores, ${report.machine.cpu_model})`,
  );
  const loop = report.server_event_loop;
  lines.push(loop ? `  event loop    server's delay p99 ${fmt(loop.p99_ms, 2)} ms   max ${fmt(loop.max_ms, 2)} ms   (${fmt(loop.samples)} probes)` : '  event loop    not available (the server does not expose arc_event_loop_delay_seconds)');
  const open = report.open_loop;
  if (open) {
    lines.push(
      `  open loop     ${fmt(open.scheduled_requests)} requests scheduled, ${fmt(open.late_sends)} sent late (> ${fmt(open.late_threshold_ms)} ms behind schedule), max send lag ${fmt(open.max_send_lag_ms, 2)} ms`,
    );
  }
  if (report.query_load) {
    const q = report.query_load;
    lines.push(`  query load    ${fmt(q.completed)} queries alongside, p50 ${q.p50_ms === null ? 'n/a' : `${fmt(q.p50_ms, 1)} ms`}: ${q.sql}`);
    for (const error of q.errors) lines.push(`                ${error}`);
  }
  if (report.verify) {
    const v = report.verify;
    lines.push(`  verify        ${v.ok ? 'OK' : 'MISMATCH'}: lost ${fmt(v.lost)}, duplicated ${fmt(v.duplicated)}`);
    for (const m of Object.keys({ ...v.acked, ...v.stored }).sort()) {
      lines.push(`                ${m}: acknowledged ${fmt(v.acked[m] ?? 0)}, stored ${fmt(v.stored[m] ?? 0)}`);
    }
  }
  return lines.join('\n');
}

/** Two runs side by side with b/a ratios: the "benchmark before/after" step of the profiling loop. */
export function formatComparison(a: BenchReport, b: BenchReport, nameA: string, nameB: string): string {
  const rows: Array<[string, number, number, boolean]> = [
    ['records/s', a.records_per_sec, b.records_per_sec, true],
    ['requests/s', a.requests_per_sec, b.requests_per_sec, true],
    ['p50 ms', a.latency_ms.p50, b.latency_ms.p50, false],
    ['p95 ms', a.latency_ms.p95, b.latency_ms.p95, false],
    ['p99 ms', a.latency_ms.p99, b.latency_ms.p99, false],
    ['p99.9 ms', a.latency_ms.p999, b.latency_ms.p999, false],
    ['max ms', a.latency_ms.max, b.latency_ms.max, false],
  ];
  if (a.server && b.server) {
    rows.push(['server CPU %', a.server.cpu_percent, b.server.cpu_percent, false]);
    rows.push(['server peak RSS MB', a.server.peak_rss_mb, b.server.peak_rss_mb, false]);
  }
  rows.push(['bench CPU %', a.bench.cpu_percent, b.bench.cpu_percent, false]);
  if (a.server_event_loop && b.server_event_loop) {
    rows.push(['event loop p99 ms', a.server_event_loop.p99_ms, b.server_event_loop.p99_ms, false]);
    rows.push(['event loop max ms', a.server_event_loop.max_ms, b.server_event_loop.max_ms, false]);
  }
  if (a.open_loop && b.open_loop) rows.push(['late sends', a.open_loop.late_sends, b.open_loop.late_sends, false]);
  rows.push(['errors', sum(a.errors), sum(b.errors), false]);
  const width = Math.max(...rows.map((r) => r[0].length));
  const lines = [`${''.padEnd(width)}  ${nameA.padStart(14)}  ${nameB.padStart(14)}     b/a`];
  for (const [label, x, y, higherIsBetter] of rows) {
    const ratio = x === 0 ? (y === 0 ? '1.00' : 'n/a') : (y / x).toFixed(2);
    const better = x === y || ratio === 'n/a' ? '' : higherIsBetter === y > x ? '  better' : '  worse';
    lines.push(`${label.padEnd(width)}  ${fmt(x, 2).padStart(14)}  ${fmt(y, 2).padStart(14)}  ${ratio.padStart(6)}${better}`);
  }
  return lines.join('\n');
}

function sum(errors: Record<string, number>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}

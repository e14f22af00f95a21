import { parseArgs } from 'node:util';
import { authorization, serverUrl } from './profile/profile-command.js';

export const STATS_HELP = `usage: arc stats [--watch [SECONDS]] [--url URL] [--data DIR] [--token TOKEN]

Prints the server's own measurements (GET /api/v1/metrics) as a table: time per pipeline stage
(request path: decompress, decode, append; flush workers: sort, encode, fsync, publish) with count,
p50/p95/p99, and the counters and gauges of ingestion and storage. --watch refreshes every SECONDS
(default 2) and shows rates since the previous refresh. With authentication on (and auth.metrics_public
off) it needs a token (--token or ARC_TOKEN).
`;

type Series = { labels: Record<string, string>; value?: number; count?: number; sum_seconds?: number; p50_ms?: number; p95_ms?: number; p99_ms?: number };
type Snapshot = Record<string, Series[] | string>;

export async function stats(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { watch: { type: 'boolean', default: false }, url: { type: 'string' }, data: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(STATS_HELP);
    return 0;
  }
  const url = values.url ?? serverUrl(values.data);
  const interval = positionals.length > 0 ? Number(positionals[0]) : 2;
  if (!(interval > 0)) throw new Error(`the watch interval must be a positive number of seconds; got ${JSON.stringify(positionals[0])}`);
  let previous: { snapshot: Snapshot; at: number } | null = null;
  for (;;) {
    const response = await fetch(new URL('/api/v1/metrics', url), { headers: authorization(values.token) });
    if (!response.ok) throw new Error(`GET /api/v1/metrics: ${response.status} ${await response.text()}`);
    const snapshot = (await response.json()) as Snapshot;
    const at = performance.now();
    const text = formatStats(snapshot, previous ? { snapshot: previous.snapshot, seconds: (at - previous.at) / 1000 } : null);
    process.stdout.write(values.watch ? `\x1b[2J\x1b[H${url}  ${new Date().toISOString()}\n\n${text}\n` : `${text}\n`);
    if (!values.watch) return 0;
    previous = { snapshot, at };
    await new Promise((resolve) => setTimeout(resolve, interval * 1000));
  }
}

export function formatStats(snapshot: Snapshot, previous: { snapshot: Snapshot; seconds: number } | null): string {
  const series = (name: string) => (Array.isArray(snapshot[name]) ? (snapshot[name] as Series[]) : []);
  const lines: string[] = ['stage              count      p50 ms     p95 ms     p99 ms    total s'];
  for (const s of series('arc_stage_duration_seconds')) {
    lines.push(
      `${(s.labels.stage ?? '').padEnd(14)} ${fmt(s.count ?? 0, 0).padStart(9)} ${fmt(s.p50_ms ?? 0, 3).padStart(11)} ${fmt(s.p95_ms ?? 0, 3).padStart(10)} ${fmt(s.p99_ms ?? 0, 3).padStart(10)} ${fmt(s.sum_seconds ?? 0, 2).padStart(10)}`,
    );
  }
  lines.push('', 'counter / gauge                                      value' + (previous ? '        per second' : ''));
  for (const [name, value] of Object.entries(snapshot)) {
    if (!Array.isArray(value) || name === 'arc_stage_duration_seconds' || name === 'arc_http_latency_seconds') continue;
    for (const s of value) {
      if (s.value === undefined) continue;
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',');
      const label = labels ? `${name}{${labels}}` : name;
      let line = `${label.padEnd(48)} ${fmt(s.value, s.value % 1 === 0 ? 0 : 3).padStart(12)}`;
      if (previous && name.endsWith('_total')) {
        const before = (previous.snapshot[name] as Series[] | undefined)?.find((p) => JSON.stringify(p.labels) === JSON.stringify(s.labels));
        if (before?.value !== undefined) line += `${fmt((s.value - before.value) / previous.seconds, 1).padStart(18)}`;
      }
      lines.push(line);
    }
  }
  return lines.join('\n');
}

function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

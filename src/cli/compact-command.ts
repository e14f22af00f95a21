import { parseArgs } from 'node:util';
import { authorization, serverUrl } from './profile/profile-command.js';

export const COMPACT_HELP = `usage: arc compact [--tier hourly|daily|hourly,daily] [--database DB] [--url URL] [--data DIR] [--token TOKEN]

Compacts every closed hour (and day) of the running server now, whatever its age and file count
(POST /api/v1/compaction/trigger?force=true: after a bulk import, or before a benchmark), and
shows each job as it finishes. Needs an admin token with authentication on (--token or ARC_TOKEN).
Exit code 1 if any job failed.
`;

interface Job {
  job_id: string;
  cycle_id: number;
  partition_path: string;
  tier: string;
  files_compacted: number;
  bytes_before: number;
  bytes_after: number;
  rows_before: number;
  rows_after: number;
  duration_ms: number;
  success: boolean;
  error?: string;
}

export async function compact(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { tier: { type: 'string' }, database: { type: 'string' }, url: { type: 'string' }, data: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    process.stdout.write(COMPACT_HELP);
    return 0;
  }
  const url = values.url ?? serverUrl(values.data);
  const headers = authorization(values.token);
  const query = new URLSearchParams({ force: 'true' });
  if (values.tier) query.set('tier', values.tier);
  if (values.database) query.set('database', values.database);
  const started = await fetch(new URL(`/api/v1/compaction/trigger?${query}`, url), { method: 'POST', headers });
  const body = (await started.json()) as { cycle_id?: number; tiers?: string[]; error?: string };
  if (!started.ok) throw new Error(`POST /api/v1/compaction/trigger: ${started.status} ${body.error ?? ''}`);
  const cycle = body.cycle_id!;
  process.stdout.write(`compaction cycle ${cycle} started (${body.tiers!.join(', ')})\n`);
  const seen = new Set<string>();
  let failed = 0;
  const totals = { jobs: 0, filesIn: 0, bytesIn: 0, bytesOut: 0, rowsIn: 0, rowsOut: 0 };
  const t0 = performance.now();
  for (;;) {
    const [status, history] = await Promise.all([get(url, '/api/v1/compaction/status', headers), get(url, '/api/v1/compaction/history?limit=100', headers)]);
    for (const job of (history as { recent_jobs: Job[] }).recent_jobs) {
      if (job.cycle_id !== cycle || seen.has(job.job_id)) continue;
      seen.add(job.job_id);
      totals.jobs++;
      if (!job.success) {
        failed++;
        process.stdout.write(`  FAILED ${job.tier} ${job.partition_path}: ${job.error}\n`);
        continue;
      }
      totals.filesIn += job.files_compacted;
      totals.bytesIn += job.bytes_before;
      totals.bytesOut += job.bytes_after;
      totals.rowsIn += job.rows_before;
      totals.rowsOut += job.rows_after;
      process.stdout.write(
        `  ${job.tier.padEnd(6)} ${job.partition_path}: ${job.files_compacted} files → 1, ${mb(job.bytes_before)} → ${mb(job.bytes_after)}, ${job.rows_before - job.rows_after} duplicate rows dropped, ${job.duration_ms} ms\n`,
      );
    }
    const s = status as { cycle_running: boolean; current_cycle_id: number; manager: { active_jobs: number } };
    if (!s.cycle_running && s.current_cycle_id >= cycle) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    `done in ${seconds.toFixed(1)} s: ${totals.jobs} jobs (${failed} failed), ${totals.filesIn} files, ${mb(totals.bytesIn)} → ${mb(totals.bytesOut)}, ${totals.rowsIn} rows → ${totals.rowsOut}` +
      (seconds > 0 ? `, ${Math.round(totals.rowsIn / seconds)} rows/s` : '') + '\n',
  );
  return failed > 0 ? 1 : 0;
}

async function get(url: string, route: string, headers: Record<string, string>): Promise<unknown> {
  const response = await fetch(new URL(route, url), { headers });
  if (!response.ok) throw new Error(`GET ${route}: ${response.status} ${await response.text()}`);
  return response.json();
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

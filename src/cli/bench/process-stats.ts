import fs from 'node:fs';

/** Linux reports CPU time in clock ticks; USER_HZ is 100 on every mainstream kernel config. */
const TICKS_PER_SECOND = 100;

export interface ProcessUsage {
  /** CPU time over the sampled span as % of one core (150 = one and a half cores). */
  cpuPercent: number;
  /** Highest resident set seen while sampling, in MB. */
  peakRssMb: number;
}

/**
 * Samples another local process through /proc: CPU time at start and stop, resident memory every
 * 200 ms. This is how the bench reports what the server used, next to its own cost.
 */
export class ProcessSampler {
  private readonly startTicks: number;
  private readonly startedAt = performance.now();
  private peakRssKb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.startTicks = cpuTicks(pid);
    this.sampleRss();
    this.timer = setInterval(() => this.sampleRss(), 200);
    this.timer.unref();
  }

  stop(): ProcessUsage {
    clearInterval(this.timer);
    this.sampleRss();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const cpuSeconds = (cpuTicks(this.pid) - this.startTicks) / TICKS_PER_SECOND;
    return { cpuPercent: (cpuSeconds / seconds) * 100, peakRssMb: this.peakRssKb / 1024 };
  }

  private sampleRss(): void {
    try {
      const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      if (match) this.peakRssKb = Math.max(this.peakRssKb, Number(match[1]));
    } catch {
      // the process went away; keep what we have
    }
  }
}

/** utime + stime of a process, in ticks (fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The bench process's own CPU use since `since` (from process.cpuUsage()), as % of one core. */
export function ownCpuPercent(since: NodeJS.CpuUsage, seconds: number): number {
  const used = process.cpuUsage(since);
  return ((used.user + used.system) / 1e6 / seconds) * 100;
}

export function isLocalProcess(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}/stat`);
}

/**
 * For a server that is not local: CPU and memory from its own /api/v1/metrics, read once a second
 * (arc_process_cpu_seconds_total, arc_process_resident_memory_bytes).
 */
export class MetricsSampler {
  private first: { cpu: number; at: number } | null = null;
  private last: { cpu: number; at: number } | null = null;
  private peakRss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
  ) {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), 1000);
    this.timer.unref();
  }

  async stop(): Promise<ProcessUsage | null> {
    clearInterval(this.timer);
    await this.sample();
    if (!this.first || !this.last || this.last.at <= this.first.at) return null;
    return { cpuPercent: ((this.last.cpu - this.first.cpu) / ((this.last.at - this.first.at) / 1000)) * 100, peakRssMb: this.peakRss / 1048576 };
  }

  private async sample(): Promise<void> {
    try {
      const response = await fetch(new URL('/api/v1/metrics', this.url), { headers: this.headers });
      if (!response.ok) return;
      const snapshot = (await response.json()) as Record<string, Array<{ value?: number }>>;
      const cpu = snapshot.arc_process_cpu_seconds_total?.[0]?.value;
      const rss = snapshot.arc_process_resident_memory_bytes?.[0]?.value;
      if (typeof cpu === 'number') {
        const point = { cpu, at: performance.now() };
        this.first ??= point;
        this.last = point;
      }
      if (typeof rss === 'number') this.peakRss = Math.max(this.peakRss, rss);
    } catch {
      // the server may be busy; the next sample will do
    }
  }
}

/** The server's event-loop delay histogram as /api/v1/metrics lists it: [upper bound ms (null: above 100 s), count]. */
export type LoopDelayBuckets = Array<[number | null, number]>;

/** Event-loop delay of the server over one run, from two snapshots of its cumulative histogram. */
export interface LoopDelayReport {
  /** Probe observations in the run (one per 10 ms the server's timer fired). */
  samples: number;
  p99_ms: number;
  /** Upper bound of the highest non-empty bucket (resolution ±12 %). */
  max_ms: number;
}

/** Reads arc_event_loop_delay_seconds from /api/v1/metrics; null when the server does not expose it. */
export async function readLoopDelay(url: string, headers: Record<string, string>): Promise<LoopDelayBuckets | null> {
  try {
    const response = await fetch(new URL('/api/v1/metrics', url), { headers });
    if (!response.ok) return null;
    const snapshot = (await response.json()) as Record<string, Array<{ fine_buckets?: LoopDelayBuckets }>>;
    return snapshot.arc_event_loop_delay_seconds?.[0]?.fine_buckets ?? null;
  } catch {
    return null;
  }
}

/** p99 and max of what `after` holds beyond `before` (the server's histogram is cumulative). */
export function loopDelayBetween(before: LoopDelayBuckets, after: LoopDelayBuckets): LoopDelayReport {
  const earlier = new Map(before.map(([bound, count]) => [bound ?? Infinity, count]));
  const run = after
    .map(([bound, count]) => [bound ?? Infinity, count - (earlier.get(bound ?? Infinity) ?? 0)] as const)
    .filter(([, count]) => count > 0)
    .sort((a, b) => a[0] - b[0]);
  const samples = run.reduce((sum, [, count]) => sum + count, 0);
  let p99 = 0;
  let seen = 0;
  for (const [bound, count] of run) {
    seen += count;
    if (seen >= 0.99 * samples) {
      p99 = bound;
      break;
    }
  }
  return { samples, p99_ms: p99, max_ms: run.at(-1)?.[0] ?? 0 };
}

import type { Logger } from '../log.js';
import { goIntervalText, intervalMs } from './cq-definitions.js';
import type { ContinuousQueryService } from './cq-service.js';

/** Windows one CQ catches up at most after downtime (older ones are left; re-run them by hand). */
export const MAX_CATCH_UP_WINDOWS = 1000;
/** Past the window end before it runs, so writes stamped just before the boundary are in. */
const SETTLE_MS = 1000;

interface Job {
  id: number;
  name: string;
  interval: string;
  timer: NodeJS.Timeout | null;
}

/**
 * The built-in CQ scheduler (Arc needs an Enterprise licence for it). One job per active CQ; a job
 * wakes at each interval boundary of the epoch-aligned grid and runs every complete window since
 * the watermark, one at a time and oldest first — so a server that was down for ten intervals
 * runs the ten missed windows when it starts. The watermark is durable, so this survives restarts.
 */
export class CqScheduler {
  private readonly jobs = new Map<number, Job>();
  private stopped = false;

  constructor(
    private readonly service: ContinuousQueryService,
    private readonly log: Logger,
  ) {
    service.onChange(() => this.reload());
  }

  /** Stops every job and starts one per active CQ; returns the job count. */
  reload(): number {
    for (const job of this.jobs.values()) if (job.timer) clearTimeout(job.timer);
    this.jobs.clear();
    if (this.stopped) return 0;
    for (const cq of this.service.list(null, true)) {
      const job: Job = { id: cq.id, name: cq.name, interval: cq.interval, timer: null };
      this.jobs.set(cq.id, job);
      job.timer = setTimeout(() => void this.tick(job), 0);
    }
    return this.jobs.size;
  }

  stop(): void {
    this.stopped = true;
    for (const job of this.jobs.values()) if (job.timer) clearTimeout(job.timer);
    this.jobs.clear();
  }

  schedulerStatus(): Record<string, unknown> {
    const jobs = [...this.jobs.values()].sort((a, b) => a.id - b.id).map((job) => ({ cq_id: job.id, cq_name: job.name, interval: goIntervalText(intervalMs(job.interval) ?? 0) }));
    return { running: !this.stopped, license_valid: true, job_count: jobs.length, jobs };
  }

  private async tick(job: Job): Promise<void> {
    job.timer = null;
    if (this.jobs.get(job.id) !== job) return;
    const step = intervalMs(job.interval);
    if (step === null) return;
    try {
      await this.catchUp(job, step);
    } catch (err) {
      this.log.warn('continuous query scheduler: a run failed; it is retried at the next interval', { cq: job.name, error: (err as Error).message });
    }
    if (this.jobs.get(job.id) !== job) return;
    const now = Date.now();
    const next = Math.floor(now / step) * step + step + SETTLE_MS;
    job.timer = setTimeout(() => void this.tick(job), Math.max(0, next - now));
  }

  /** Every complete window since the watermark, oldest first, each its own run (so each its own execution row). */
  private async catchUp(job: Job, step: number): Promise<void> {
    let cq = this.service.get(job.id);
    const gridNow = Math.floor((Date.now() - SETTLE_MS) / step) * step;
    let start = cq.last_processed_time === null ? gridNow - step : Math.floor(Date.parse(cq.last_processed_time) / step) * step;
    if ((gridNow - start) / step > MAX_CATCH_UP_WINDOWS) {
      const skipped = start;
      start = gridNow - MAX_CATCH_UP_WINDOWS * step;
      this.log.warn('continuous query scheduler: too many missed windows; the oldest are skipped (run them with POST /execute)', { cq: job.name, from: new Date(skipped).toISOString(), to: new Date(start).toISOString() });
    }
    for (; start + step <= gridNow; start += step) {
      if (this.jobs.get(job.id) !== job) return;
      await this.service.execute(job.id, { startMs: start, endMs: start + step, dryRun: false, idPrefix: 'cq-sched-' });
      cq = this.service.get(job.id);
    }
  }
}

/** A send that leaves more than this after its scheduled time counts as late (timer granularity is ~1 ms). */
export const LATE_MS = 2;

/** What the schedule did, for the report. */
export interface ScheduleStats {
  /** Sends the schedule asked for (all of them are sent: a late one goes out late, it is not dropped). */
  scheduled: number;
  /** Sends that left more than LATE_MS after their scheduled time: the generator itself fell behind. */
  late: number;
  /** Longest time a send left after its scheduled time, in ms. */
  maxLagMs: number;
}

/**
 * The clock of an open-loop run: send k is due at start + k × interval, whatever the answers do.
 * `due(now)` hands out every send whose time has come, with its scheduled time, which is where the
 * caller starts that request's latency: a generator that falls behind (a busy CPU, a GC pause) then
 * shows its lag in the latencies and in `late`, instead of quietly offering less load. Pure (the
 * clock is passed in), so its accounting is tested without timers.
 */
export class OpenLoopSchedule {
  private nextAt: number;
  readonly stats: ScheduleStats = { scheduled: 0, late: 0, maxLagMs: 0 };

  constructor(
    private readonly startMs: number,
    private readonly endMs: number,
    private readonly intervalMs: number,
  ) {
    if (!(intervalMs > 0)) throw new Error('open loop: the interval between sends must be positive');
    this.nextAt = startMs;
  }

  /** True once every send before the end has been handed out. */
  get done(): boolean {
    return this.nextAt >= this.endMs;
  }

  /** Calls `send(scheduledAt)` for each send due by `now`, oldest first. */
  due(now: number, send: (scheduledAt: number) => void): void {
    while (this.nextAt <= now && this.nextAt < this.endMs) {
      const scheduledAt = this.nextAt;
      const lag = now - scheduledAt;
      this.stats.scheduled++;
      if (lag > LATE_MS) this.stats.late++;
      if (lag > this.stats.maxLagMs) this.stats.maxLagMs = lag;
      // From the start, not by adding intervals up: no drift over millions of sends.
      this.nextAt = this.startMs + this.stats.scheduled * this.intervalMs;
      send(scheduledAt);
    }
  }

  /** ms until the next send is due (0 if it is due already). */
  waitMs(now: number): number {
    return Math.max(0, this.nextAt - now);
  }
}

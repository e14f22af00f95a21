import { FINE_BUCKET_COUNT, fineBucket, percentileOfCounts, type Histogram } from './registry.js';

/** How often the probe timer is due; its lateness is the event-loop delay. */
export const PROBE_MS = 10;
/** A delay above this counts towards arc_event_loop_stall_seconds_total. */
export const STALL_MS = 50;
/** The p99/max gauges cover this many slots of SLOT_MS (the last minute). */
const SLOTS = 6;
const SLOT_MS = 10_000;

/**
 * Event-loop delay, measured the way perf_hooks.monitorEventLoopDelay does (how late a repeating
 * timer fires: every event that became ready meanwhile waited up to as long), but kept in our own
 * fine-bucket histogram so it is cumulative. A cumulative histogram can be diffed: Prometheus takes
 * rate() of its buckets, arc bench subtracts a snapshot taken before its run from one taken after.
 * One timer callback every PROBE_MS (a clock read, a log, three array writes): 100 a second.
 *
 * Also keeps the last minute in SLOTS rotating slots for the p99/max gauges, so a scrape shows
 * "now" rather than an average since start, and the stall time (see stallSeconds).
 */
export class EventLoopMonitor {
  /** Time during which a request arriving would have waited more than STALL_MS for the event loop. */
  stallSeconds = 0;
  private readonly slotCounts = Array.from({ length: SLOTS }, () => new Float64Array(FINE_BUCKET_COUNT));
  private readonly slotTotals = new Float64Array(SLOTS);
  private readonly slotMax = new Float64Array(SLOTS);
  private slot = 0;
  private slotStartedAt = performance.now();
  private last = performance.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly total: Histogram) {}

  start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(performance.now()), PROBE_MS);
    this.timer.unref();
  }

  /**
   * One probe: `now` is when the timer ran. A stall of L ms delays every request arriving during it
   * by up to L; those arriving in its first L - STALL_MS ms wait longer than STALL_MS. Summing that
   * time gives, over any window, the share of (uniformly arriving) requests that waited longer:
   * under 1% of the window means a p99 wait under STALL_MS, measured inside the server rather than
   * by a client that is itself competing for the CPU.
   */
  tick(now: number): void {
    const late = Math.max(0, now - this.last - PROBE_MS);
    this.last = now;
    if (late > STALL_MS) this.stallSeconds += (late - STALL_MS) / 1000;
    this.total.observeMs(late);
    if (now - this.slotStartedAt >= SLOT_MS) {
      this.slot = (this.slot + 1) % SLOTS;
      this.slotCounts[this.slot]!.fill(0);
      this.slotTotals[this.slot] = 0;
      this.slotMax[this.slot] = 0;
      this.slotStartedAt = now;
    }
    this.slotCounts[this.slot]![fineBucket(late)]!++;
    this.slotTotals[this.slot]!++;
    if (late > this.slotMax[this.slot]!) this.slotMax[this.slot] = late;
  }

  /** p99 of the delay over the last minute, in ms. */
  recentP99Ms(): number {
    const merged = new Float64Array(FINE_BUCKET_COUNT);
    let total = 0;
    for (let s = 0; s < SLOTS; s++) {
      const counts = this.slotCounts[s]!;
      for (let k = 0; k < FINE_BUCKET_COUNT; k++) merged[k]! += counts[k]!;
      total += this.slotTotals[s]!;
    }
    return percentileOfCounts(merged, total, 99);
  }

  /** The longest delay over the last minute, in ms (exact, not a bucket). */
  recentMaxMs(): number {
    let max = 0;
    for (let s = 0; s < SLOTS; s++) max = Math.max(max, this.slotMax[s]!);
    return max;
  }

  /** Starts over, so the figures describe serving rather than start-up (module loading, warm-up). */
  reset(): void {
    this.total.counts.fill(0);
    this.total.count = 0;
    this.total.sumSeconds = 0;
    for (let s = 0; s < SLOTS; s++) {
      this.slotCounts[s]!.fill(0);
      this.slotTotals[s] = 0;
      this.slotMax[s] = 0;
    }
    this.last = performance.now();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

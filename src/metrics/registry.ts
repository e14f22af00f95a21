/**
 * Counters, gauges and latency histograms for /metrics and /api/v1/metrics. Recording is a few
 * array writes, cheap enough to leave on in the ingest hot path; the cost was measured with
 * `arc bench` (docs/benchmarks.md).
 */

/** Fine buckets: 20 per decade from 1 µs to 100 s (±6% resolution for percentiles). */
const PER_DECADE = 20;
const DECADES = 8;
const FINE_BUCKETS = PER_DECADE * DECADES;
const LOG_STEP = Math.log(10) / PER_DECADE;

export type Labels = Readonly<Record<string, string>>;

/** Fine buckets per histogram (the last one holds everything above 100 s). */
export const FINE_BUCKET_COUNT = FINE_BUCKETS + 1;

/** The fine bucket of a duration in ms. */
export function fineBucket(ms: number): number {
  const micros = ms * 1000;
  const k = micros <= 1 ? 0 : Math.floor(Math.log(micros) / LOG_STEP);
  return k > FINE_BUCKETS ? FINE_BUCKETS : k;
}

/** Upper bound of fine bucket k in ms (Infinity for the overflow bucket). */
export function fineUpperMs(k: number): number {
  return k >= FINE_BUCKETS ? Infinity : Math.exp((k + 1) * LOG_STEP) / 1000;
}

/** Percentile (0–100) in ms of fine-bucket counts, from bucket midpoints (geometric); 0 when empty. */
export function percentileOfCounts(counts: ArrayLike<number>, total: number, percentile: number): number {
  if (total === 0) return 0;
  const rank = (percentile / 100) * total;
  let seen = 0;
  for (let k = 0; k <= FINE_BUCKETS; k++) {
    seen += counts[k]!;
    if (seen >= rank && counts[k]! > 0) return Math.exp((k + 0.5) * LOG_STEP) / 1000;
  }
  return Math.exp((FINE_BUCKETS + 0.5) * LOG_STEP) / 1000;
}

export class Histogram {
  /** Count per fine bucket; bucket k holds values in [10^(k/20), 10^((k+1)/20)) µs; the last one everything above. */
  readonly counts = new Float64Array(FINE_BUCKETS + 1);
  count = 0;
  sumSeconds = 0;
  /**
   * When set, the JSON snapshot also lists the non-empty fine buckets, so a client can diff two
   * snapshots and get percentiles over exactly its own window (arc bench does, for the event loop).
   */
  fineSnapshot = false;

  /** Records a duration in milliseconds (what performance.now() differences give). */
  observeMs(ms: number): void {
    const k = fineBucket(ms);
    this.counts[k]!++;
    this.count++;
    this.sumSeconds += ms / 1000;
  }

  /** Approximate percentile (0–100) in milliseconds, from bucket midpoints (geometric). */
  percentileMs(percentile: number): number {
    return percentileOfCounts(this.counts, this.count, percentile);
  }

  /** The non-empty fine buckets as [upper bound in ms, count] (the last bucket's bound is Infinity). */
  fineBuckets(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let k = 0; k <= FINE_BUCKETS; k++) if (this.counts[k]! > 0) out.push([fineUpperMs(k), this.counts[k]!]);
    return out;
  }

  /** Cumulative counts at Prometheus bounds (seconds): 1 µs, 3.16 µs, 10 µs, … 100 s. */
  prometheusBuckets(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let cumulative = 0;
    for (let k = 0; k < FINE_BUCKETS; k++) {
      cumulative += this.counts[k]!;
      if ((k + 1) % (PER_DECADE / 2) === 0) out.push([Math.pow(10, (k + 1) / PER_DECADE) / 1e6, cumulative]);
    }
    return out;
  }
}

interface Family<T> {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  series: Map<string, { labels: Labels; value: T }>;
}

/** A set of metric families; each family holds one series per label combination. */
export class Registry {
  private readonly counters = new Map<string, Family<{ value: number }>>();
  private readonly gauges = new Map<string, Family<() => number>>();
  private readonly histograms = new Map<string, Family<Histogram>>();

  /** A counter series; keep the returned object and add to `.value` on the hot path. */
  counter(name: string, help: string, labels: Labels = {}): { value: number } {
    return series(this.counters, name, help, 'counter', labels, () => ({ value: 0 }));
  }

  /** A gauge read when metrics are collected. */
  gauge(name: string, help: string, read: () => number, labels: Labels = {}): void {
    const family = familyOf(this.gauges, name, help, 'gauge');
    family.series.set(key(labels), { labels, value: read });
  }

  /** A counter kept elsewhere and read when metrics are collected. */
  counterFrom(name: string, help: string, read: () => number, labels: Labels = {}): void {
    const family = familyOf(this.gauges, name, help, 'counter');
    family.series.set(key(labels), { labels, value: read });
  }

  histogram(name: string, help: string, labels: Labels = {}): Histogram {
    return series(this.histograms, name, help, 'histogram', labels, () => new Histogram());
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(): string {
    const lines: string[] = [];
    for (const family of this.counters.values()) {
      header(lines, family);
      for (const { labels, value } of family.series.values()) lines.push(`${family.name}${labelText(labels)} ${value.value}`);
    }
    for (const family of this.gauges.values()) {
      header(lines, family);
      for (const { labels, value } of family.series.values()) lines.push(`${family.name}${labelText(labels)} ${value()}`);
    }
    for (const family of this.histograms.values()) {
      header(lines, family);
      for (const { labels, value } of family.series.values()) {
        for (const [le, count] of value.prometheusBuckets()) lines.push(`${family.name}_bucket${labelText({ ...labels, le: formatLe(le) })} ${count}`);
        lines.push(`${family.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${value.count}`);
        lines.push(`${family.name}_sum${labelText(labels)} ${value.sumSeconds}`);
        lines.push(`${family.name}_count${labelText(labels)} ${value.count}`);
      }
    }
    return lines.join('\n') + '\n';
  }

  /** Everything as JSON: counters and gauges as numbers, histograms as count/sum/percentiles. */
  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const put = <T>(families: Map<string, Family<T>>, render: (value: T) => unknown) => {
      for (const family of families.values()) {
        out[family.name] = [...family.series.values()].map(({ labels, value }) => ({ labels, ...toObject(render(value)) }));
      }
    };
    put(this.counters, (c) => c.value);
    put(this.gauges, (read) => read());
    put(this.histograms, (h) => ({
      count: h.count,
      sum_seconds: h.sumSeconds,
      p50_ms: h.percentileMs(50),
      p95_ms: h.percentileMs(95),
      p99_ms: h.percentileMs(99),
      max_bucket_ms: h.percentileMs(100),
      ...(h.fineSnapshot ? { fine_buckets: h.fineBuckets() } : {}),
    }));
    return out;
  }
}

function toObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : { value };
}

function familyOf<T>(map: Map<string, Family<T>>, name: string, help: string, type: Family<T>['type']): Family<T> {
  let family = map.get(name);
  if (!family) {
    family = { name, help, type, series: new Map() };
    map.set(name, family);
  }
  return family;
}

function series<T>(map: Map<string, Family<T>>, name: string, help: string, type: Family<T>['type'], labels: Labels, make: () => T): T {
  const family = familyOf(map, name, help, type);
  const id = key(labels);
  let entry = family.series.get(id);
  if (!entry) {
    entry = { labels, value: make() };
    family.series.set(id, entry);
  }
  return entry.value;
}

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function header(lines: string[], family: { name: string; help: string; type: string }): void {
  lines.push(`# HELP ${family.name} ${family.help}`);
  lines.push(`# TYPE ${family.name} ${family.type}`);
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatLe(seconds: number): string {
  return Number(seconds.toPrecision(3)).toString();
}

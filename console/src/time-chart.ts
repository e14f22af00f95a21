import uPlot from 'uplot';
import type { ResultColumn } from './arrow-columns.js';

/** Lines beyond these would be unreadable; the chart says how many it left out. */
const MAX_SERIES = 12;
const PALETTE = ['#2f6fdf', '#e4572e', '#17a398', '#f3a712', '#8e44ad', '#29335c', '#db2b39', '#4c956c', '#6c757d', '#ff7f50', '#3d348b', '#a44a3f'];

export interface ChartPlan {
  time: ResultColumn;
  /** One line per numeric column, or per value of `tag` for one numeric column. */
  values: ResultColumn[];
  tag: ResultColumn | null;
}

/**
 * A result gets a chart when it has a time column and at least one numeric one. With one numeric
 * column and a text column of few distinct values (a tag), each tag value is its own line.
 */
export function planChart(columns: ResultColumn[], rowCount: number): ChartPlan | null {
  if (rowCount === 0) return null;
  const time = columns.find((c) => c.kind === 'time' && c.name === 'time') ?? columns.find((c) => c.kind === 'time');
  if (!time) return null;
  const values = columns.filter((c) => c.kind === 'number');
  if (values.length === 0) return null;
  const tags = columns.filter((c) => c.kind === 'text');
  if (values.length === 1 && tags.length > 0) {
    const tag = tags.find((t) => distinctUpTo(t, rowCount, MAX_SERIES * 4) <= MAX_SERIES * 4);
    if (tag && distinctUpTo(tag, rowCount, 2) > 1) return { time, values, tag };
  }
  return { time, values, tag: null };
}

function distinctUpTo(column: ResultColumn, rowCount: number, limit: number): number {
  const seen = new Set<string>();
  for (let row = 0; row < rowCount && seen.size <= limit; row++) seen.add(column.text(row));
  return seen.size;
}

interface SeriesData {
  labels: string[];
  data: uPlot.AlignedData;
  omitted: number;
}

/** Rows in time order as aligned arrays: x in seconds (uPlot's unit), one y array per line. */
export function seriesData(plan: ChartPlan, rowCount: number): SeriesData {
  const order = Array.from({ length: rowCount }, (_, i) => i);
  const times = new Float64Array(rowCount);
  for (let row = 0; row < rowCount; row++) times[row] = (plan.time.number(row) ?? NaN) / 1000;
  let sorted = true;
  for (let row = 1; row < rowCount && sorted; row++) if (times[row]! < times[row - 1]!) sorted = false;
  if (!sorted) order.sort((a, b) => times[a]! - times[b]!);

  if (plan.tag === null) {
    const values = plan.values.slice(0, MAX_SERIES);
    const x = order.map((row) => times[row]!);
    const ys = values.map((column) => order.map((row) => column.number(row)));
    return { labels: values.map((c) => c.name), data: [x, ...ys] as uPlot.AlignedData, omitted: plan.values.length - values.length };
  }
  // One line per tag value, on the union of the timestamps; a missing point is a gap.
  const tag = plan.tag;
  const value = plan.values[0]!;
  const xs: number[] = [];
  const lines = new Map<string, Array<number | null>>();
  let omitted = 0;
  for (const row of order) {
    const t = times[row]!;
    if (xs.length === 0 || xs[xs.length - 1] !== t) {
      xs.push(t);
      for (const line of lines.values()) line.push(null);
    }
    const key = tag.text(row);
    let line = lines.get(key);
    if (!line) {
      if (lines.size >= MAX_SERIES) {
        omitted++;
        continue;
      }
      line = new Array<number | null>(xs.length).fill(null);
      lines.set(key, line);
    }
    line[xs.length - 1] = value.number(row);
  }
  const keys = [...lines.keys()];
  return { labels: keys.map((k) => `${tag.name}=${k}`), data: [xs, ...keys.map((k) => lines.get(k)!)] as uPlot.AlignedData, omitted: omitted > 0 ? omitted : 0 };
}

/** Draws (or redraws) the chart into `host`; drag to zoom, double-click to reset, the legend shows hovered values. */
export function drawTimeChart(host: HTMLElement, previous: uPlot | null, plan: ChartPlan, rowCount: number, width: number): { plot: uPlot; labels: string[]; omitted: number } {
  previous?.destroy();
  const { labels, data, omitted } = seriesData(plan, rowCount);
  const options: uPlot.Options = {
    width,
    height: 260,
    scales: { x: { time: true } },
    cursor: { drag: { x: true, y: false, setScale: true } },
    legend: { live: true },
    series: [
      { label: plan.time.name },
      ...labels.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: plan.tag !== null, points: { show: false } })),
    ],
    axes: [{}, { size: 60 }],
  };
  return { plot: new uPlot(options, data, host), labels, omitted };
}

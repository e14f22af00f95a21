import uPlot from 'uplot';
import { api, SignedOut } from '../api.js';
import { formatBytes, formatMs, formatNumber, h, replace } from '../dom.js';

/** Samples kept: five minutes at one a second. */
const WINDOW = 300;
const POLL_MS = 1000;

type Sample = { labels: Record<string, string>; value?: number; count?: number; p50_ms?: number; p95_ms?: number; p99_ms?: number };
type Snapshot = Record<string, Sample[] | string>;

function series(snapshot: Snapshot, name: string): Sample[] {
  const value = snapshot[name];
  return Array.isArray(value) ? value : [];
}

function total(snapshot: Snapshot, name: string, label?: [string, string]): number {
  return series(snapshot, name)
    .filter((s) => !label || s.labels[label[0]] === label[1])
    .reduce((sum, s) => sum + (s.value ?? 0), 0);
}

interface ChartSpec {
  title: string;
  lines: Array<{ label: string; read: (now: Snapshot, before: Snapshot | null, seconds: number) => number | null }>;
  format: (value: number) => string;
}

const rate = (name: string, label?: [string, string]) => (now: Snapshot, before: Snapshot | null, seconds: number) =>
  before === null || seconds <= 0 ? null : Math.max(0, (total(now, name, label) - total(before, name, label)) / seconds);
const level = (name: string) => (now: Snapshot) => (series(now, name).length > 0 ? total(now, name) : null);

const CHARTS: ChartSpec[] = [
  { title: 'Records/s by format', format: formatNumber, lines: [{ label: 'msgpack', read: rate('arc_ingest_records_total', ['format', 'msgpack']) }, { label: 'line protocol', read: rate('arc_ingest_records_total', ['format', 'lineprotocol']) }] },
  { title: 'Flushes/s and files/s', format: (v) => v.toFixed(2), lines: [{ label: 'flushes', read: rate('arc_buffer_flushes_total') }, { label: 'files published', read: rate('arc_storage_files_written_total') }] },
  { title: 'Buffered rows', format: formatNumber, lines: [{ label: 'rows', read: level('arc_buffer_rows') }] },
  { title: 'Buffered bytes', format: formatBytes, lines: [{ label: 'bytes', read: level('arc_buffer_bytes') }, { label: 'in flight', read: level('arc_flush_inflight_bytes') }] },
  { title: 'WAL backlog', format: formatBytes, lines: [{ label: 'backlog bytes', read: level('arc_wal_backlog_bytes') }] },
  { title: 'Rejected requests/s', format: (v) => v.toFixed(2), lines: [{ label: 'rejected', read: rate('arc_ingest_rejected_requests_total') }] },
];

/** Ingest, live: polls GET /api/v1/metrics (the JSON snapshot) every second and charts the last five minutes. */
export function ingestPage(): HTMLElement {
  const tiles = h('div', { class: 'tiles' });
  const charts = h('div', { class: 'mini-charts' });
  const latency = h('div', { id: 'ingest-latency' });
  const rejected = h('div', { id: 'ingest-rejected' });
  const stages = h('div', { id: 'ingest-stages' });
  const status = h('p', { id: 'ingest-status', class: 'hint' }, 'Waiting for the first sample…');
  const times: number[] = [];
  const values: Array<Array<number | null>> = CHARTS.map((c) => c.lines.map(() => null)).flat().map(() => []);
  const plots: uPlot[] = [];
  let previous: { at: number; snapshot: Snapshot } | null = null;
  let timer = 0;
  let shown = false;

  for (const [index, spec] of CHARTS.entries()) {
    const host = h('div', { class: 'mini-chart panel', 'data-chart': String(index) }, h('h3', {}, spec.title));
    charts.appendChild(host);
    const options: uPlot.Options = {
      width: 360,
      height: 150,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: true } },
      scales: { x: { time: true } },
      axes: [{ size: 30 }, { size: 56, values: (_u, ticks) => ticks.map((t) => spec.format(t)) }],
      series: [{}, ...spec.lines.map((line, i) => ({ label: line.label, stroke: ['#2f6fdf', '#e4572e'][i % 2], width: 1.5, points: { show: false } }))],
    };
    plots.push(new uPlot(options, [[], ...spec.lines.map(() => [])] as uPlot.AlignedData, host));
  }

  async function poll(): Promise<void> {
    if (tiles.isConnected) shown = true;
    else if (shown) {
      window.clearInterval(timer); // the page was left
      plots.forEach((p) => p.destroy());
      return;
    }
    let snapshot: Snapshot;
    try {
      snapshot = await api.json<Snapshot>('/api/v1/metrics');
    } catch (err) {
      if (err instanceof SignedOut) window.clearInterval(timer);
      else status.textContent = `Metrics unavailable: ${(err as Error).message}`;
      return;
    }
    const at = Date.now() / 1000;
    const before = previous?.snapshot ?? null;
    const seconds = previous ? at - previous.at : 0;
    previous = { at, snapshot };
    times.push(at);
    let column = 0;
    for (const spec of CHARTS) for (const line of spec.lines) values[column++]!.push(line.read(snapshot, before, seconds));
    if (times.length > WINDOW) {
      times.shift();
      values.forEach((v) => v.shift());
    }
    column = 0;
    for (const [index, spec] of CHARTS.entries()) {
      const data = [times.slice(), ...spec.lines.map(() => values[column++]!.slice())] as uPlot.AlignedData;
      plots[index]!.setData(data);
    }
    renderTiles(snapshot, before, seconds);
    renderTables(snapshot);
    status.textContent = `Updated ${new Date().toLocaleTimeString()} · ${times.length} samples (one a second, last ${Math.round(WINDOW / 60)} minutes)`;
  }

  function renderTiles(now: Snapshot, before: Snapshot | null, seconds: number): void {
    const tile = (id: string, label: string, value: number | null, format: (v: number) => string) =>
      h('div', { class: 'tile', 'data-metric': id, 'data-value': value === null ? '' : String(value) }, h('span', { class: 'tile-value' }, value === null ? '–' : format(value)), h('span', { class: 'tile-label' }, label));
    replace(
      tiles,
      tile('records-msgpack', 'msgpack records/s', rate('arc_ingest_records_total', ['format', 'msgpack'])(now, before, seconds), formatNumber),
      tile('records-lineprotocol', 'line protocol records/s', rate('arc_ingest_records_total', ['format', 'lineprotocol'])(now, before, seconds), formatNumber),
      tile('flushes', 'flushes/s', rate('arc_buffer_flushes_total')(now, before, seconds), (v) => v.toFixed(2)),
      tile('buffer-rows', 'buffered rows', level('arc_buffer_rows')(now), formatNumber),
      tile('buffer-bytes', 'buffered bytes', level('arc_buffer_bytes')(now), formatBytes),
      tile('wal-backlog', 'WAL backlog', level('arc_wal_backlog_bytes')(now), formatBytes),
      tile('wal-pending', 'WAL rows not yet in files', level('arc_wal_pending_rows')(now), formatNumber),
    );
  }

  function renderTables(now: Snapshot): void {
    const writes = series(now, 'arc_http_latency_seconds').filter((s) => /write|^\/api\/v2\/write$/.test(s.labels.route ?? ''));
    replace(
      latency,
      writes.length === 0
        ? h('p', { class: 'hint' }, 'No write requests yet (or metrics.stage_timings is off).')
        : quantileTable('Route', writes.map((s) => [s.labels.route ?? '', s])),
    );
    const refused = series(now, 'arc_ingest_rejected_requests_total').filter((s) => (s.value ?? 0) > 0);
    replace(
      rejected,
      refused.length === 0
        ? h('p', { class: 'hint' }, 'No rejected requests since start.')
        : h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'Code'), h('th', { class: 'num' }, 'Requests'))), h('tbody', {}, ...refused.map((s) => h('tr', {}, h('td', {}, h('code', {}, s.labels.reason ?? '')), h('td', { class: 'num' }, formatNumber(s.value ?? 0)))))),
    );
    const stageRows = series(now, 'arc_stage_duration_seconds');
    replace(stages, stageRows.length === 0 ? h('p', { class: 'hint' }, 'Stage timings are off (metrics.stage_timings).') : quantileTable('Stage', stageRows.map((s) => [s.labels.stage ?? '', s])));
  }

  void poll();
  timer = window.setInterval(() => void poll(), POLL_MS);

  return h(
    'div',
    { class: 'page ingest-page' },
    status,
    tiles,
    charts,
    h(
      'div',
      { class: 'ingest-tables' },
      h('section', { class: 'panel' }, h('h3', {}, 'Write request latency (since start)'), latency),
      h('section', { class: 'panel' }, h('h3', {}, 'Per-stage timings (since start)'), stages),
      h('section', { class: 'panel' }, h('h3', {}, 'Rejected requests by code'), rejected),
    ),
  );
}

function quantileTable(label: string, rows: Array<[string, Sample]>): HTMLElement {
  return h(
    'table',
    { class: 'grid' },
    h('thead', {}, h('tr', {}, h('th', {}, label), h('th', { class: 'num' }, 'Count'), h('th', { class: 'num' }, 'p50'), h('th', { class: 'num' }, 'p95'), h('th', { class: 'num' }, 'p99'))),
    h(
      'tbody',
      {},
      ...rows.map(([name, s]) =>
        h('tr', {}, h('td', {}, h('code', {}, name)), h('td', { class: 'num' }, formatNumber(s.count ?? 0)), h('td', { class: 'num' }, formatMs(s.p50_ms ?? NaN)), h('td', { class: 'num' }, formatMs(s.p95_ms ?? NaN)), h('td', { class: 'num' }, formatMs(s.p99_ms ?? NaN))),
      ),
    ),
  );
}

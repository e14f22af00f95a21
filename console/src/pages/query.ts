import { tableFromIPC } from 'apache-arrow';
import type uPlot from 'uplot';
import { api, ApiError, SignedOut } from '../api.js';
import { resultColumns } from '../arrow-columns.js';
import { formatMs, formatNumber, h, replace } from '../dom.js';
import { SqlEditor } from '../editor.js';
import { loadHistory, remember, type HistoryEntry } from '../history.js';
import { VirtualTable } from '../results-table.js';
import { drawTimeChart, planChart } from '../time-chart.js';

const DATABASE_KEY = 'arc.console.database';

/** What the last render took, read by the browser test and shown under the table. */
export interface RenderReport {
  rows: number;
  columns: number;
  fetchMs: number;
  renderMs: number;
  chart: boolean;
}

declare global {
  interface Window {
    arcConsole?: { lastRender?: RenderReport };
  }
}

export function quoteName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The query page: editor, database picker, results as a virtual table and a time chart, history. */
export function queryPage(initialSql: string | null, initialDatabase: string | null): HTMLElement {
  const databaseSelect = h('select', { id: 'database', 'aria-label': 'Database' });
  const runButton = h('button', { id: 'run', class: 'primary', title: 'Ctrl+Enter' }, 'Run');
  const status = h('div', { id: 'query-status', class: 'status' });
  const errorBox = h('div', { id: 'query-error', class: 'error-box', hidden: true });
  const chartHost = h('div', { id: 'chart', class: 'chart' });
  const chartNote = h('div', { class: 'note' });
  const chartBox = h('section', { id: 'chart-box', class: 'panel', hidden: true }, h('h3', {}, 'Time series ', h('span', { class: 'hint' }, 'drag to zoom, double-click to reset')), chartHost, chartNote);
  const table = new VirtualTable();
  table.element.id = 'results';
  const historyList = h('ol', { id: 'history', class: 'history' });
  const editorHost = h('div', { id: 'editor', class: 'editor' });
  let plot: uPlot | null = null;
  let running = false;
  let runs = 0;

  const editor = new SqlEditor(editorHost, initialSql ?? loadHistory()[0]?.sql ?? '', () => void run());
  runButton.addEventListener('click', () => void run());

  const showHistory = (entries: HistoryEntry[]) =>
    replace(
      historyList,
      ...entries.map((entry) =>
        h(
          'li',
          {
            class: entry.error ? 'failed' : '',
            title: entry.error ?? `${entry.rows ?? 0} rows in ${formatMs(entry.ms ?? NaN)}`,
            onclick: () => {
              editor.text = entry.sql;
              if ([...databaseSelect.options].some((o) => o.value === entry.database)) databaseSelect.value = entry.database;
              editor.focus();
            },
          },
          h('code', {}, entry.sql),
          h('span', { class: 'meta' }, `${entry.database} · ${entry.error ? 'error' : `${formatNumber(entry.rows ?? 0)} rows`}`),
        ),
      ),
    );
  showHistory(loadHistory());

  async function run(): Promise<void> {
    const sql = editor.text.trim();
    if (sql === '' || running) return;
    running = true;
    runButton.disabled = true;
    errorBox.hidden = true;
    status.textContent = 'Running…';
    status.className = 'status running';
    const database = databaseSelect.value || 'default';
    try {
      const { bytes, fetchMs } = await api.queryArrow(sql, database);
      // The render clock covers decoding the Arrow stream, the table and the chart: all the browser does.
      const started = performance.now();
      const result = tableFromIPC(bytes);
      const columns = resultColumns(result);
      table.setData(columns, result.numRows);
      const plan = planChart(columns, result.numRows);
      chartBox.hidden = plan === null;
      if (plan) {
        const drawn = drawTimeChart(chartHost, plot, plan, result.numRows, Math.max(320, chartBox.clientWidth - 24));
        plot = drawn.plot;
        chartNote.textContent = drawn.omitted > 0 ? `${drawn.omitted} rows of further series not drawn (at most 12 lines)` : '';
      } else {
        plot?.destroy();
        plot = null;
      }
      const renderMs = performance.now() - started;
      window.arcConsole = { ...window.arcConsole, lastRender: { rows: result.numRows, columns: columns.length, fetchMs, renderMs, chart: plan !== null } };
      status.className = 'status ok';
      status.dataset.rows = String(result.numRows);
      status.dataset.renderMs = renderMs.toFixed(1);
      status.textContent = `${formatNumber(result.numRows)} rows · ${columns.length} columns · query ${formatMs(fetchMs)} · render ${formatMs(renderMs)} · ${formatNumber(bytes.length)} bytes of Arrow`;
      showHistory(remember({ sql, database, at: new Date().toISOString(), rows: result.numRows, ms: fetchMs, error: null }));
    } catch (err) {
      if (err instanceof SignedOut) return;
      const message = err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
      status.className = 'status failed';
      delete status.dataset.rows;
      delete status.dataset.renderMs;
      status.textContent = err instanceof ApiError ? `Failed (${err.status}${err.code ? ` ${err.code}` : ''})` : 'Failed';
      replace(errorBox, h('strong', {}, 'The query failed'), h('pre', {}, message));
      errorBox.hidden = false;
      showHistory(remember({ sql, database, at: new Date().toISOString(), rows: null, ms: null, error: message }));
    } finally {
      running = false;
      runButton.disabled = false;
      status.dataset.run = String(++runs);
    }
  }

  databaseSelect.addEventListener('change', () => {
    sessionStorage.setItem(DATABASE_KEY, databaseSelect.value);
    void loadSchema(editor, databaseSelect.value);
  });
  if (initialDatabase) sessionStorage.setItem(DATABASE_KEY, initialDatabase);
  void loadDatabases(databaseSelect).then(() => loadSchema(editor, databaseSelect.value));

  return h(
    'div',
    { class: 'page query-page' },
    h('div', { class: 'toolbar' }, h('label', {}, 'Database ', databaseSelect), runButton, status),
    editorHost,
    errorBox,
    chartBox,
    h('section', { class: 'panel results-panel' }, table.element),
    h('section', { class: 'panel' }, h('h3', {}, 'Recent queries'), historyList),
  );
}

async function loadDatabases(select: HTMLSelectElement): Promise<void> {
  try {
    const answer = await api.json<{ databases: Array<{ name: string }> }>('/api/v1/databases');
    const names = answer.databases.map((d) => d.name);
    if (!names.includes('default')) names.unshift('default');
    replace(select, ...names.map((name) => h('option', { value: name }, name)));
    const remembered = sessionStorage.getItem(DATABASE_KEY);
    select.value = remembered && names.includes(remembered) ? remembered : names.includes('default') ? 'default' : names[0]!;
  } catch (err) {
    if (!(err instanceof SignedOut)) replace(select, h('option', { value: 'default' }, 'default'));
  }
}

/** Completion names: every database's measurements, and the columns of the current database's measurements. */
async function loadSchema(editor: SqlEditor, database: string): Promise<void> {
  try {
    const { databases } = await api.json<{ databases: Array<{ name: string }> }>('/api/v1/databases');
    const schema: Record<string, Record<string, string[]>> = {};
    for (const { name } of databases) {
      if (name === database) {
        const { measurements } = await api.json<{ measurements: Array<{ name: string; columns: Array<{ name: string }> | null }> }>(`/api/v1/console/explore?database=${encodeURIComponent(name)}`);
        schema[name] = Object.fromEntries(measurements.map((m) => [m.name, (m.columns ?? []).map((c) => c.name)]));
      } else {
        const { measurements } = await api.json<{ measurements: Array<{ name: string }> }>(`/api/v1/databases/${encodeURIComponent(name)}/measurements`);
        schema[name] = Object.fromEntries(measurements.map((m) => [m.name, [] as string[]]));
      }
    }
    editor.setSchema(schema, database);
  } catch {
    // Completion is a convenience: without it the editor still works.
  } finally {
    editor.view.dom.parentElement?.setAttribute('data-schema', 'loaded');
  }
}

import { api, SignedOut } from '../api.js';
import { formatBytes, formatNumber, h, replace } from '../dom.js';
import { navigate } from '../router.js';
import { quoteName } from './query.js';

interface MeasurementOverview {
  name: string;
  file_count: number;
  bytes_on_disk: number;
  rows: number | null;
  first_time: string | null;
  last_time: string | null;
  columns: Array<{ name: string; type: string }> | null;
}

/** Explore: databases, then their measurements (rows, time range, files, bytes), then columns; a click gives a starter query. */
export function explorePage(): HTMLElement {
  const databases = h('ul', { id: 'explore-databases', class: 'pick-list' });
  const measurements = h('div', { id: 'explore-measurements' }, h('p', { class: 'hint' }, 'Pick a database.'));
  const columns = h('div', { id: 'explore-columns' });
  const message = h('p', { class: 'error-text', hidden: true });

  async function showDatabase(name: string, item: HTMLElement): Promise<void> {
    for (const other of databases.querySelectorAll('li')) other.classList.toggle('active', other === item);
    replace(measurements, h('p', { class: 'hint' }, `Reading ${name}…`));
    replace(columns);
    try {
      const answer = await api.json<{ measurements: MeasurementOverview[] }>(`/api/v1/console/explore?database=${encodeURIComponent(name)}`);
      if (answer.measurements.length === 0) {
        replace(measurements, h('p', { class: 'hint' }, `${name} has no measurements yet.`));
        return;
      }
      const rows = answer.measurements.map((m) =>
        h(
          'tr',
          { class: 'clickable', 'data-measurement': m.name, onclick: (event: Event) => showColumns(name, m, event.currentTarget as HTMLElement) },
          h('td', {}, m.name),
          h('td', { class: 'num' }, m.rows === null ? '–' : formatNumber(m.rows)),
          h('td', {}, m.first_time ?? '–'),
          h('td', {}, m.last_time ?? '–'),
          h('td', { class: 'num' }, m.file_count),
          h('td', { class: 'num' }, formatBytes(m.bytes_on_disk)),
          h('td', { class: 'num' }, m.columns?.length ?? '–'),
        ),
      );
      replace(
        measurements,
        h(
          'table',
          { class: 'grid' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Measurement'), h('th', { class: 'num' }, 'Rows'), h('th', {}, 'First'), h('th', {}, 'Last'), h('th', { class: 'num' }, 'Files'), h('th', { class: 'num' }, 'On disk'), h('th', { class: 'num' }, 'Columns'))),
          h('tbody', {}, ...rows),
        ),
      );
    } catch (err) {
      if (!(err instanceof SignedOut)) replace(measurements, h('p', { class: 'error-text' }, String((err as Error).message)));
    }
  }

  function showColumns(database: string, m: MeasurementOverview, row: HTMLElement): void {
    for (const other of measurements.querySelectorAll('tr')) other.classList.toggle('active', other === row);
    const starter = `SELECT *\nFROM ${quoteName(m.name)}\nORDER BY time DESC\nLIMIT 100`;
    const numeric = (m.columns ?? []).filter((c) => /INT|DOUBLE|FLOAT|DECIMAL/.test(c.type)).map((c) => c.name);
    const chart = numeric.length > 0 ? `SELECT time_bucket(INTERVAL '1 minute', time) AS time,\n  ${numeric.slice(0, 4).map((c) => `avg(${quoteName(c)}) AS ${quoteName(c)}`).join(',\n  ')}\nFROM ${quoteName(m.name)}\nGROUP BY 1\nORDER BY 1` : null;
    replace(
      columns,
      h('h3', {}, `${database}.${m.name}`),
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Column'), h('th', {}, 'Type'))),
        h('tbody', {}, ...(m.columns ?? []).map((c) => h('tr', {}, h('td', {}, h('code', {}, c.name)), h('td', {}, c.type)))),
      ),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { id: 'starter-query', class: 'primary', onclick: () => navigate('query', { database, sql: starter }) }, 'Query the latest rows'),
        chart && h('button', { id: 'starter-chart', onclick: () => navigate('query', { database, sql: chart }) }, 'Chart per minute'),
      ),
    );
  }

  void api
    .json<{ databases: Array<{ name: string; measurement_count: number }> }>('/api/v1/databases')
    .then(({ databases: list }) => {
      if (list.length === 0) replace(databases, h('li', { class: 'hint' }, 'No databases yet: write some rows.'));
      else
        replace(
          databases,
          ...list.map((d) => {
            const item: HTMLElement = h('li', { 'data-database': d.name, onclick: () => void showDatabase(d.name, item) }, d.name, h('span', { class: 'meta' }, String(d.measurement_count)));
            return item;
          }),
        );
    })
    .catch((err: unknown) => {
      if (err instanceof SignedOut) return;
      message.textContent = String((err as Error).message);
      message.hidden = false;
    });

  return h(
    'div',
    { class: 'page explore-page' },
    message,
    h('div', { class: 'explore-grid' }, h('section', { class: 'panel' }, h('h3', {}, 'Databases'), databases), h('section', { class: 'panel' }, h('h3', {}, 'Measurements'), measurements), h('section', { class: 'panel' }, columns)),
  );
}

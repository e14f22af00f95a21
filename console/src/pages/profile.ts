import { analyze, cpuTree, heapTree, type CpuProfile, type HeapProfile, type TreeNode } from '../../../src/cli/profile/analyze.js';
import { api, SignedOut } from '../api.js';
import { formatNumber, h, replace } from '../dom.js';
import { Flamegraph, flameTree, STAGE_COLORS } from '../flamegraph.js';

interface ProfileAnswer {
  kind: 'cpu' | 'heap';
  seconds: number;
  started_at: string;
  threads: Array<{ name: string; profile: object }>;
}

/** Profile: records `arc profile`'s server-side profile (POST /api/v1/debug/profile) and shows its flamegraph and stage table. */
export function profilePage(): HTMLElement {
  const seconds = h('input', { id: 'profile-seconds', type: 'number', min: 1, max: 600, value: 5 });
  const kind = h('select', { id: 'profile-kind' }, h('option', { value: 'cpu' }, 'CPU'), h('option', { value: 'heap' }, 'heap allocations'));
  const start = h('button', { id: 'profile-start', class: 'primary' }, 'Record');
  const status = h('span', { id: 'profile-status', class: 'status' });
  const stages = h('div', { id: 'profile-stages' });
  const top = h('div', { id: 'profile-top' });
  const flame = h('div', { id: 'profile-flame' });

  start.addEventListener('click', () => {
    const n = Number(seconds.value);
    start.disabled = true;
    status.className = 'status running';
    status.textContent = `Recording every thread for ${n} s…`;
    api
      .json<ProfileAnswer>(`/api/v1/debug/profile?seconds=${encodeURIComponent(String(n))}&kind=${kind.value}`, { method: 'POST' })
      .then((answer) => show(answer))
      .catch((err: unknown) => {
        if (err instanceof SignedOut) return;
        status.className = 'status failed';
        status.textContent = (err as Error).message;
      })
      .finally(() => (start.disabled = false));
  });

  function show(answer: ProfileAnswer): void {
    const unit = answer.kind === 'cpu' ? 'us' : 'bytes';
    const threads = answer.threads.map((t) => ({ name: t.name, profile: (answer.kind === 'cpu' ? cpuTree(t.profile as CpuProfile) : heapTree(t.profile as HeapProfile)) as TreeNode }));
    const analysis = analyze(threads, unit);
    const format = (value: number) => (unit === 'us' ? `${formatNumber(value / 1000)} ms` : `${formatNumber(value / 1024)} KB`);
    status.className = 'status ok';
    status.textContent = `${answer.kind} profile of ${answer.threads.length} threads, ${answer.seconds} s from ${answer.started_at}`;
    const names = Object.keys(analysis.threads);
    replace(
      stages,
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Stage'), h('th', { class: 'num' }, unit === 'us' ? 'Time' : 'Allocated'), h('th', { class: 'num' }, 'Share'), ...names.map((n) => h('th', { class: 'num' }, n)))),
        h(
          'tbody',
          {},
          ...analysis.stages.map((row) => {
            const swatch = h('span', { class: 'swatch' });
            swatch.style.background = STAGE_COLORS[row.stage];
            return h('tr', { 'data-stage': row.stage }, h('td', {}, swatch, row.stage), h('td', { class: 'num' }, format(row.value)), h('td', { class: 'num' }, `${row.percent.toFixed(1)}%`), ...names.map((n) => h('td', { class: 'num' }, format(row.byThread[n] ?? 0))));
          }),
        ),
      ),
    );
    replace(
      top,
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Function'), h('th', {}, 'Where'), h('th', {}, 'Stage'), h('th', { class: 'num' }, 'Self'), h('th', { class: 'num' }, 'Share'))),
        h('tbody', {}, ...analysis.top.slice(0, 12).map((row) => h('tr', {}, h('td', {}, h('code', {}, row.name)), h('td', {}, row.location), h('td', {}, row.stage), h('td', { class: 'num' }, format(row.value)), h('td', { class: 'num' }, `${row.percent.toFixed(1)}%`)))),
      ),
    );
    replace(flame, new Flamegraph(flameTree(threads), unit).element);
  }

  return h(
    'div',
    { class: 'page profile-page' },
    h('div', { class: 'toolbar' }, h('label', {}, 'Seconds ', seconds), h('label', {}, 'Kind ', kind), start, status),
    h('p', { class: 'hint' }, 'Profiles the running server (main thread and flush workers) without a restart, like `arc profile`. Click a bar to zoom in, the top bars to zoom out.'),
    h('section', { class: 'panel' }, h('h3', {}, 'Flamegraph (idle time left out)'), flame),
    h('div', { class: 'ingest-tables' }, h('section', { class: 'panel' }, h('h3', {}, 'Where the time went, by stage'), stages), h('section', { class: 'panel' }, h('h3', {}, 'Hottest functions'), top)),
  );
}

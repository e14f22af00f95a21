import { api, SignedOut } from '../api.js';
import { h, replace } from '../dom.js';
import { retentionPanel } from './retention-panel.js';

interface TokenInfo {
  id: number;
  name: string;
  description?: string;
  permissions: string[];
  created_at: string;
  last_used_at?: string;
  enabled: boolean;
  expires_at: string | null;
}

/** The fields of GET /api/v1/continuous_queries the Admin page shows (README "Continuous queries"). */
interface ContinuousQuery {
  id: number;
  name: string;
  description: string | null;
  database: string;
  source_measurement: string;
  destination_measurement: string;
  query: string;
  interval: string;
  is_active: boolean;
  last_execution_time: string | null;
  last_execution_status: string | null;
  last_processed_time: string | null;
  last_records_written: number | null;
}

const PERMISSIONS = ['read', 'write', 'delete', 'admin'];

/** Admin: tokens (list, create, rotate, revoke, delete), retention policies, compaction status, continuous queries. */
export function adminPage(): HTMLElement {
  const tokens = h('div', { id: 'admin-tokens' });
  const created = h('div', { id: 'admin-created', class: 'created-token', hidden: true });
  const message = h('p', { id: 'admin-message', class: 'hint' });
  const name = h('input', { id: 'new-token-name', placeholder: 'name, e.g. telegraf-prod' });
  const description = h('input', { id: 'new-token-description', placeholder: 'description (optional)' });
  const expires = h('input', { id: 'new-token-expires', placeholder: 'expires in, e.g. 720h (optional)' });
  const boxes = PERMISSIONS.map((p) => h('input', { type: 'checkbox', value: p, 'data-permission': p, checked: p === 'read' }));
  const compaction = h('div', { id: 'admin-compaction' });
  const cqs = h('div', { id: 'admin-cqs' });

  const fail = (err: unknown) => {
    if (err instanceof SignedOut) return;
    message.className = 'error-text';
    message.textContent = (err as Error).message;
  };
  const tell = (text: string) => {
    message.className = 'status ok';
    message.textContent = text;
  };
  const showSecret = (label: string, token: string) => {
    replace(created, h('strong', {}, label), h('code', { id: 'created-token-value' }, token), h('span', { class: 'hint' }, 'Shown once: the server keeps only a hash.'));
    created.hidden = false;
  };

  async function loadTokens(): Promise<void> {
    const { tokens: list } = await api.json<{ tokens: TokenInfo[] }>('/api/v1/auth/tokens');
    const action = (label: string, run: () => Promise<void>, danger = false) =>
      h('button', { class: danger ? 'danger' : '', 'data-action': label.toLowerCase(), onclick: () => void run().catch(fail) }, label);
    replace(
      tokens,
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Id'), h('th', {}, 'Name'), h('th', {}, 'Permissions'), h('th', {}, 'State'), h('th', {}, 'Created'), h('th', {}, 'Last used'), h('th', {}, 'Expires'), h('th', {}, ''))),
        h(
          'tbody',
          {},
          ...list.map((t) =>
            h(
              'tr',
              { 'data-token': t.name, class: t.enabled ? '' : 'revoked' },
              h('td', {}, t.id),
              h('td', { title: t.description ?? '' }, t.name),
              h('td', {}, t.permissions.join(', ')),
              h('td', { class: 'state' }, t.enabled ? 'active' : 'revoked'),
              h('td', {}, t.created_at),
              h('td', {}, t.last_used_at ?? '–'),
              h('td', {}, t.expires_at ?? 'never'),
              h(
                'td',
                { class: 'actions' },
                action('Rotate', async () => {
                  const answer = await api.send<{ new_token: string }>('POST', `/api/v1/auth/tokens/${t.id}/rotate`);
                  showSecret(`New token for ${t.name}:`, answer.new_token);
                  tell(`Rotated ${t.name}: the old token no longer works.`);
                  await loadTokens();
                }),
                t.enabled &&
                  action('Revoke', async () => {
                    await api.send('POST', `/api/v1/auth/tokens/${t.id}/revoke`);
                    tell(`Revoked ${t.name}.`);
                    await loadTokens();
                  }, true),
                action('Delete', async () => {
                  if (!window.confirm(`Delete token ${t.name}?`)) return;
                  await api.send('DELETE', `/api/v1/auth/tokens/${t.id}`);
                  tell(`Deleted ${t.name}.`);
                  await loadTokens();
                }, true),
              ),
            ),
          ),
        ),
      ),
    );
  }

  const createForm = h(
    'form',
    { id: 'new-token', class: 'toolbar' },
    name,
    description,
    ...boxes.map((box) => h('label', { class: 'check' }, box, box.value)),
    expires,
    h('button', { class: 'primary', type: 'submit', id: 'create-token' }, 'Create token'),
  );
  createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      description: description.value.trim() || undefined,
      permissions: boxes.filter((b) => b.checked).map((b) => b.value),
      expires_in: expires.value.trim() || undefined,
    };
    api
      .send<{ token: string }>('POST', '/api/v1/auth/tokens', body)
      .then(async (answer) => {
        showSecret(`Token ${body.name}:`, answer.token);
        tell(`Created ${body.name} (${body.permissions.join(', ')}).`);
        name.value = '';
        await loadTokens();
      })
      .catch(fail);
  });

  const info = api.info;
  if (info?.auth_enabled) void loadTokens().catch(fail);
  else replace(tokens, h('p', { class: 'hint' }, 'Authentication is off (auth.enabled = false): there are no tokens.'));
  if (info?.compaction_enabled) void api.json<unknown>('/api/v1/compaction/status').then((s) => replace(compaction, view(s))).catch(fail);
  else replace(compaction, h('p', { class: 'hint' }, 'Compaction is off (compaction.enabled = false).'));
  if (info?.continuous_queries_enabled) void api.json<ContinuousQuery[] | null>('/api/v1/continuous_queries').then((list) => replace(cqs, cqTable(list ?? []))).catch(fail);
  else replace(cqs, h('p', { class: 'hint' }, 'Continuous queries are off (continuous_query.enabled = false).'));

  return h(
    'div',
    { class: 'page admin-page' },
    message,
    h('section', { class: 'panel' }, h('h3', {}, 'Tokens'), info?.auth_enabled && createForm, created, tokens),
    retentionPanel(),
    h('div', { class: 'ingest-tables' }, h('section', { class: 'panel' }, h('h3', {}, 'Compaction status'), compaction), h('section', { class: 'panel' }, h('h3', {}, 'Continuous queries'), cqs)),
  );
}

/** One row per continuous query; its SQL is the name's tooltip (a column of it would be most of the page). */
function cqTable(list: ContinuousQuery[]): HTMLElement {
  if (list.length === 0) return h('p', { class: 'hint' }, 'None.');
  const titles = ['Id', 'Name', 'Database', 'Source → destination', 'Interval', 'Active', 'Last run', 'Processed up to'];
  return h(
    'table',
    { class: 'grid' },
    h('thead', {}, h('tr', {}, ...titles.map((title) => h('th', {}, title)))),
    h(
      'tbody',
      {},
      ...list.map((cq) =>
        h(
          'tr',
          { 'data-name': cq.name, class: cq.is_active ? '' : 'revoked' },
          h('td', {}, cq.id),
          h('td', { title: cq.description ? `${cq.description}\n\n${cq.query}` : cq.query }, cq.name),
          h('td', {}, cq.database),
          h('td', {}, `${cq.source_measurement} → ${cq.destination_measurement}`),
          h('td', {}, cq.interval),
          h('td', {}, cq.is_active ? 'yes' : 'no'),
          h('td', { class: 'last-run' }, cq.last_execution_time === null ? 'never' : `${cq.last_execution_time} · ${cq.last_execution_status ?? '?'} · ${cq.last_records_written ?? 0} rows`),
          h('td', {}, cq.last_processed_time ?? '–'),
        ),
      ),
    ),
  );
}

/** Any JSON answer as tables: objects as key/value rows, arrays of objects with a column per key. */
function view(value: unknown): HTMLElement {
  if (value === null) return h('p', { class: 'hint' }, 'None.');
  if (Array.isArray(value)) {
    if (value.length === 0) return h('p', { class: 'hint' }, 'None.');
    if (value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
      const keys = [...new Set(value.flatMap((v) => Object.keys(v as object)))];
      return h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ...keys.map((k) => h('th', {}, k)))), h('tbody', {}, ...value.map((row) => h('tr', {}, ...keys.map((k) => h('td', {}, cell((row as Record<string, unknown>)[k])))))));
    }
    return h('code', {}, JSON.stringify(value));
  }
  if (value !== null && typeof value === 'object') {
    const entries = flatten(value as Record<string, unknown>);
    // A wrapper like {"jobs": [...], "count": 2} shows its list.
    const list = entries.find(([, v]) => Array.isArray(v) && v.length > 0 && typeof v[0] === 'object');
    return h('div', {}, h('table', { class: 'grid kv' }, h('tbody', {}, ...entries.filter(([, v]) => v !== list?.[1]).map(([k, v]) => h('tr', { 'data-key': k }, h('th', {}, k), h('td', {}, cell(v)))))), list && view(list[1]));
  }
  return h('code', {}, JSON.stringify(value));
}

/** Nested objects as dotted keys (compaction status: manager.total_completed, schedulers.hourly.next_run), so no cell holds JSON. */
function flatten(value: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  return Object.entries(value).flatMap(([key, v]): Array<[string, unknown]> =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 ? flatten(v as Record<string, unknown>, `${prefix}${key}.`) : [[`${prefix}${key}`, v]],
  );
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

import { api, ApiError, SignedOut } from '../api.js';
import { formatNumber, h, replace } from '../dom.js';

/** A policy as GET /api/v1/retention lists it (Arc's object, README "Retention policies"). */
interface Policy {
  id: number;
  name: string;
  database: string;
  measurement: string | null;
  retention_days: number;
  buffer_days: number;
  is_active: boolean;
  last_execution_time: string | null;
  last_execution_status: string | null;
  last_deleted_count: number | null;
}

/** POST /api/v1/retention/:id/execute's answer. */
interface RunResult {
  policy_name: string;
  deleted_count: number;
  files_deleted: number;
  files_rewritten: number;
  execution_time_ms: number;
  dry_run: boolean;
  cutoff_date: string;
  affected_measurements: string[] | null;
}

/**
 * Retention policies on the Admin page: list, create, dry run (what a run would delete), run,
 * delete — each a call of /api/v1/retention. The form leaves checking to the server (novalidate,
 * nothing refused in the page), so what it says is the API's own message.
 */
export function retentionPanel(): HTMLElement {
  const section = h('section', { class: 'panel', id: 'admin-retention' }, h('h3', {}, 'Retention policies'));
  if (!api.info?.retention_enabled) {
    section.append(h('p', { class: 'hint' }, 'Retention is off (retention.enabled = false): /api/v1/retention is absent.'));
    return section;
  }
  const list = h('div', { id: 'retention-list' });
  const message = h('p', { id: 'retention-message', class: 'hint' }, 'A run removes every row older than retention + buffer days; a dry run only counts them.');
  const result = h('div', { id: 'retention-result', class: 'run-result', hidden: true });
  const name = h('input', { id: 'retention-name', placeholder: 'name, e.g. raw-30d' });
  const databases = h('datalist', { id: 'retention-databases' });
  const database = h('input', { id: 'retention-database', placeholder: 'database', list: 'retention-databases' });
  const measurement = h('input', { id: 'retention-measurement', placeholder: 'measurement (all)', title: 'Empty: every measurement of the database' });
  const days = h('input', { id: 'retention-days', type: 'number', min: 1, step: 1, placeholder: 'retention days', class: 'narrow' });
  const buffer = h('input', { id: 'retention-buffer', type: 'number', min: 0, step: 1, placeholder: 'buffer days (0)', class: 'narrow' });
  const active = h('input', { id: 'retention-active', type: 'checkbox', checked: true });
  const create = h('button', { class: 'primary', type: 'submit', id: 'create-retention' }, 'Create policy');

  const fail = (err: unknown) => {
    if (err instanceof SignedOut) return;
    message.className = 'error-text';
    message.textContent = err instanceof ApiError && err.code ? `${err.message} (${err.status} ${err.code})` : (err as Error).message;
  };
  const tell = (text: string) => {
    message.className = 'status ok';
    message.textContent = text;
  };
  const showResult = (policy: Policy, answer: RunResult) => {
    const measurements = answer.affected_measurements?.join(', ') ?? 'none';
    const text = answer.dry_run
      ? `Dry run of ${policy.name}: would delete ${formatNumber(answer.deleted_count)} rows older than ${answer.cutoff_date} (${formatNumber(answer.files_deleted)} files affected; measurements: ${measurements}).`
      : `Ran ${policy.name}: deleted ${formatNumber(answer.deleted_count)} rows older than ${answer.cutoff_date}; ${formatNumber(answer.files_deleted)} files deleted, ${formatNumber(answer.files_rewritten)} rewritten, in ${formatNumber(answer.execution_time_ms)} ms (measurements: ${measurements}).`;
    replace(result, h('span', { 'data-deleted': answer.deleted_count, 'data-dry-run': String(answer.dry_run) }, text));
    result.hidden = false;
  };

  async function load(): Promise<void> {
    // Arc answers an empty list with null.
    const policies = (await api.json<Policy[] | null>('/api/v1/retention')) ?? [];
    if (policies.length === 0) {
      replace(list, h('p', { class: 'hint' }, 'No retention policies.'));
      return;
    }
    // Disabled while its call runs: a double click on Run would otherwise start two runs.
    const action = (label: string, key: string, run: () => Promise<void>, danger = false) => {
      const button = h('button', { class: danger ? 'danger' : '', 'data-action': key }, label);
      button.addEventListener('click', () => {
        button.disabled = true;
        void run()
          .catch(fail)
          .finally(() => (button.disabled = false));
      });
      return button;
    };
    const execute = async (policy: Policy, dryRun: boolean) => {
      const answer = await api.send<RunResult>('POST', `/api/v1/retention/${policy.id}/execute`, dryRun ? { dry_run: true } : { confirm: true });
      showResult(policy, answer);
      tell(dryRun ? `Dry run of ${policy.name} done: nothing was deleted.` : `Ran ${policy.name}.`);
      await load();
    };
    replace(
      list,
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, ...['Id', 'Name', 'Database', 'Measurement', 'Retention days', 'Buffer days', 'Active', 'Last run', ''].map((title) => h('th', { class: title.endsWith(' days') ? 'num' : '' }, title)))),
        h(
          'tbody',
          {},
          ...policies.map((p) =>
            h(
              'tr',
              { 'data-policy': p.name, class: p.is_active ? '' : 'revoked' },
              h('td', {}, p.id),
              h('td', {}, p.name),
              h('td', {}, p.database),
              h('td', {}, p.measurement ?? 'all'),
              h('td', { class: 'num' }, p.retention_days),
              h('td', { class: 'num' }, p.buffer_days),
              h('td', {}, p.is_active ? 'yes' : 'no'),
              h('td', { class: 'last-run' }, p.last_execution_time === null ? 'never' : `${p.last_execution_time} · ${p.last_execution_status} · ${formatNumber(p.last_deleted_count ?? 0)} rows`),
              h(
                'td',
                { class: 'actions' },
                action('Dry run', 'dry-run', () => execute(p, true)),
                action('Run', 'run', async () => {
                  if (!window.confirm(`Run ${p.name} now? Rows of ${p.database}.${p.measurement ?? '*'} older than ${p.retention_days + p.buffer_days} days are deleted for good.`)) return;
                  await execute(p, false);
                }, true),
                action('Delete', 'delete', async () => {
                  if (!window.confirm(`Delete retention policy ${p.name}? Its data stays; it just stops being trimmed.`)) return;
                  await api.send('DELETE', `/api/v1/retention/${p.id}`);
                  tell(`Deleted policy ${p.name}.`);
                  await load();
                }, true),
              ),
            ),
          ),
        ),
      ),
    );
  }

  const form = h(
    'form',
    { id: 'new-retention', class: 'toolbar', novalidate: true },
    name,
    database,
    databases,
    measurement,
    days,
    buffer,
    h('label', { class: 'check' }, active, 'active'),
    create,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    // Empty fields are left out, so the server's defaults and checks apply (an empty name: "name is required").
    const number = (input: HTMLInputElement) => (input.value.trim() === '' ? undefined : Number(input.value));
    const body = {
      name: name.value.trim(),
      database: database.value.trim(),
      measurement: measurement.value.trim() || undefined,
      retention_days: number(days),
      buffer_days: number(buffer),
      is_active: active.checked,
    };
    create.disabled = true;
    api
      .send<Policy>('POST', '/api/v1/retention', body)
      .then(async (created) => {
        tell(`Created policy ${created.name} (id ${created.id}).`);
        name.value = '';
        await load();
      })
      .catch(fail)
      .finally(() => (create.disabled = false));
  });

  void load().catch(fail);
  // Suggestions for the database field; the field takes any name (a policy may precede its data).
  void api
    .json<{ databases: Array<{ name: string }> }>('/api/v1/databases')
    .then(({ databases: names }) => replace(databases, ...names.map((d) => h('option', { value: d.name }))))
    .catch(() => undefined);
  section.append(form, message, result, list);
  return section;
}

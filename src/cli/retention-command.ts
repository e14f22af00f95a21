import { parseArgs } from 'node:util';
import { authorization, serverUrl } from './profile/profile-command.js';

export const RETENTION_HELP = `usage: arc retention list [--json] [--url URL] [--data DIR] [--token TOKEN]

Lists the retention policies of the running server (GET /api/v1/retention): id, name, database,
measurement (* = every measurement), retention and buffer days, active, and the last run's time,
status and deleted rows. Needs a valid token with authentication on (--token or ARC_TOKEN).
`;

interface RetentionPolicy {
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

export async function retention(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, url: { type: 'string' }, data: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help || positionals[0] !== 'list') {
    process.stdout.write(RETENTION_HELP);
    return values.help ? 0 : 2;
  }
  const url = values.url ?? serverUrl(values.data);
  const response = await fetch(new URL('/api/v1/retention', url), { headers: authorization(values.token) });
  const body = (await response.json()) as RetentionPolicy[] | null | { error?: string };
  if (!response.ok) throw new Error(`GET /api/v1/retention: ${response.status} ${(body as { error?: string }).error ?? ''}`);
  const list = (body as RetentionPolicy[] | null) ?? [];
  if (values.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  if (list.length === 0) {
    process.stdout.write('no retention policies\n');
    return 0;
  }
  const rows = [['ID', 'NAME', 'DATABASE', 'MEASUREMENT', 'KEEP', 'ACTIVE', 'LAST RUN', 'STATUS', 'DELETED']];
  for (const p of list) {
    const keep = p.buffer_days > 0 ? `${p.retention_days}d+${p.buffer_days}d` : `${p.retention_days}d`;
    rows.push([String(p.id), p.name, p.database, p.measurement ?? '*', keep, p.is_active ? 'yes' : 'no', p.last_execution_time ?? '-', p.last_execution_status ?? '-', p.last_deleted_count === null ? '-' : String(p.last_deleted_count)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  return 0;
}

import { parseArgs } from 'node:util';
import { authorization, serverUrl } from './profile/profile-command.js';

export const CQ_HELP = `usage: arc cq list [--database DB] [--json] [--url URL] [--data DIR] [--token TOKEN]

Lists the continuous queries of the running server (GET /api/v1/continuous_queries): id, name,
database, source → destination, interval, active, watermark (last_processed_time) and the last
run's status. Needs an admin token with authentication on (--token or ARC_TOKEN).
`;

interface ContinuousQuery {
  id: number;
  name: string;
  database: string;
  source_measurement: string;
  destination_measurement: string;
  interval: string;
  is_active: boolean;
  last_processed_time: string | null;
  last_execution_status: string | null;
}

export async function cq(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { database: { type: 'string' }, json: { type: 'boolean', default: false }, url: { type: 'string' }, data: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help || positionals[0] !== 'list') {
    process.stdout.write(CQ_HELP);
    return values.help ? 0 : 2;
  }
  const url = values.url ?? serverUrl(values.data);
  const query = values.database ? `?${new URLSearchParams({ database: values.database })}` : '';
  const response = await fetch(new URL(`/api/v1/continuous_queries${query}`, url), { headers: authorization(values.token) });
  const body = (await response.json()) as ContinuousQuery[] | null | { error?: string };
  if (!response.ok) throw new Error(`GET /api/v1/continuous_queries: ${response.status} ${(body as { error?: string }).error ?? ''}`);
  const list = (body as ContinuousQuery[] | null) ?? [];
  if (values.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  if (list.length === 0) {
    process.stdout.write('no continuous queries\n');
    return 0;
  }
  const rows = [['ID', 'NAME', 'DATABASE', 'SOURCE → DESTINATION', 'INTERVAL', 'ACTIVE', 'WATERMARK', 'LAST RUN']];
  for (const c of list) {
    rows.push([String(c.id), c.name, c.database, `${c.source_measurement} → ${c.destination_measurement}`, c.interval, c.is_active ? 'yes' : 'no', c.last_processed_time ?? '-', c.last_execution_status ?? '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  return 0;
}

import path from 'node:path';
import { parseArgs } from 'node:util';
import { restoreBackup } from '../backup/restore.js';
import { loadConfig } from '../config/config.js';
import { readServerInfo } from '../server/arc-server.js';
import { isProcessAlive } from '../storage/directory-lock.js';
import { authorization, serverUrl } from './profile/profile-command.js';
import { UsageError } from './serve.js';

export const BACKUP_HELP = `usage: arc backup [create] [--no-wait]   start a backup and wait until it is complete
       arc backup list | show ID | delete ID | status
       arc restore ID --confirm [--config FILE] [--from DIR]

backup talks to the running server (admin token: --token or ARC_TOKEN; --url or --data to find it).
restore runs with the server stopped: it replaces the data set of storage.local_path, the token
store (auth.db_path) and empties the write-ahead log with the backup's; what it replaces is moved to
<storage.local_path>/.restore-previous-<time>/. --from is backup.directory (default from the config).
`;

export async function backupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, data: { type: 'string' }, token: { type: 'string' }, 'no-wait': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(BACKUP_HELP);
    return 0;
  }
  const [sub = 'create', id] = positionals;
  const url = values.url ?? serverUrl(values.data);
  const call = async (method: string, route: string) => {
    const response = await fetch(new URL(route, url), { method, headers: authorization(values.token) });
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };
  switch (sub) {
    case 'create': {
      const started = await call('POST', '/api/v1/backup');
      const backupId = String(started.backup_id);
      process.stderr.write(`backup ${backupId} started\n`);
      if (values['no-wait']) return 0;
      for (;;) {
        const status = await call('GET', '/api/v1/backup/status');
        const last = status.last as { id: string; state: string; error?: string } | null;
        if (status.state === 'idle' && last?.id === backupId) {
          if (last.state !== 'complete') throw new Error(`backup ${backupId} failed: ${last.error}`);
          const { backup } = (await call('GET', `/api/v1/backup/${backupId}`)) as { backup: { file_count: number; bytes: number; rows: number | null } };
          process.stdout.write(`backup ${backupId} complete: ${backup.file_count} files, ${backup.bytes} bytes, ${backup.rows ?? 'unknown'} rows\n`);
          return 0;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    case 'list':
      process.stdout.write(`${JSON.stringify((await call('GET', '/api/v1/backup')).backups, null, 2)}\n`);
      return 0;
    case 'status':
      process.stdout.write(`${JSON.stringify(await call('GET', '/api/v1/backup/status'), null, 2)}\n`);
      return 0;
    case 'show':
    case 'delete':
      if (!id) throw new UsageError(`arc backup ${sub}: give the backup ID`);
      process.stdout.write(`${JSON.stringify(await call(sub === 'show' ? 'GET' : 'DELETE', `/api/v1/backup/${encodeURIComponent(id)}`), null, 2)}\n`);
      return 0;
    default:
      throw new UsageError(`arc backup: unknown subcommand ${sub}\n\n${BACKUP_HELP}`);
  }
}

export async function restoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { confirm: { type: 'boolean', default: false }, config: { type: 'string' }, from: { type: 'string' }, help: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(BACKUP_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`arc restore: give exactly one backup ID\n\n${BACKUP_HELP}`);
  if (!values.confirm) throw new UsageError('arc restore replaces the data set; add --confirm');
  const { config } = loadConfig(values.config === undefined ? {} : { file: values.config });
  const root = path.resolve(config.storage.localPath);
  const info = readServerInfo(root);
  if (info && isProcessAlive(info.pid)) throw new Error(`a server (pid ${info.pid}) is running on ${root}; stop it first`);
  const backupDir = path.join(path.resolve(values.from ?? config.backup.directory), positionals[0]!);
  const report = await restoreBackup(backupDir, { root, authDbPath: config.auth.dbPath, walDirectory: config.wal.directory });
  process.stdout.write(`restored ${report.files} files (${report.bytes} bytes) into ${root}; the replaced data set is in ${report.previous}\n`);
  return 0;
}

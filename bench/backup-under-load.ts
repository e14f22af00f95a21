/**
 * Backup under load (issue #15): a server takes `arc bench` writes; mid-run a backup is taken; the
 * bench ends, the server stops, its data directory and token store are wiped, `arc restore` puts the
 * backup back, and the restarted server must hold at least every record acknowledged before the backup
 * began (arc_ingest_records_total read just before POST /api/v1/backup) and exactly the rows the
 * backup's manifest lists (none twice).
 *
 *   node dist/bench/backup-under-load.js [--duration 20] [--backup-at 8] [--workers 8] [--wal] [--dir DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');
const TOKEN = 'backup-under-load-admin-token-0123456789';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    'backup-at': { type: 'string', default: '8' },
    workers: { type: 'string', default: '8' },
    wal: { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});
const dir = path.resolve(values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'arc-backup-load-')));
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? os.tmpdir(),
  ARC_SERVER_HOST: '127.0.0.1',
  ARC_SERVER_PORT: '0',
  ARC_LOG_FORMAT: 'json',
  ARC_STORAGE_LOCAL_PATH: path.join(dir, 'data'),
  ARC_AUTH_DB_PATH: path.join(dir, 'arc.db'),
  ARC_AUTH_BOOTSTRAP_TOKEN: TOKEN,
  ARC_BACKUP_DIRECTORY: path.join(dir, 'backups'),
  ARC_WAL_DIRECTORY: path.join(dir, 'wal'),
  ARC_WAL_ENABLED: values.wal ? 'true' : 'false',
};
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

function start(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC, 'serve'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('arc-ts listening'));
      if (line) resolve({ child, url: (JSON.parse(line) as { url: string }).url });
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

async function acknowledged(url: string): Promise<number> {
  const snapshot = (await (await fetch(`${url}/api/v1/metrics`, { headers })).json()) as Record<string, Array<{ value?: number }>>;
  return (snapshot.arc_ingest_records_total ?? []).reduce((n, s) => n + (s.value ?? 0), 0);
}

async function count(url: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/query`, { method: 'POST', headers, body: JSON.stringify({ sql: "SELECT (SELECT count(*) FROM bench.cpu) + (SELECT count(*) FROM bench.mem) + (SELECT count(*) FROM bench.disk) + (SELECT count(*) FROM bench.net)" }) });
  return ((await response.json()) as { data: number[][] }).data[0]![0]!;
}

let server = await start();
const bench = spawn(process.execPath, [ARC, 'bench', '--url', server.url, `--token=${TOKEN}`, '--duration', values.duration!, '--workers', values.workers!], { stdio: ['ignore', 'inherit', 'inherit'] });
const benchDone = new Promise((resolve) => bench.once('exit', resolve));
await new Promise((resolve) => setTimeout(resolve, Number(values['backup-at']) * 1000));
const before = await acknowledged(server.url);
const started = (await (await fetch(`${server.url}/api/v1/backup`, { method: 'POST', headers })).json()) as { backup_id: string };
const id = started.backup_id;
for (;;) {
  const status = (await (await fetch(`${server.url}/api/v1/backup/status`, { headers })).json()) as { state: string; last?: { id: string; state: string; error?: string } };
  if (status.state === 'idle' && status.last?.id === id) {
    if (status.last.state !== 'complete') throw new Error(`backup failed: ${status.last.error}`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const manifest = ((await (await fetch(`${server.url}/api/v1/backup/${id}`, { headers })).json()) as { backup: { rows: number; file_count: number; bytes: number; created_at: string; completed_at: string } }).backup;
await benchDone;
await stop(server.child);
fs.rmSync(env.ARC_STORAGE_LOCAL_PATH!, { recursive: true, force: true });
fs.rmSync(env.ARC_AUTH_DB_PATH!, { force: true });
const restore = spawn(process.execPath, [ARC, 'restore', id, '--confirm'], { env, cwd: dir, stdio: 'inherit' });
if ((await new Promise((resolve) => restore.once('exit', resolve))) !== 0) throw new Error('arc restore failed');
server = await start();
const stored = await count(server.url);
await stop(server.child);
const ok = stored >= before && stored === manifest.rows;
process.stdout.write(
  `${JSON.stringify({ backup: id, acknowledged_before_backup: before, backup_rows: manifest.rows, restored_rows: stored, files: manifest.file_count, bytes: manifest.bytes, started: manifest.created_at, completed: manifest.completed_at, ok })}\n`,
);
if (!ok) process.exitCode = 1;

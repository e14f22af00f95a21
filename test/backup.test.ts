import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ARC_BIN, get, post, startServer, tempDir } from './helpers/server.js';

/** Backup under write load, then stop, wipe, restore (issue #15): acknowledged-before rows all there, none twice. */
const ADMIN = 'backup-test-admin-token-0123456789abcdef';

function arc(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ARC_BIN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

test('a backup taken under load restores every row acknowledged before it began, once; tokens come back', async () => {
  const dir = tempDir('arc-backup-');
  const env = {
    ARC_STORAGE_LOCAL_PATH: path.join(dir, 'data'),
    ARC_AUTH_ENABLED: 'true',
    ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN,
    ARC_AUTH_DB_PATH: path.join(dir, 'arc.db'),
    ARC_BACKUP_DIRECTORY: path.join(dir, 'backups'),
    ARC_WAL_DIRECTORY: path.join(dir, 'wal'),
    ARC_INGEST_MAX_BUFFER_SIZE: '300',
    ARC_INGEST_MAX_BUFFER_AGE_MS: '200',
  };
  const auth = { authorization: `Bearer ${ADMIN}` };
  let server = await startServer({ root: env.ARC_STORAGE_LOCAL_PATH, env });
  const token = await post(server, '/api/v1/auth/tokens', JSON.stringify({ name: 'kept', permissions: ['read'] }), { ...auth, 'content-type': 'application/json' });
  assert.equal(token.status, 201, token.text);

  const acked: Array<{ seq: number; at: number }> = [];
  let next = 0;
  let running = true;
  const writer = async () => {
    while (running) {
      const first = next;
      next += 50;
      const body = Array.from({ length: 50 }, (_, i) => `load,w=a seq=${first + i}i ${1_735_689_600_000_000_000 + (first + i) * 1_000_000}`).join('\n');
      const response = await post(server, '/api/v1/write/line-protocol', body, auth);
      assert.equal(response.status, 204, response.text);
      const at = performance.now();
      for (let i = 0; i < 50; i++) acked.push({ seq: first + i, at });
    }
  };
  const writers = [writer(), writer(), writer()];
  await new Promise((resolve) => setTimeout(resolve, 700));
  const began = performance.now();
  const started = await post(server, '/api/v1/backup', undefined, auth);
  assert.equal(started.status, 202, started.text);
  const id = String(started.json.backup_id);
  const busy = await post(server, '/api/v1/backup', undefined, auth);
  assert.equal(busy.status, 409, busy.text);
  assert.equal(busy.json.code, 'ARC_ERR_BACKUP_BUSY');
  for (;;) {
    const status = await get(server, '/api/v1/backup/status', auth);
    if (status.json.state === 'idle') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 300)); // rows after the backup: must not come back
  running = false;
  await Promise.all(writers);
  const before = new Set(acked.filter((a) => a.at < began).map((a) => a.seq));
  assert.ok(before.size > 0);

  const shown = await get(server, `/api/v1/backup/${id}`, auth);
  assert.equal(shown.status, 200, shown.text);
  const backup = shown.json.backup as { file_count: number; bytes: number; rows: number; metadata: string; files: unknown[] };
  assert.ok(backup.file_count > 0 && backup.rows >= before.size);
  assert.equal(backup.metadata, 'metadata/arc.db');
  assert.equal(((await get(server, '/api/v1/backup', auth)).json.backups as unknown[]).length, 1);
  const missing = await get(server, '/api/v1/backup/20200101T000000Z-000000', auth);
  assert.equal(missing.status, 404);
  const unconfirmed = await post(server, '/api/v1/backup/restore', JSON.stringify({ backup_id: id }), auth);
  assert.equal(unconfirmed.json.code, 'ARC_ERR_CONFIRM_REQUIRED');
  const online = await post(server, '/api/v1/backup/restore', JSON.stringify({ backup_id: id, confirm: true }), auth);
  assert.equal(online.status, 409);
  assert.equal(online.json.code, 'ARC_ERR_RESTORE_OFFLINE');
  await server.stop();

  // Wipe, restore offline, start again.
  fs.rmSync(env.ARC_STORAGE_LOCAL_PATH, { recursive: true, force: true });
  fs.rmSync(env.ARC_AUTH_DB_PATH, { force: true });
  const refused = await arc(['restore', id], env);
  assert.equal(refused.code, 2, refused.out);
  const restored = await arc(['restore', id, '--confirm'], env);
  assert.equal(restored.code, 0, restored.out);
  server = await startServer({ root: env.ARC_STORAGE_LOCAL_PATH, env: { ...env, ARC_AUTH_BOOTSTRAP_TOKEN: '' } });
  const rows = await post(server, '/api/v1/query', JSON.stringify({ sql: 'SELECT seq FROM load' }), { ...auth, 'content-type': 'application/json' });
  assert.equal(rows.status, 200, rows.text);
  const seqs = (rows.json.data as number[][]).map((r) => r[0]!);
  assert.equal(new Set(seqs).size, seqs.length, 'no row twice');
  const stored = new Set(seqs);
  for (const seq of before) assert.ok(stored.has(seq), `row ${seq} acknowledged before the backup is missing`);
  assert.ok(seqs.length < acked.length, 'rows written after the backup ended are not restored');
  const tokens = await get(server, '/api/v1/auth/tokens', auth);
  assert.match(tokens.text, /"kept"/);
  await server.stop();
});

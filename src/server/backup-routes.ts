import fs from 'node:fs';
import path from 'node:path';
import { BackupManager } from '../backup/backup-manager.js';
import { configSearchPath } from '../config/config.js';
import { ArcError } from '../errors.js';
import { readBody } from './body.js';
import { sendJson } from './respond.js';
import type { Route } from './router.js';
import type { ServerState } from './server-state.js';

/** Backup routes (admin): start, list, inspect, delete, status; restore runs offline (`arc restore`). */
export function backupRoutes(state: ServerState, version: string): Route[] {
  const configFile = process.env.ARC_CONFIG ? path.resolve(process.env.ARC_CONFIG) : (configSearchPath(process.cwd()).find((file) => fs.existsSync(file)) ?? null);
  const manager = new BackupManager(
    path.resolve(state.config.backup.directory),
    {
      root: state.root,
      catalog: state.catalog,
      flush: () => state.buffers.flushAll(),
      copyMetadata: state.auth ? (target) => state.auth!.backupStore(target) : null,
      config: state.config,
      configFile,
      version,
    },
    (error) => state.log.error('backup failed', { error: error.message }),
  );
  const admin = (method: Route['method'], routePath: string, handler: Route['handler']): Route => ({ method, path: routePath, envelope: 'plain', permission: 'admin', allDatabases: 'backup', handler });
  return [
    admin('POST', '/api/v1/backup', ({ res }) => {
      const { id } = manager.start();
      sendJson(res, 202, { status: 'accepted', backup_id: id, message: 'backup started; GET /api/v1/backup/status or /api/v1/backup/' + id });
    }),
    admin('GET', '/api/v1/backup', ({ res }) => sendJson(res, 200, { status: 'success', backups: manager.list() })),
    admin('GET', '/api/v1/backup/status', ({ res }) => sendJson(res, 200, { status: 'success', ...manager.status() })),
    admin('GET', '/api/v1/backup/:id', ({ res, params }) => sendJson(res, 200, { status: 'success', backup: manager.get(params.id!) })),
    admin('DELETE', '/api/v1/backup/:id', ({ res, params }) => {
      manager.delete(params.id!);
      sendJson(res, 200, { status: 'success', message: `backup ${params.id} deleted` });
    }),
    admin('POST', '/api/v1/backup/restore', async ({ req }) => {
      let body: { backup_id?: unknown; confirm?: unknown } = {};
      try {
        body = JSON.parse((await readBody(req, 1 << 16)).toString('utf8') || '{}') as typeof body;
      } catch {
        throw new ArcError('ARC_ERR_BAD_REQUEST', 'the body must be JSON: {"backup_id": "...", "confirm": true}');
      }
      if (typeof body.backup_id !== 'string') throw new ArcError('ARC_ERR_BAD_REQUEST', 'backup_id (a string) is required', { parameter: 'backup_id' });
      manager.get(body.backup_id);
      if (body.confirm !== true) throw new ArcError('ARC_ERR_CONFIRM_REQUIRED', 'a restore replaces the data set: send "confirm": true');
      if (manager.busy) throw new ArcError('ARC_ERR_BACKUP_BUSY', 'a backup is running; restore after it ends');
      // Swapping files under live buffers, flushes and compaction could mix data sets: restores run offline.
      throw new ArcError('ARC_ERR_RESTORE_OFFLINE', `restores run with the server stopped: stop it, then run arc restore ${body.backup_id} --confirm`, { backup_id: body.backup_id });
    }),
  ];
}


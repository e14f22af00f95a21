import fs from 'node:fs';
import path from 'node:path';
import type { BufferManager } from '../buffer/buffer-manager.js';
import type { Logger } from '../log.js';
import type { FileCatalog } from '../storage/catalog.js';
import { fsyncDir } from '../storage/durable-files.js';
import type { WriteAheadLog } from '../wal/write-ahead-log.js';
import { openCqStores } from './cq-definitions.js';
import { DefinitionStore } from './definition-store.js';

/** Deleted databases wait here (under storage.local_path) until their files are removed. */
export const TRASH_DIR = '_trash';
/** Suffix of a trash entry whose definitions (policies, CQs) are removed already. */
const PURGED = '.purged';

export interface DropContext {
  root: string;
  catalog: FileCatalog;
  buffers: BufferManager;
  wal: WriteAheadLog | null;
  log: Logger;
  /** Removes the database's retention policies and continuous queries (durably). */
  removeDefinitions(database: string): Promise<void>;
}

/**
 * Deletes a database: files, buffered rows, logged rows, policies and CQs, crash-safe.
 *
 * 1. Writes to it are refused (409) from now until the end, so nothing recreates it meanwhile.
 * 2. Its buffers are flushed (every row it acknowledged is then in a file, and no log segment waits for it).
 * 3. The write-ahead log records, durably, that the database is dropped: a replay skips every
 *    earlier write and flush of it, so no crash from here on brings a row back.
 * 4. Its files leave the catalog in one step (queries no longer see it); once no running query
 *    reads them, its directory is renamed into `_trash/` — one atomic, fsynced rename, the commit
 *    point: before it the database is whole, after it gone.
 * 5. Its definitions are removed, the trash entry is marked purged, and its files deleted. Start-up
 *    finishes any entry a crash left (definitions first, unless marked), before anything is served.
 */
export async function dropDatabase(context: DropContext, database: string, crashPoint?: string): Promise<{ files: number }> {
  const { root, catalog, buffers, wal } = context;
  buffers.refuseWrites(database);
  try {
    await buffers.flushWhere((d) => d === database);
    await wal?.dropDatabase(database);
    if (crashPoint === 'after-wal') process.kill(process.pid, 'SIGKILL');
    const files = await catalog.forget(database);
    const source = path.join(root, database);
    let entry: string | null = null;
    if (fs.existsSync(source)) {
      const trash = path.join(root, TRASH_DIR);
      if (!fs.existsSync(trash)) {
        fs.mkdirSync(trash, { recursive: true });
        fsyncDir(root);
      }
      entry = path.join(trash, `${database}.${process.hrtime.bigint()}`);
      fs.renameSync(source, entry);
      fsyncDir(root);
      fsyncDir(trash);
    }
    if (crashPoint === 'after-rename') process.kill(process.pid, 'SIGKILL');
    await context.removeDefinitions(database);
    if (entry) {
      fs.renameSync(entry, entry + PURGED);
      await fs.promises.rm(entry + PURGED, { recursive: true, force: true });
    }
    return { files: files.length };
  } finally {
    buffers.allowWrites(database);
  }
}

/**
 * Start-up: finishes database deletes a crash interrupted after their commit point (the rename
 * into `_trash/`). Run before the catalog is built; definitions are removed through `removeDefinitions`.
 */
export async function sweepTrash(root: string, log: Logger, removeDefinitions: (database: string) => Promise<void>): Promise<number> {
  const trash = path.join(root, TRASH_DIR);
  if (!fs.existsSync(trash)) return 0;
  let swept = 0;
  for (const name of fs.readdirSync(trash).sort()) {
    const full = path.join(trash, name);
    if (!name.endsWith(PURGED)) {
      const database = name.slice(0, name.lastIndexOf('.'));
      await removeDefinitions(database);
      log.info('database delete: finished one a crash interrupted (its policies and continuous queries are removed)', { database });
    }
    await fs.promises.rm(full, { recursive: true, force: true });
    swept++;
  }
  return swept;
}

/**
 * Start-up form of removing a deleted database's definitions, straight from the stores (the
 * services that hold them are not open yet).
 */
export async function removeStoredDefinitions(root: string, database: string): Promise<void> {
  const policies = DefinitionStore.open<{ id: number; database: string }>(root, 'retention-policies');
  const removedPolicies = new Set((await policies.remove((p) => p.database === database)).map((p) => p.id));
  if (removedPolicies.size > 0) await DefinitionStore.open<{ id: number; policy_id: number }>(root, 'retention-executions').remove((e) => removedPolicies.has(e.policy_id));
  const { queries, executions } = openCqStores(root);
  const removedQueries = new Set((await queries.remove((q) => q.database === database)).map((q) => q.id));
  if (removedQueries.size > 0) await executions.remove((e) => removedQueries.has(e.query_id));
}

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { fsyncDir, fsyncPath } from '../storage/durable-files.js';
import { tempNameFor } from '../storage/layout.js';

/**
 * The durable record of one file rewrite (a continuous-query window swap, a row delete, a
 * retention run): written (fsynced) before any new file takes its final name, marked `published`
 * before the catalog swap, deleted once every old file is gone from disk. Start-up recovery
 * finishes a published rewrite (deletes the old files) and undoes any other (deletes the new
 * files), so after a crash a rewrite is either fully applied or not at all.
 */
export interface RewriteRecord {
  status: 'pending' | 'published';
  database: string;
  measurement: string;
  /** Relative to the storage root. */
  added: Array<{ path: string; bytes: number }>;
  removed: string[];
}

export function writeRewriteRecord(root: string, directory: string, record: RewriteRecord, stamp: bigint): string {
  const dir = path.join(root, directory);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    fsyncDir(root);
  }
  const file = path.join(dir, `swap-${stamp}.json`);
  writeRewriteRecordAt(file, record);
  return file;
}

export function writeRewriteRecordAt(file: string, record: RewriteRecord): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(temp, JSON.stringify(record));
  fsyncPath(temp);
  fs.renameSync(temp, file);
  fsyncDir(path.dirname(file));
}

export function removeRewriteRecord(file: string): void {
  fs.rmSync(file, { force: true });
  fsyncDir(path.dirname(file));
}

/**
 * Start-up recovery of the rewrites a crash interrupted, before the file catalog is built: a
 * published rewrite loses its old files, any other loses its new ones. `what` names them in the log.
 */
export function recoverRewrites(root: string, directory: string, what: string, log: Logger): { completed: number; rolledBack: number } {
  const report = { completed: 0, rolledBack: 0 };
  const dir = path.join(root, directory);
  if (!fs.existsSync(dir)) return report;
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (name.startsWith('.')) {
      fs.rmSync(file, { force: true }); // a record never renamed into place: nothing of its rewrite was published
      continue;
    }
    if (!name.endsWith('.json')) continue;
    let record: RewriteRecord;
    try {
      record = JSON.parse(fs.readFileSync(file, 'utf8')) as RewriteRecord;
      if (!Array.isArray(record.added) || !Array.isArray(record.removed)) throw new Error('missing fields');
    } catch (err) {
      fs.renameSync(file, `${file}.quarantined`);
      log.error(`${what}: unreadable rewrite record set aside; its files are left untouched`, { record: file, error: err as Error });
      continue;
    }
    const victims = record.status === 'published' ? record.removed : record.added.map((f) => f.path);
    const dirs = new Set<string>();
    for (const victim of victims) {
      const absolute = path.join(root, victim);
      fs.rmSync(absolute, { force: true });
      fs.rmSync(tempNameFor(absolute), { force: true });
      dirs.add(path.dirname(absolute));
    }
    if (record.status !== 'published') for (const added of record.added) fs.rmSync(tempNameFor(path.join(root, added.path)), { force: true });
    for (const d of dirs) if (fs.existsSync(d)) fsyncDir(d);
    if (record.status === 'published') report.completed++;
    else report.rolledBack++;
    log.info(`${what}: ${record.status === 'published' ? 'finished' : 'undid'} a rewrite a crash interrupted`, { database: record.database, measurement: record.measurement });
    removeRewriteRecord(file);
  }
  return report;
}

import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir, fsyncFile, linkOrCopy, readManifest } from './backup-manager.js';

export interface RestoreTarget {
  /** storage.local_path */
  root: string;
  /** auth.db_path */
  authDbPath: string;
  /** wal.directory: its segments describe the data set being replaced, so they are moved aside. */
  walDirectory: string;
}

export interface RestoreReport {
  files: number;
  bytes: number;
  /** Where the replaced data set was moved (delete it once the restore is checked). */
  previous: string;
}

const MARKER = '.arc-restore-in-progress';

/**
 * Restores a backup into a storage root that no server is using (the caller checks): the backup's
 * files are linked or copied into a hidden staging directory first, then the current databases, the
 * token store and the write-ahead log are moved into `<root>/.restore-previous-<time>/`, then the
 * staged databases are renamed into place. A marker file covers the swap: a server refuses to start
 * while it exists (an interrupted restore is run again), so old and new files are never mixed.
 */
export async function restoreBackup(backupDir: string, target: RestoreTarget): Promise<RestoreReport> {
  const manifest = readManifest(backupDir);
  if (!manifest) throw new Error(`${backupDir} is not a complete backup (no readable backup.json)`);
  for (const file of manifest.files) {
    const stat = fs.statSync(path.join(backupDir, 'data', file.path), { throwIfNoEntry: false });
    if (!stat || stat.size !== file.bytes) throw new Error(`backup file ${file.path} is missing or has the wrong size`);
  }
  const root = path.resolve(target.root);
  fs.mkdirSync(root, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  const staging = path.join(root, `.restore-staging-${stamp}`);
  const previous = path.join(root, `.restore-previous-${stamp}`);
  for (const file of manifest.files) {
    const to = path.join(staging, file.path);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    await linkOrCopy(path.join(backupDir, 'data', file.path), to);
  }
  fs.mkdirSync(previous, { recursive: true });
  fs.writeFileSync(path.join(root, MARKER), JSON.stringify({ backup: backupDir, staging, previous }));
  fsyncDir(root);
  // Everything visible in the root goes aside, except what is the backup directory or another store's home.
  const keep = new Set([path.basename(staging), path.basename(previous), MARKER]);
  for (const other of [backupDir, target.authDbPath, target.walDirectory]) {
    const relative = path.relative(root, path.resolve(other));
    if (relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative)) keep.add(relative.split(path.sep)[0]!);
  }
  for (const name of fs.readdirSync(root)) {
    if (keep.has(name) || name.startsWith('.arc-server')) continue;
    fs.renameSync(path.join(root, name), path.join(previous, name));
  }
  if (fs.existsSync(staging)) for (const name of fs.readdirSync(staging)) fs.renameSync(path.join(staging, name), path.join(root, name));
  fs.rmSync(staging, { recursive: true, force: true });
  const wal = path.resolve(target.walDirectory);
  if (fs.existsSync(wal)) {
    fs.mkdirSync(path.join(previous, 'wal'), { recursive: true });
    for (const name of fs.readdirSync(wal)) fs.renameSync(path.join(wal, name), path.join(previous, 'wal', name));
  }
  if (manifest.metadata) {
    const db = path.resolve(target.authDbPath);
    fs.mkdirSync(path.dirname(db), { recursive: true });
    const temp = `${db}.restoring`;
    fs.copyFileSync(path.join(backupDir, manifest.metadata), temp);
    fsyncFile(temp);
    for (const suffix of ['', '.wal']) if (fs.existsSync(db + suffix)) fs.renameSync(db + suffix, path.join(previous, path.basename(db) + suffix));
    fs.renameSync(temp, db);
    fsyncDir(path.dirname(db));
  }
  fsyncDir(root);
  fs.rmSync(path.join(root, MARKER));
  fsyncDir(root);
  return { files: manifest.files.length, bytes: manifest.bytes, previous };
}

/** Why a server must not start on `root`: an interrupted restore; null when none. */
export function interruptedRestore(root: string): string | null {
  const marker = path.join(path.resolve(root), MARKER);
  if (!fs.existsSync(marker)) return null;
  return `a restore into ${root} was interrupted (${marker} exists); run arc restore again before starting the server`;
}

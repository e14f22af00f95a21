import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FileCatalog } from '../storage/catalog.js';
import { ArcError } from '../errors.js';

/**
 * Backups of a running server in `backup.directory`, one directory per backup:
 *
 *   <id>/backup.json        the manifest (files, bytes, rows, state, created_at)
 *   <id>/data/<db>/<m>/…    the Parquet files, hard links when on one file system, else fsynced copies
 *   <id>/metadata/arc.db    the token store (and whatever else lives in it), copied by DuckDB itself
 *   <id>/config/config.json the effective configuration (and config/arc.toml when one was read)
 *
 * A backup is built under `.partial-<id>` and renamed into place when every file is durable, so a
 * listed backup is always whole. Its file list is one pinned catalog snapshot taken right after the
 * buffers were flushed: every row acknowledged before the backup began is in it, compaction cannot
 * make it miss or double rows (the snapshot is one consistent file set, and pinned files are not
 * unlinked), and data files are never rewritten in place, so a link is a consistent copy.
 */
export interface BackupSources {
  root: string;
  catalog: FileCatalog;
  /** Flushes every buffer; resolves once all rows acknowledged so far are in published files. */
  flush(): Promise<void>;
  /** Copies the metadata store into a new DuckDB file at `target`; null when there is none. */
  copyMetadata: ((target: string) => Promise<void>) | null;
  config: unknown;
  configFile: string | null;
  version: string;
}

export interface BackupFile {
  path: string;
  bytes: number;
  rows: number | null;
}

export interface BackupManifest {
  id: string;
  state: 'complete';
  created_at: string;
  completed_at: string;
  arc_ts_version: string;
  storage_root: string;
  file_count: number;
  bytes: number;
  /** Sum of the files' rows when every file's count is known, else null. */
  rows: number | null;
  method: 'hardlink' | 'copy' | 'mixed' | 'none';
  metadata: string | null;
  config: string[];
  files: BackupFile[];
}

export const MANIFEST = 'backup.json';
const ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export class BackupManager {
  private running: { id: string; startedAt: string; phase: string; filesDone: number; filesTotal: number } | null = null;
  private last: { id: string; state: 'complete' | 'failed'; error?: string; finished_at: string } | null = null;

  constructor(
    readonly directory: string,
    private readonly sources: BackupSources,
    private readonly onError: (error: Error) => void,
  ) {}

  get busy(): boolean {
    return this.running !== null;
  }

  /** Starts a backup; resolves with its id at once (the work goes on). 409 when one runs. */
  start(): { id: string; done: Promise<void> } {
    if (this.running) throw new ArcError('ARC_ERR_BACKUP_BUSY', `backup ${this.running.id} is running; wait for it (GET /api/v1/backup/status)`);
    const now = new Date();
    const id = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
    this.running = { id, startedAt: now.toISOString(), phase: 'flushing', filesDone: 0, filesTotal: 0 };
    const done = this.take(id, now).then(
      () => {
        this.last = { id, state: 'complete', finished_at: new Date().toISOString() };
      },
      (err: unknown) => {
        this.last = { id, state: 'failed', error: (err as Error).message, finished_at: new Date().toISOString() };
        this.onError(err as Error);
      },
    ).finally(() => {
      this.running = null;
    });
    return { id, done };
  }

  status(): Record<string, unknown> {
    return {
      state: this.running ? 'running' : 'idle',
      current: this.running ? { id: this.running.id, started_at: this.running.startedAt, phase: this.running.phase, files_done: this.running.filesDone, files_total: this.running.filesTotal } : null,
      last: this.last,
      directory: this.directory,
    };
  }

  list(): Array<Omit<BackupManifest, 'files'>> {
    if (!fs.existsSync(this.directory)) return [];
    const out: Array<Omit<BackupManifest, 'files'>> = [];
    for (const name of fs.readdirSync(this.directory).sort()) {
      if (!ID.test(name)) continue;
      const manifest = readManifest(path.join(this.directory, name));
      if (!manifest) continue;
      const { files: _files, ...summary } = manifest;
      out.push(summary);
    }
    return out;
  }

  get(id: string): BackupManifest {
    const manifest = ID.test(id) ? readManifest(path.join(this.directory, id)) : null;
    if (!manifest) throw new ArcError('ARC_ERR_BACKUP_NOT_FOUND', `no backup ${JSON.stringify(id)} in ${this.directory}`, { backup_id: id });
    return manifest;
  }

  delete(id: string): void {
    this.get(id);
    if (this.running?.id === id) throw new ArcError('ARC_ERR_BACKUP_BUSY', `backup ${id} is still being written`);
    const dir = path.join(this.directory, id);
    const doomed = path.join(this.directory, `.deleting-${id}`);
    fs.renameSync(dir, doomed); // out of the list at once, then removed
    fs.rmSync(doomed, { recursive: true, force: true });
  }

  private async take(id: string, started: Date): Promise<void> {
    const { root, catalog } = this.sources;
    fs.mkdirSync(this.directory, { recursive: true });
    const partial = path.join(this.directory, `.partial-${id}`);
    fs.mkdirSync(partial);
    try {
      await this.sources.flush();
      // One synchronous pass: the file set of every measurement at the same instant, pinned.
      const snapshots = catalog.allMeasurements().map(({ database, measurement }) => catalog.snapshot(database, measurement, null, null));
      const files: BackupFile[] = [];
      const methods = new Set<'hardlink' | 'copy'>();
      try {
        const all = snapshots.flatMap((snapshot) => snapshot.files);
        this.running!.phase = 'copying data files';
        this.running!.filesTotal = all.length;
        const madeDirs = new Set<string>();
        for (const file of all) {
          const relative = path.relative(root, file.path);
          const target = path.join(partial, 'data', relative);
          const dir = path.dirname(target);
          if (!madeDirs.has(dir)) {
            fs.mkdirSync(dir, { recursive: true });
            madeDirs.add(dir);
          }
          methods.add(await linkOrCopy(file.path, target));
          files.push({ path: relative.split(path.sep).join('/'), bytes: file.bytes, rows: file.rows });
          this.running!.filesDone++;
        }
        for (const dir of madeDirs) fsyncDir(dir);
      } finally {
        for (const snapshot of snapshots) snapshot.release();
      }
      this.running!.phase = 'copying metadata and configuration';
      let metadata: string | null = null;
      if (this.sources.copyMetadata) {
        fs.mkdirSync(path.join(partial, 'metadata'));
        await this.sources.copyMetadata(path.join(partial, 'metadata', 'arc.db'));
        fsyncFile(path.join(partial, 'metadata', 'arc.db'));
        metadata = 'metadata/arc.db';
      }
      fs.mkdirSync(path.join(partial, 'config'));
      const config = ['config/config.json'];
      fs.writeFileSync(path.join(partial, 'config', 'config.json'), JSON.stringify(this.sources.config, null, 2));
      if (this.sources.configFile && fs.existsSync(this.sources.configFile)) {
        fs.copyFileSync(this.sources.configFile, path.join(partial, 'config', 'arc.toml'));
        config.push('config/arc.toml');
      }
      const rows = files.every((f) => f.rows !== null) ? files.reduce((n, f) => n + f.rows!, 0) : null;
      const manifest: BackupManifest = {
        id,
        state: 'complete',
        created_at: started.toISOString(),
        completed_at: new Date().toISOString(),
        arc_ts_version: this.sources.version,
        storage_root: root,
        file_count: files.length,
        bytes: files.reduce((n, f) => n + f.bytes, 0),
        rows,
        method: methods.size === 0 ? 'none' : methods.size === 2 ? 'mixed' : [...methods][0]!,
        metadata,
        config,
        files,
      };
      const manifestPath = path.join(partial, MANIFEST);
      fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
      for (const file of [manifestPath, ...config.map((c) => path.join(partial, c))]) fsyncFile(file);
      for (const dir of [path.join(partial, 'config'), path.join(partial, 'data'), partial]) if (fs.existsSync(dir)) fsyncDir(dir);
      fs.renameSync(partial, path.join(this.directory, id));
      fsyncDir(this.directory);
    } catch (err) {
      fs.rmSync(partial, { recursive: true, force: true });
      throw err;
    }
  }
}

export function readManifest(dir: string): BackupManifest | null {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as BackupManifest;
    return manifest.state === 'complete' ? manifest : null;
  } catch {
    return null;
  }
}

/** A hard link (the file is immutable, so the link is a consistent copy), or a copy made durable when linking is impossible. */
export async function linkOrCopy(source: string, target: string): Promise<'hardlink' | 'copy'> {
  try {
    await fs.promises.link(source, target);
    return 'hardlink';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw err;
  }
  await fs.promises.copyFile(source, target);
  fsyncFile(target);
  return 'copy';
}

export function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function fsyncDir(dir: string): void {
  fsyncFile(dir);
}

import fs from 'node:fs';
import path from 'node:path';
import { TEMP_SUFFIX } from './layout.js';

/**
 * The file-system steps that make a written file visible all at once: after the caller fsynced it
 * under a temporary name, it is published under its final name without ever overwriting, and the
 * directory is fsynced so the name itself survives a power cut. New directories are fsynced into
 * their parents the same way.
 */
export class DurableFiles {
  private readonly knownDirs = new Set<string>();

  /** mkdir -p, fsyncing the parent of every directory it creates. */
  ensureDir(dir: string): void {
    if (this.knownDirs.has(dir)) return;
    const first = fs.mkdirSync(dir, { recursive: true });
    if (first !== undefined) {
      // Every directory from `first` down to `dir` is new: its parent must record it.
      for (let created = dir; ; created = path.dirname(created)) {
        fsyncDir(path.dirname(created));
        if (created === first || created === path.dirname(created)) break;
      }
    }
    this.knownDirs.add(dir);
  }

  /**
   * Publishes the already fsynced `tempPath` as `finalPath` and makes the name durable. Returns
   * false, leaving the temp file in place, when `finalPath` exists (the caller picks another name).
   */
  publish(tempPath: string, finalPath: string): boolean {
    try {
      fs.linkSync(tempPath, finalPath); // fails with EEXIST instead of replacing
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
      // File systems without hard links: rename, after checking nothing is there.
      if (fs.existsSync(finalPath)) return false;
      fs.renameSync(tempPath, finalPath);
      fsyncDir(path.dirname(finalPath));
      return true;
    }
    fs.unlinkSync(tempPath);
    fsyncDir(path.dirname(finalPath));
    return true;
  }

  /** Forgets cached directories (after a failure, they may be gone). */
  reset(): void {
    this.knownDirs.clear();
  }
}

export function fsyncPath(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function fsyncDir(dir: string): void {
  fsyncPath(dir);
}

export function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}

/**
 * Deletes temporary files left by a crash mid-flush: those last changed before `before` (ms epoch),
 * so the files of flushes this process has started since are left alone. They never held
 * acknowledged-and-durable data (a file counts only once it is published; with the write-ahead
 * log, recovery publishes recorded ones before this runs), and no reader can see them (hidden
 * name, not *.parquet). Returns how many were removed.
 */
export async function removeStaleTempFiles(root: string, before: number): Promise<number> {
  let removed = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.startsWith('.') && entry.name.endsWith(`.parquet${TEMP_SUFFIX}`)) {
        const stat = await fs.promises.stat(full).catch(() => null);
        if (stat === null || stat.mtimeMs >= before) continue;
        await fs.promises.unlink(full).catch(() => {});
        removed++;
      }
    }
  };
  await walk(root);
  return removed;
}

/**
 * Publishes a file the write-ahead log has already recorded (fsynced under `tempPath`). Safe to
 * repeat: a retry, or recovery redoing it after a crash, finds it done and only tidies up.
 * Returns false when neither name exists (the file is gone).
 */
export async function publishRecorded(tempPath: string, finalPath: string): Promise<boolean> {
  try {
    await fs.promises.link(tempPath, finalPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fs.existsSync(finalPath); // published before; its temp name is gone
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      if (!fs.existsSync(finalPath)) await fs.promises.rename(tempPath, finalPath);
    } else if (code !== 'EEXIST') {
      throw err;
    }
  }
  await fs.promises.rm(tempPath, { force: true });
  const dir = await fs.promises.open(path.dirname(finalPath), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return true;
}

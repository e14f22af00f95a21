import fs from 'node:fs';

/**
 * Claims a lock file for this process: creates it holding `content` (JSON with a `pid`), or takes
 * it over when the process it names is gone (a crash). Throws `busy(pid)` when that process lives:
 * two servers writing one directory would interleave files and log entries.
 */
export function claimLockFile(file: string, content: { pid: number }, busy: (pid: number) => string): void {
  const text = JSON.stringify(content);
  try {
    fs.writeFileSync(file, text, { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let other: { pid?: unknown } = {};
  try {
    other = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: unknown };
  } catch {
    // unreadable: a crash mid-write; treat as stale
  }
  if (typeof other.pid === 'number' && other.pid !== process.pid && isProcessAlive(other.pid)) throw new Error(busy(other.pid));
  fs.writeFileSync(file, text);
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

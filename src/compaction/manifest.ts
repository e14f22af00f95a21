import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { fsyncDir, fsyncPath } from '../storage/durable-files.js';
import type { Tier } from './planner.js';

export const STATE_DIR = '_compaction_state';

/**
 * The durable record of one job, written (file and directory fsynced) before its output becomes
 * visible and deleted only once every input is gone from disk: after a crash at any step, start-up
 * recovery finishes the job or undoes it from this record alone. Arc's document plus `temp_path`.
 */
export interface Manifest {
  output_path: string;
  output_size: number;
  input_files: string[];
  database: string;
  measurement: string;
  partition_path: string;
  tier: Tier;
  /** `published`: the output replaced the inputs; recovery only finishes deleting them. */
  status: 'pending' | 'published';
  created_at: string;
  job_id: string;
  /** Where the output waits, fsynced, before it is published (relative to the storage root). */
  temp_path: string;
}

export function manifestPath(root: string, manifest: Pick<Manifest, 'tier' | 'database' | 'partition_path' | 'job_id'>): string {
  const partition = manifest.partition_path.split('/').join('_');
  return path.join(root, STATE_DIR, manifest.tier, manifest.database, `${partition}_${manifest.job_id}.json`);
}

export function writeManifest(root: string, manifest: Manifest): string {
  const file = manifestPath(root, manifest);
  const dir = path.dirname(file);
  ensureDurableDir(root, dir);
  const temp = path.join(dir, `.${path.basename(file)}.tmp`);
  fs.writeFileSync(temp, JSON.stringify(manifest, null, 2));
  fsyncPath(temp);
  fs.renameSync(temp, file);
  fsyncDir(dir);
  return file;
}

export function removeManifest(file: string): void {
  fs.rmSync(file, { force: true });
  fsyncDir(path.dirname(file));
}

function ensureDurableDir(root: string, dir: string): void {
  if (fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { recursive: true });
  for (let d = dir; d !== root && d !== path.dirname(d); d = path.dirname(d)) fsyncDir(path.dirname(d));
}

export interface RecoveryReport {
  /** Jobs whose output was complete: their inputs were deleted. */
  completed: number;
  /** Jobs whose output was missing or incomplete: the output was dropped, the inputs kept. */
  rolledBack: number;
  /** Unreadable manifests, set aside as `*.quarantined` (their files are left as they are). */
  quarantined: number;
}

/**
 * Start-up recovery, before the file catalog is built and before anything is served: every
 * manifest left by a crash is finished (output published and complete → delete the inputs) or
 * undone (output missing or not the recorded size → drop it, keep the inputs). So readers never
 * see inputs and output together, not even for a moment after a restart.
 */
export function recoverManifests(root: string, log: Logger): RecoveryReport {
  const report: RecoveryReport = { completed: 0, rolledBack: 0, quarantined: 0 };
  const base = path.join(root, STATE_DIR);
  if (!fs.existsSync(base)) return report;
  for (const entry of fs.readdirSync(base, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    if (entry.name.startsWith('.') && entry.name.endsWith('.tmp')) {
      fs.rmSync(file, { force: true }); // a manifest never renamed into place: its job never published
      continue;
    }
    if (!entry.name.endsWith('.json')) continue;
    let manifest: Manifest;
    try {
      manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
      if (typeof manifest.output_path !== 'string' || !Array.isArray(manifest.input_files) || typeof manifest.output_size !== 'number') throw new Error('missing fields');
    } catch (err) {
      fs.renameSync(file, `${file}.quarantined`);
      report.quarantined++;
      log.error('compaction: unreadable manifest set aside; its files are left untouched', { manifest: file, error: err as Error });
      continue;
    }
    const output = path.join(root, manifest.output_path);
    if (manifest.status === 'published' || completeOutput(output, manifest.output_size)) {
      const dirs = new Set<string>();
      for (const input of manifest.input_files) {
        fs.rmSync(path.join(root, input), { force: true });
        dirs.add(path.dirname(path.join(root, input)));
      }
      for (const dir of dirs) if (fs.existsSync(dir)) fsyncDir(dir);
      report.completed++;
      log.info('compaction: finished a job interrupted after its output was published', { job: manifest.job_id, inputs: manifest.input_files.length });
    } else {
      if (fs.existsSync(output)) {
        fs.rmSync(output, { force: true });
        fsyncDir(path.dirname(output));
      }
      report.rolledBack++;
      log.info('compaction: undid a job interrupted before its output was complete; inputs kept', { job: manifest.job_id });
    }
    if (manifest.temp_path) fs.rmSync(path.join(root, manifest.temp_path), { force: true });
    removeManifest(file);
  }
  return report;
}

/** The recorded size, and Parquet's magic at both ends. */
function completeOutput(file: string, size: number): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    if (fs.fstatSync(fd).size !== size || size < 12) return false;
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    fs.readSync(fd, head, 0, 4, 0);
    fs.readSync(fd, tail, 0, 4, size - 4);
    return head.toString('latin1') === 'PAR1' && tail.toString('latin1') === 'PAR1';
  } finally {
    fs.closeSync(fd);
  }
}

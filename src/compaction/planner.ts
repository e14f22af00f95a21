import path from 'node:path';
import type { CatalogFile, FileCatalog } from '../storage/catalog.js';

export type Tier = 'hourly' | 'daily';
export const TIERS: readonly Tier[] = ['hourly', 'daily'];

export interface TierRules {
  minAgeHours: number;
  minFiles: number;
  /** Daily tier: days older than this skip the newest-file check (backfilled history). */
  skipFileAgeCheckDays?: number;
}

/** What the planner must not touch, and up to where a measurement's files are settled. */
export interface PlanGuards {
  /** Files that must stay as they are: named by a live write-ahead log segment or a live manifest. */
  pinned(file: CatalogFile): boolean;
  /** The oldest stamp of a flush of (database, measurement) not yet published, or null. */
  oldestInFlight(database: string, measurement: string): bigint | null;
}

export interface Candidate {
  tier: Tier;
  database: string;
  measurement: string;
  /** `{db}/{m}/YYYY/MM/DD[/HH]`, as Arc reports it. */
  partitionPath: string;
  /** Absolute directory the output goes to. */
  directory: string;
  partitionStart: number;
  fileCount: number;
  /** Files a job may merge now, oldest acknowledgement first. */
  inputs: CatalogFile[];
}

const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;
const STAMP = /_(\d{8})_(\d{6})_(\d{9})\.parquet$/;
const COMPACTED_STAMP = /_(\d{8})_(\d{6})_(\d+)_b\d+_(?:compacted|daily)\.parquet$/;

/** The flush stamp (ns) in a flush file's name, or null. */
export function flushStampOf(file: string): bigint | null {
  const match = STAMP.exec(path.basename(file));
  if (!match) return null;
  const [d, t, ns] = [match[1]!, match[2]!, match[3]!];
  const ms = Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)), Number(t.slice(0, 2)), Number(t.slice(2, 4)), Number(t.slice(4, 6)));
  return BigInt(ms / 1000) * 1_000_000_000n + BigInt(ns);
}

/** Wall-clock ns a file's name carries (flush time, or compaction time for outputs), or null. */
export function nameTimeOf(file: string): bigint | null {
  const compacted = COMPACTED_STAMP.exec(path.basename(file));
  if (compacted) return BigInt(compacted[3]!);
  return flushStampOf(file);
}

/**
 * The partitions of a tier worth compacting now, with the files a job may take. Arc's rules
 * (arc-spec-lifecycle §2.2): the partition is old enough, its newest file too (daily: unless the
 * day is older than `skipFileAgeCheckDays`), and it has at least `minFiles` files of which at
 * least `minFiles` are fresh (not yet merged by this tier). `force` takes every closed partition
 * with something to merge, whatever its age and file count.
 *
 * The inputs are a prefix of the partition in acknowledgement order: earlier outputs, then flush
 * files older than the oldest file that must stay (pinned) and than any flush still in flight. So
 * every file left out was acknowledged after everything merged, and "the later file wins" stays
 * true between an output and the files beside it.
 */
export function findCandidates(catalog: FileCatalog, tier: Tier, rules: TierRules, guards: PlanGuards, options: { now: number; force: boolean; database?: string | undefined }): Candidate[] {
  const out: Candidate[] = [];
  const nowUs = options.now * 1000;
  const minAgeUs = rules.minAgeHours * HOUR_US;
  for (const { database, measurement } of catalog.allMeasurements()) {
    if (options.database !== undefined && database !== options.database) continue;
    const groups = new Map<number, { start: number; end: number; files: CatalogFile[] }>();
    for (const partition of catalog.partitions(database, measurement)) {
      const hourLevel = partition.end - partition.start === HOUR_US;
      if (tier === 'hourly' && !hourLevel) continue;
      const start = tier === 'hourly' ? partition.start : partition.start - (partition.start % DAY_US);
      let group = groups.get(start);
      if (!group) groups.set(start, (group = { start, end: start + (tier === 'hourly' ? HOUR_US : DAY_US), files: [] }));
      group.files.push(...partition.files);
    }
    const inFlight = guards.oldestInFlight(database, measurement);
    for (const group of groups.values()) {
      if (group.end > nowUs) continue; // still open: flushes land here
      const fresh = group.files.filter((file) => (tier === 'hourly' ? file.kind === 'flush' : file.kind !== 'daily'));
      if (!options.force) {
        if (group.start > nowUs - minAgeUs) continue;
        const skipAgeCheck = tier === 'daily' && group.start < nowUs - (rules.skipFileAgeCheckDays ?? 7) * DAY_US;
        if (!skipAgeCheck) {
          let newest = 0n;
          for (const file of group.files) {
            const stamp = nameTimeOf(file.path);
            if (stamp !== null && stamp > newest) newest = stamp;
          }
          if (newest > BigInt(Math.round(nowUs - minAgeUs)) * 1000n) continue;
        }
        if (group.files.length < rules.minFiles || fresh.length < rules.minFiles) continue;
      } else if (fresh.length === 0 || group.files.length < 2) {
        continue;
      }
      const inputs = settledPrefix(group.files, guards, inFlight);
      if (inputs.length < 2 || !inputs.some((file) => fresh.includes(file))) continue;
      const first = group.files[0]!;
      const directory = tier === 'hourly' ? path.dirname(first.path) : dayDirectory(first);
      out.push({
        tier,
        database,
        measurement,
        partitionPath: path.relative(path.resolve(catalog.root), directory).split(path.sep).join('/'),
        directory,
        partitionStart: group.start,
        fileCount: group.files.length,
        inputs,
      });
    }
  }
  return out;
}

/** Earlier outputs (not pinned), then flush files older than every pinned or in-flight one. */
function settledPrefix(files: readonly CatalogFile[], guards: PlanGuards, inFlight: bigint | null): CatalogFile[] {
  let cutoff = inFlight;
  const flushes: Array<{ file: CatalogFile; stamp: bigint }> = [];
  const outputs: CatalogFile[] = [];
  for (const file of files) {
    const pinned = guards.pinned(file);
    if (file.kind !== 'flush') {
      if (!pinned) outputs.push(file);
      continue;
    }
    const stamp = file.flushStamp ?? flushStampOf(file.path);
    if (stamp === null) continue; // a file named by hand: not ours to merge
    if (pinned) {
      if (cutoff === null || stamp < cutoff) cutoff = stamp;
      continue;
    }
    flushes.push({ file, stamp });
  }
  flushes.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0));
  const settled = flushes.filter((f) => cutoff === null || f.stamp < cutoff).map((f) => f.file);
  // Within any hour a later output holds later acknowledgements (it merged what the earlier one left).
  const made = (file: CatalogFile) => nameTimeOf(file.path) ?? 0n;
  outputs.sort((a, b) => (made(a) < made(b) ? -1 : made(a) > made(b) ? 1 : a.path < b.path ? -1 : 1));
  return [...outputs, ...settled];
}

function dayDirectory(file: CatalogFile): string {
  const dir = path.dirname(file.path);
  return file.partitionEnd - file.partitionStart === HOUR_US ? path.dirname(dir) : dir;
}

/** Arc's batching: at most `max` files each, a trailing remainder under 2 folded into the last batch. */
export function batchesOf<T>(files: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < files.length; i += max) out.push(files.slice(i, i + max));
  if (out.length > 1 && out.at(-1)!.length < 2) out[out.length - 2]!.push(...out.pop()!);
  return out;
}

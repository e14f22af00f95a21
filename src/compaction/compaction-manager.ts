import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CompactionTierConfig } from '../config/config.js';
import { ArcError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CatalogFile, FileCatalog } from '../storage/catalog.js';
import { DurableFiles } from '../storage/durable-files.js';
import { FileStampClock, tempNameFor } from '../storage/layout.js';
import { CronSchedule } from './cron.js';
import { removeManifest, writeManifest, type Manifest } from './manifest.js';
import type { MergeJob } from './merge-process.js';
import { startMerge, type RunningMerge } from './merge-runner.js';
import { TIERS, batchesOf, findCandidates, flushStampOf, type Candidate, type Tier, type TierRules } from './planner.js';

export interface CompactionOptions {
  root: string;
  catalog: FileCatalog;
  log: Logger;
  hourly: CompactionTierConfig;
  daily: CompactionTierConfig & { skipFileAgeCheckDays: number };
  maxConcurrent: number;
  maxFilesPerBatch: number;
  tempDirectory: string;
  memoryLimit: string;
  threads: number;
  sortKeys: Record<string, string[]>;
  defaultSortKeys: string[];
  /** Whether a live write-ahead log segment names this file (relative to the root): it must stay. */
  walReferences?: (relativePath: string) => boolean;
  /** Oldest stamp of a flush of (database, measurement) still in flight. */
  oldestInFlight(database: string, measurement: string): bigint | null;
  /** Run the cron schedulers (off for `arc compact`-style one-shot use and tests that trigger by hand). */
  schedule?: boolean;
}

/** One job in /history (Arc's entry plus arc-ts's own fields). */
export interface JobEntry {
  database: string;
  measurement: string;
  partition_path: string;
  tier: Tier;
  files_compacted: number;
  bytes_before: number;
  bytes_after: number;
  success: boolean;
  compression_ratio?: number;
  error?: string;
  job_id: string;
  cycle_id: number;
  rows_before: number;
  rows_after: number;
  rows_deduplicated: number;
  duration_ms: number;
  started_at: string;
  output?: string;
}

export interface ActiveJob {
  job_id: string;
  cycle_id: number;
  database: string;
  measurement: string;
  partition_path: string;
  tier: Tier;
  files: number;
  bytes: number;
  started_at: string;
}

interface CycleRequest {
  tiers: Tier[];
  database: string | undefined;
  force: boolean;
  id: number;
}

export interface CompactionTotals {
  jobsCompleted: number;
  jobsFailed: number;
  filesIn: number;
  filesOut: number;
  bytesIn: number;
  bytesOut: number;
  rowsIn: number;
  rowsOut: number;
  rowsDeduplicated: number;
  durationMs: number;
}

const HISTORY_SIZE = 100;

/**
 * Compaction cycles (arc-spec-lifecycle §2): the hourly and daily tiers on their cron schedules or
 * on demand; per cycle, candidate partitions from the file catalog, merged batch by batch in child
 * processes, up to `maxConcurrent` partitions at once. A job's output replaces its inputs in the
 * catalog in one synchronous step after a durable manifest; the inputs are deleted once no query
 * reads them, then the manifest. Cycles never overlap; a tier that comes due while a cycle runs
 * waits for it (Arc skips it).
 */
export class CompactionManager {
  private readonly clock = new FileStampClock();
  private readonly files = new DurableFiles();
  private readonly history: JobEntry[] = [];
  private readonly active = new Map<string, { info: ActiveJob; merge: RunningMerge | null }>();
  /** Inputs of running jobs: no other job takes them. */
  private readonly busy = new Set<string>();
  private readonly queue: CycleRequest[] = [];
  private readonly timers = new Map<Tier, { timer: NodeJS.Timeout; next: Date; schedule: CronSchedule }>();
  private running: Promise<void> | null = null;
  private currentCycle: CycleRequest | null = null;
  private cycleIds = 0;
  private closed = false;
  private manifestsInFlight = new Set<Promise<void>>();
  readonly totals: CompactionTotals = { jobsCompleted: 0, jobsFailed: 0, filesIn: 0, filesOut: 0, bytesIn: 0, bytesOut: 0, rowsIn: 0, rowsOut: 0, rowsDeduplicated: 0, durationMs: 0 };
  recoveredManifests = 0;
  private readonly schedules: Record<Tier, CronSchedule>;

  constructor(private readonly options: CompactionOptions) {
    // An unparsable schedule stops the server at start-up (like Arc), naming the key.
    this.schedules = {
      hourly: parseSchedule(options.hourly.schedule, 'compaction.hourly_schedule'),
      daily: parseSchedule(options.daily.schedule, 'compaction.daily_schedule'),
    };
    fs.rmSync(options.tempDirectory, { recursive: true, force: true }); // spill files of merges a crash cut short
    fs.mkdirSync(options.tempDirectory, { recursive: true });
    if (options.schedule !== false) for (const tier of TIERS) if (this.tierConfig(tier).enabled) this.arm(tier);
  }

  /**
   * Starts a cycle now (POST /api/v1/compaction/trigger): 409 while one runs. `force` compacts every
   * closed partition with something to merge, whatever its age and file count.
   */
  trigger(tiers: Tier[] | null, database: string | undefined, force: boolean): { cycleId: number; tiers: Tier[] } {
    if (this.closed) throw new ArcError('ARC_ERR_SHUTTING_DOWN', 'Server is shutting down; no compaction is started');
    if (this.running) {
      throw new ArcError('ARC_ERR_COMPACTION_RUNNING', 'Compaction cycle already running', {
        message: 'a compaction cycle is running; trigger again when it has finished (see GET /api/v1/compaction/status)',
        cycle_id: this.currentCycle?.id ?? this.cycleIds,
        is_running: true,
      });
    }
    const chosen = (tiers ?? TIERS.filter((tier) => this.tierConfig(tier).enabled)).slice().sort((a, b) => TIERS.indexOf(a) - TIERS.indexOf(b));
    const request: CycleRequest = { tiers: chosen, database, force, id: ++this.cycleIds };
    this.queue.push(request);
    this.pump();
    return { cycleId: request.id, tiers: chosen };
  }

  /** Resolves when no cycle runs or waits (tests, `arc compact`). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  get cycleRunning(): boolean {
    return this.running !== null;
  }

  get currentCycleId(): number {
    return this.currentCycle?.id ?? this.cycleIds;
  }

  /** Stops the schedulers and running merges (their outputs are never published); waits for the cycle to end. */
  async close(): Promise<void> {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    for (const job of this.active.values()) job.merge?.kill();
    await this.idle();
    await Promise.allSettled([...this.manifestsInFlight]);
  }

  status(): object {
    const schedulers: Record<string, object> = {};
    for (const tier of TIERS) {
      const config = this.tierConfig(tier);
      if (!config.enabled) continue;
      const armed = this.timers.get(tier);
      schedulers[tier] = { enabled: true, running: armed !== undefined, schedule: config.schedule, ...(armed ? { next_run: localRfc3339(armed.next) } : {}) };
    }
    return {
      manager: { active_jobs: this.active.size, total_completed: this.totals.jobsCompleted, total_failed: this.totals.jobsFailed },
      schedulers,
      cycle_running: this.cycleRunning,
      current_cycle_id: this.currentCycleId,
      queued_cycles: this.queue.length,
    };
  }

  stats(): object {
    const saved = this.totals.bytesIn - this.totals.bytesOut;
    const perTier = (tier: Tier) => {
      const jobs = this.history.filter((job) => job.tier === tier && job.success);
      const bytes = jobs.reduce((n, job) => n + job.bytes_before - job.bytes_after, 0);
      const config = this.tierConfig(tier);
      return {
        tier,
        enabled: config.enabled,
        min_age_hours: config.minAgeHours,
        min_files: config.minFiles,
        total_compactions: jobs.length,
        total_files_compacted: jobs.reduce((n, job) => n + job.files_compacted, 0),
        total_bytes_saved: bytes,
        total_bytes_saved_mb: round2(bytes / 1048576),
      };
    };
    return {
      total_jobs_completed: this.totals.jobsCompleted,
      total_jobs_failed: this.totals.jobsFailed,
      total_files_compacted: this.totals.filesIn,
      total_bytes_saved: saved,
      total_bytes_saved_mb: round2(saved / 1048576),
      total_manifests_recover: this.recoveredManifests,
      total_rows_deduplicated: this.totals.rowsDeduplicated,
      cycle_running: this.cycleRunning,
      current_cycle_id: this.currentCycleId,
      recent_jobs: this.history.slice(-10),
      tiers: TIERS.map(perTier),
    };
  }

  /** What a cycle would pick now (before batching), as Arc's preview. */
  candidates(database?: string): { count: number; candidates: object[] } {
    const list: object[] = [];
    for (const tier of TIERS) {
      if (!this.tierConfig(tier).enabled) continue;
      for (const c of this.find(tier, database, false)) {
        list.push({ database: c.database, measurement: c.measurement, partition_path: c.partitionPath, file_count: c.fileCount, tier });
      }
    }
    return { count: list.length, candidates: list };
  }

  jobs(): { active_jobs: number; jobs: ActiveJob[] } {
    return { active_jobs: this.active.size, jobs: [...this.active.values()].map((job) => job.info) };
  }

  recentJobs(limit: number): { total_jobs: number; recent_jobs: JobEntry[] } {
    return { total_jobs: this.totals.jobsCompleted, recent_jobs: this.history.slice(-limit) };
  }

  private tierConfig(tier: Tier): CompactionTierConfig {
    return tier === 'hourly' ? this.options.hourly : this.options.daily;
  }

  private arm(tier: Tier): void {
    if (this.closed) return;
    const schedule = this.schedules[tier];
    const next = schedule.next(new Date());
    // setTimeout caps at ~24.8 days; a long wait is re-armed on the way.
    const delay = Math.min(next.getTime() - Date.now(), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      this.timers.delete(tier);
      if (Date.now() >= next.getTime() - 1000) this.enqueueScheduled(tier);
      this.arm(tier);
    }, Math.max(0, delay));
    timer.unref();
    this.timers.set(tier, { timer, next, schedule });
  }

  /** A scheduled tick: queued behind a running cycle instead of skipped (Arc #220). */
  private enqueueScheduled(tier: Tier): void {
    if (this.queue.some((request) => !request.force && request.database === undefined && request.tiers.length === 1 && request.tiers[0] === tier)) return;
    this.queue.push({ tiers: [tier], database: undefined, force: false, id: ++this.cycleIds });
    this.pump();
  }

  private pump(): void {
    if (this.running || this.queue.length === 0 || this.closed) return;
    const request = this.queue.shift()!;
    this.currentCycle = request;
    this.running = this.runCycle(request)
      .catch((err: Error) => this.options.log.error('compaction cycle failed', { cycle: request.id, error: err }))
      .finally(() => {
        this.running = null;
        this.pump();
      });
  }

  private find(tier: Tier, database: string | undefined, force: boolean): Candidate[] {
    const config = this.tierConfig(tier);
    const rules: TierRules = { minAgeHours: config.minAgeHours, minFiles: config.minFiles, ...(tier === 'daily' ? { skipFileAgeCheckDays: this.options.daily.skipFileAgeCheckDays } : {}) };
    const root = this.options.root;
    const wal = this.options.walReferences;
    const guards = {
      pinned: (file: CatalogFile) => this.busy.has(file.path) || (wal !== undefined && wal(path.relative(root, file.path))),
      oldestInFlight: (database: string, measurement: string) => this.options.oldestInFlight(database, measurement),
    };
    return findCandidates(this.options.catalog, tier, rules, guards, { now: Date.now(), force, database });
  }

  private async runCycle(request: CycleRequest): Promise<void> {
    for (const tier of request.tiers) {
      if (this.closed) return;
      const candidates = this.find(tier, request.database, request.force);
      if (candidates.length > 0) this.options.log.info('compaction: cycle', { cycle: request.id, tier, partitions: candidates.length, force: request.force });
      let next = 0;
      const lane = async () => {
        while (next < candidates.length && !this.closed) {
          const candidate = candidates[next++]!;
          const batches = batchesOf(candidate.inputs, this.options.maxFilesPerBatch);
          for (const [i, batch] of batches.entries()) {
            if (this.closed) return;
            await this.runJob(request.id, candidate, batch, i + 1);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(this.options.maxConcurrent, candidates.length)) }, lane));
    }
  }

  private async runJob(cycleId: number, candidate: Candidate, inputs: CatalogFile[], batchNumber: number): Promise<void> {
    const started = performance.now();
    const startedAt = new Date();
    const stamp = this.clock.next();
    const suffix = candidate.tier === 'hourly' ? 'compacted' : 'daily';
    let finalPath = path.join(candidate.directory, outputName(candidate.measurement, stamp, batchNumber, suffix));
    while (fs.existsSync(finalPath) || fs.existsSync(tempNameFor(finalPath))) {
      finalPath = path.join(candidate.directory, outputName(candidate.measurement, this.clock.next(), batchNumber, suffix)); // never overwrite
    }
    const tempPath = tempNameFor(finalPath);
    const jobId = `${candidate.partitionPath.split('/').join('_')}_${stamp}_b${batchNumber}`;
    const bytesBefore = inputs.reduce((n, file) => n + file.bytes, 0);
    const info: ActiveJob = {
      job_id: jobId,
      cycle_id: cycleId,
      database: candidate.database,
      measurement: candidate.measurement,
      partition_path: candidate.partitionPath,
      tier: candidate.tier,
      files: inputs.length,
      bytes: bytesBefore,
      started_at: startedAt.toISOString(),
    };
    const entry: JobEntry = {
      database: candidate.database,
      measurement: candidate.measurement,
      partition_path: candidate.partitionPath,
      tier: candidate.tier,
      files_compacted: inputs.length,
      bytes_before: bytesBefore,
      bytes_after: 0,
      success: false,
      job_id: jobId,
      cycle_id: cycleId,
      rows_before: 0,
      rows_after: 0,
      rows_deduplicated: 0,
      duration_ms: 0,
      started_at: startedAt.toISOString(),
    };
    const slot: { info: ActiveJob; merge: RunningMerge | null } = { info, merge: null };
    this.active.set(jobId, slot);
    for (const file of inputs) this.busy.add(file.path);
    const spill = path.join(this.options.tempDirectory, jobId);
    try {
      const job: MergeJob = {
        inputs: inputs.map((file) => ({ path: file.path, kind: file.kind, stamp: file.kind === 'flush' ? String(file.flushStamp ?? flushStampOf(file.path) ?? 0n) : null })),
        output: tempPath,
        sortKeys: this.options.sortKeys[candidate.measurement] ?? this.options.defaultSortKeys,
        threads: this.options.threads,
        memoryLimit: this.options.memoryLimit || defaultMemoryLimit(this.options.maxConcurrent),
        spillDirectory: spill,
      };
      slot.merge = startMerge(job);
      const result = await slot.merge.result;
      entry.rows_before = result.rowsIn;
      if (result.dedupWarning) this.options.log.warn('compaction: merged without deduplication', { job: jobId, reason: result.dedupWarning });
      if (result.skipped) {
        entry.success = true;
        entry.bytes_after = bytesBefore;
        entry.rows_after = result.rowsIn;
        return;
      }
      if (this.closed) throw new Error('server is shutting down');
      // A delete or retention rewrite may have replaced an input meanwhile: then this output is stale.
      const gone = inputs.find((file) => !this.options.catalog.has(file.path));
      if (gone) throw new Error(`input ${path.relative(this.options.root, gone.path)} was replaced while merging; the partition is taken again next cycle`);
      const root = this.options.root;
      const manifest: Manifest = {
        output_path: path.relative(root, finalPath),
        output_size: result.bytesOut,
        input_files: inputs.map((file) => path.relative(root, file.path)),
        database: candidate.database,
        measurement: candidate.measurement,
        partition_path: candidate.partitionPath,
        tier: candidate.tier,
        status: 'pending',
        created_at: new Date().toISOString(),
        job_id: jobId,
        temp_path: path.relative(root, tempPath),
      };
      // From here to the catalog swap nothing awaits: no query, flush or rewrite runs in between.
      const manifestFile = writeManifest(root, manifest);
      try {
        if (!this.files.publish(tempPath, finalPath)) throw new Error(`output ${finalPath} exists already; it is never overwritten`);
      } catch (err) {
        removeManifest(manifestFile);
        throw err;
      }
      const unlinked = this.options.catalog.replace(candidate.database, candidate.measurement, inputs.map((file) => file.path), [{ path: finalPath, bytes: result.bytesOut, rows: result.rowsOut }]);
      // Published: recovery now always finishes the job (deletes inputs), even if the output is rewritten later.
      writeManifest(root, { ...manifest, status: 'published' });
      const tail = unlinked
        .then(() => removeManifest(manifestFile))
        .catch((err: Error) => this.options.log.error('compaction: could not delete an input; the manifest stays for start-up recovery', { job: jobId, error: err }));
      this.manifestsInFlight.add(tail);
      void tail.finally(() => this.manifestsInFlight.delete(tail));
      entry.success = true;
      entry.bytes_after = result.bytesOut;
      entry.rows_after = result.rowsOut;
      entry.rows_deduplicated = result.rowsIn - result.rowsOut;
      entry.output = manifest.output_path;
      if (bytesBefore > 0) entry.compression_ratio = round4(1 - result.bytesOut / bytesBefore);
      this.totals.filesIn += inputs.length;
      this.totals.filesOut++;
      this.totals.bytesIn += bytesBefore;
      this.totals.bytesOut += result.bytesOut;
      this.totals.rowsIn += result.rowsIn;
      this.totals.rowsOut += result.rowsOut;
      this.totals.rowsDeduplicated += entry.rows_deduplicated;
    } catch (err) {
      entry.error = (err as Error).message;
      fs.rmSync(tempPath, { force: true });
      if (!this.closed) this.options.log.error('compaction job failed; its inputs are unchanged', { job: jobId, error: err as Error });
    } finally {
      fs.rmSync(spill, { recursive: true, force: true });
      for (const file of inputs) this.busy.delete(file.path);
      this.active.delete(jobId);
      entry.duration_ms = Math.round(performance.now() - started);
      this.totals.durationMs += entry.duration_ms;
      if (entry.success) this.totals.jobsCompleted++;
      else this.totals.jobsFailed++;
      this.history.push(entry);
      if (this.history.length > HISTORY_SIZE) this.history.shift();
    }
  }
}

/** `{m}_{YYYYMMDD_HHMMSS}_{unixnano}_b{N}_{compacted|daily}.parquet` (Arc's names). */
export function outputName(measurement: string, stampNanos: bigint, batch: number, suffix: 'compacted' | 'daily'): string {
  const date = new Date(Number(stampNanos / 1_000_000n));
  const p = (n: number) => String(n).padStart(2, '0');
  const day = `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}`;
  const time = `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
  return `${measurement}_${day}_${time}_${stampNanos}_b${batch}_${suffix}.parquet`;
}

/** Arc: database.memory_limit (about 1 GB per core) divided among the concurrent merges. */
function defaultMemoryLimit(maxConcurrent: number): string {
  const cores = Math.min(32, Math.max(1, os.availableParallelism()));
  return `${Math.max(256, Math.floor((cores * 1024) / Math.max(1, maxConcurrent)))}MB`;
}

function parseSchedule(text: string, key: string): CronSchedule {
  try {
    return CronSchedule.parse(text);
  } catch (err) {
    throw new Error(`${key}: ${(err as Error).message}`);
  }
}

/** RFC 3339 in the server's local zone, as Arc prints next_run. */
function localRfc3339(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const p = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const zone = offset === 0 ? 'Z' : `${offset > 0 ? '+' : '-'}${p(offset / 60)}:${p(offset % 60)}`;
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}${zone}`;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function round4(n: number): number {
  return Math.round(n * 10000) / 10000;
}


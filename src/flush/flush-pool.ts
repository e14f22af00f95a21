import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FlushSink } from '../buffer/buffer-manager.js';
import type { SealedBuffer } from '../buffer/measurement-buffer.js';
import type { Compression } from '../config/config.js';
import { publishRecorded } from '../storage/durable-files.js';
import type { FlushJob, FlushReport, WrittenFile } from '../storage/write-job.js';

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'published'; id: number; file: WrittenFile }
  | { type: 'done'; id: number; report: FlushReport }
  | { type: 'failed'; id: number; error: string; code?: string | undefined }
  | { type: 'profile'; profile: object | null; error?: string };

export type ToWorker =
  | { type: 'job'; job: FlushJob }
  | { type: 'profile-start'; kind: 'cpu' | 'heap'; intervalMicros: number }
  | { type: 'profile-stop' };

type ProfileAnswer = { profile: object } | { reason: string };

/** What the workers answered to a stop: their profiles, and the ones that had none, with why. */
export interface WorkerProfiles {
  profiles: Array<{ name: string; profile: object }>;
  missing: Array<{ name: string; reason: string }>;
}

export interface FlushWorkerOptions {
  parquetWriter: 'native' | 'duckdb';
  duckdbThreads: number;
  /** For the Parquet `created_by` field. */
  version: string;
  /** CPU priority of the worker thread (see lowerThreadPriority). */
  nice: number;
}

export interface FlushPoolOptions {
  root: string;
  compression: Compression;
  parquetWriter: 'native' | 'duckdb';
  version: string;
  workers: number;
  /** Nice value of the worker threads (0 = the server's priority). */
  nice?: number;
  /** DuckDB threads inside each worker. */
  duckdbThreads?: number;
  /**
   * A sealed buffer's files are all published (`files`: every file of the flush, including those an
   * earlier failed attempt published; `report` is this attempt's work). Called on the main thread
   * in the same tick in which the flush's promise settles, so readers that follow the catalog see
   * each row once.
   */
  onFlushed?: (report: FlushReport, sealed: SealedBuffer, files: readonly WrittenFile[]) => void;
  /**
   * With the write-ahead log on: records a prepared flush (its files still under temporary names)
   * durably; the pool publishes the files only after it resolves. Without it, workers publish each
   * file as soon as it is written.
   */
  recordFlush?: (sealed: SealedBuffer, files: Array<[temporary: string, final: string]>) => Promise<void>;
  onWorkerExit?: (error: Error) => void;
}

/** What survives between attempts at one sealed buffer: the hours already on disk. */
interface JobState {
  publishedHours: number[];
  /** Files published so far (by any attempt). */
  publishedFiles: WrittenFile[];
  attempts: number;
  /** Two-phase: the flush is in the log; what is left is publishing these files. */
  recorded: FlushReport | null;
}

interface Pending {
  job: FlushJob;
  state: JobState;
  resolve(report: FlushReport): void;
  reject(error: Error): void;
}

/**
 * The storage side of flushing, on the main thread: sends sealed buffers to worker threads and
 * settles when their files are durable. A worker that dies fails its jobs (the buffer manager
 * retries them, and the rows are still in shared memory) and is replaced.
 */
export class FlushPool implements FlushSink {
  private readonly workers: FlushWorkerHandle[] = [];
  private readonly states = new WeakMap<SealedBuffer, JobState>();
  private nextId = 1;
  private closing = false;

  private constructor(private readonly options: FlushPoolOptions) {}

  static async start(options: FlushPoolOptions): Promise<FlushPool> {
    const pool = new FlushPool(options);
    await Promise.all(Array.from({ length: options.workers }, () => pool.spawn()));
    return pool;
  }

  write(sealed: SealedBuffer): Promise<void> {
    if (this.closing) return Promise.reject(new Error('flush pool is closed'));
    let state = this.states.get(sealed);
    if (state === undefined) {
      state = { publishedHours: [], publishedFiles: [], attempts: 0, recorded: null };
      this.states.set(sealed, state);
    }
    state.attempts++;
    const job: FlushJob = {
      id: this.nextId++,
      database: sealed.database,
      batch: sealed.batch,
      stampNanos: sealed.stampNanos,
      root: this.options.root,
      compression: this.options.compression,
      publishedHours: [...state.publishedHours],
      attempt: state.attempts,
      prepareOnly: this.options.recordFlush !== undefined,
    };
    if (state.recorded) return this.publish(sealed, state.recorded);
    if (this.workers.length === 0) return Promise.reject(new Error('no flush worker is running (one is being restarted)'));
    const worker = this.leastBusyWorker();
    const written = new Promise<FlushReport>((resolve, reject) => worker.submit({ job, state: state!, resolve, reject }));
    const record = this.options.recordFlush;
    if (record === undefined) return written.then((report) => this.options.onFlushed?.(report, sealed, state!.publishedFiles));
    return written.then(async (report) => {
      const root = this.options.root;
      try {
        await record(sealed, report.files.map((file) => [path.relative(root, file.tempPath!), path.relative(root, file.path)]));
      } catch (err) {
        // Not in the log, so never to be published: a later attempt starts over.
        await Promise.all(report.files.map((file) => fs.promises.rm(file.tempPath!, { force: true })));
        throw err;
      }
      state!.recorded = report;
      return this.publish(sealed, report);
    });
  }

  /**
   * Encodes and publishes a sealed buffer under `root` like a flush, but outside the pool's
   * bookkeeping: no catalog callback, no log record (the start-up warm-up writes its scratch data
   * this way, into a temporary directory).
   */
  writeScratch(sealed: SealedBuffer, root: string): Promise<void> {
    if (this.closing || this.workers.length === 0) return Promise.reject(new Error('flush pool is not running'));
    const job: FlushJob = {
      id: this.nextId++,
      database: sealed.database,
      batch: sealed.batch,
      stampNanos: sealed.stampNanos,
      root,
      compression: this.options.compression,
      publishedHours: [],
      attempt: 1,
      prepareOnly: false,
    };
    const state: JobState = { publishedHours: [], publishedFiles: [], attempts: 1, recorded: null };
    const worker = this.leastBusyWorker();
    return new Promise<FlushReport>((resolve, reject) => worker.submit({ job, state, resolve, reject })).then(() => undefined);
  }

  private leastBusyWorker(): FlushWorkerHandle {
    return this.workers.reduce((best, w) => (w.pending.size < best.pending.size ? w : best), this.workers[0]!);
  }

  /** Second phase: the flush is in the log; its files become visible (again after a failed try). */
  private async publish(sealed: SealedBuffer, report: FlushReport): Promise<void> {
    const started = performance.now();
    for (const file of report.files) {
      if (!(await publishRecorded(file.tempPath!, file.path))) throw new Error(`prepared file ${file.tempPath} disappeared before it was published`);
    }
    report.timings.publishMs += performance.now() - started;
    this.options.onFlushed?.(report, sealed, report.files);
  }

  /** Starts a CPU or sampling-heap profile in every worker; the returned function stops them and collects the profiles. */
  startProfiles(kind: 'cpu' | 'heap', intervalMicros: number): (waitMs: number) => Promise<WorkerProfiles> {
    const workers = [...this.workers];
    for (const worker of workers) worker.send({ type: 'profile-start', kind, intervalMicros });
    return async (waitMs) => {
      const answers = await Promise.all(workers.map((worker) => worker.stopProfile(waitMs)));
      const result: WorkerProfiles = { profiles: [], missing: [] };
      answers.forEach((answer, i) => {
        const name = `flush-worker-${i + 1}`;
        if ('profile' in answer) result.profiles.push({ name, profile: answer.profile });
        else result.missing.push({ name, reason: answer.reason });
      });
      return result;
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private spawn(): Promise<void> {
    const options = this.options;
    const workerData: FlushWorkerOptions = { parquetWriter: options.parquetWriter, duckdbThreads: options.duckdbThreads ?? 1, version: options.version, nice: options.nice ?? 0 };
    const handle = new FlushWorkerHandle(workerData, (error) => {
      const index = this.workers.indexOf(handle);
      if (index >= 0) this.workers.splice(index, 1);
      if (this.closing) return;
      options.onWorkerExit?.(error);
      // Replace it after a pause, so a worker that cannot start does not spin.
      setTimeout(() => void this.spawn().catch((err: Error) => options.onWorkerExit?.(err)), 1000).unref();
    });
    this.workers.push(handle);
    return handle.ready;
  }
}

class FlushWorkerHandle {
  readonly pending = new Map<number, Pending>();
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private stopped = false;

  constructor(workerData: FlushWorkerOptions, onExit: (error: Error) => void) {
    this.worker = new Worker(new URL('./flush-worker.js', import.meta.url), { workerData });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') resolve();
        else this.handle(message);
      });
      const fail = (error: Error) => {
        if (this.stopped) return;
        this.stopped = true;
        reject(error);
        for (const pending of this.pending.values()) pending.reject(error);
        this.pending.clear();
        this.profileWaiter?.({ reason: error.message });
        this.profileWaiter = null;
        onExit(error);
      };
      this.worker.on('error', (error) => fail(new Error(`flush worker failed: ${error.message}`)));
      this.worker.on('exit', (code) => fail(new Error(`flush worker exited with code ${code}`)));
    });
  }

  private profileWaiter: ((answer: ProfileAnswer) => void) | null = null;

  submit(pending: Pending): void {
    if (this.stopped) {
      pending.reject(new Error('flush worker is not running'));
      return;
    }
    this.pending.set(pending.job.id, pending);
    this.send({ type: 'job', job: pending.job });
  }

  send(message: ToWorker): void {
    if (!this.stopped) this.worker.postMessage(message);
  }

  /**
   * Stops this worker's profile. Bounded by waitMs: a worker that does not answer (busy with one long
   * job, or stuck) must not hold the whole profile, and with it the one-profile-at-a-time slot, hostage.
   */
  stopProfile(waitMs: number): Promise<ProfileAnswer> {
    if (this.stopped) return Promise.resolve({ reason: 'the worker is not running' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.profileWaiter !== settle) return;
        this.profileWaiter = null;
        resolve({ reason: `no answer within ${waitMs} ms` });
      }, waitMs);
      const settle = (answer: ProfileAnswer) => {
        clearTimeout(timer);
        resolve(answer);
      };
      this.profileWaiter = settle;
      this.send({ type: 'profile-stop' });
    });
  }

  async terminate(): Promise<void> {
    this.stopped = true;
    await this.worker.terminate();
  }

  private handle(message: Exclude<WorkerMessage, { type: 'ready' }>): void {
    if (message.type === 'profile') {
      // A failed start answers at once, before any stop was asked: nobody waits for it then.
      this.profileWaiter?.(message.profile !== null ? { profile: message.profile } : { reason: message.error ?? 'no profile' });
      this.profileWaiter = null;
      return;
    }
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    switch (message.type) {
      case 'published':
        pending.state.publishedHours.push(message.file.hourStartMicros);
        if (!pending.state.publishedFiles.some((file) => file.path === message.file.path)) pending.state.publishedFiles.push(message.file);
        return;
      case 'done':
        this.pending.delete(message.id);
        pending.resolve(message.report);
        return;
      case 'failed': {
        this.pending.delete(message.id);
        const error = new Error(message.error) as NodeJS.ErrnoException;
        if (message.code) error.code = message.code;
        pending.reject(error);
        return;
      }
    }
  }
}

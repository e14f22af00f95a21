import fs from 'node:fs';
import path from 'node:path';
import type { ColumnBatch } from '../columnar/column-batch.js';
import type { Compression } from '../config/config.js';
import type { ParquetEncoder } from '../duckdb/parquet-writer.js';
import { DurableFiles, fsyncDir, fsyncPath, removeQuietly } from './durable-files.js';
import { parquetFileName, partitionDir, tempNameFor } from './layout.js';
import { hourRanges, reorder, sortPermutation } from './time-order.js';

/** One sealed buffer to write, as sent to a flush worker. */
export interface FlushJob {
  id: number;
  database: string;
  batch: ColumnBatch;
  /** Wall-clock ns for the file names; unique per job. */
  stampNanos: bigint;
  root: string;
  compression: Compression;
  /** Hours (µs) an earlier attempt of this job already published; never written twice. */
  publishedHours: number[];
  attempt: number;
  /**
   * Write-ahead log on: write and fsync every file under its temporary name but publish none; the
   * main thread logs the names, then publishes them (two-phase, so a crash never leaves part of a
   * flush visible without its log record).
   */
  prepareOnly: boolean;
}

export interface WrittenFile {
  /** Final path (with prepareOnly, where the file will be published). */
  path: string;
  /** With prepareOnly: where the fsynced file waits to be published. */
  tempPath?: string;
  rows: number;
  bytes: number;
  hourStartMicros: number;
}

/** Milliseconds a flush spent per stage, summed over its files. */
export interface StageTimings {
  sortMs: number;
  /** Encoding and writing the bytes of the temporary file. */
  encodeMs: number;
  fsyncMs: number;
  /** mkdir, publishing under the final name, directory fsync. */
  publishMs: number;
}

export interface FlushReport {
  files: WrittenFile[];
  timings: StageTimings;
}

/**
 * Writes a job: rows sorted by time (stable), split by the UTC hour of each row, one Parquet
 * file per hour, each made durable before it becomes visible. Runs in a flush worker thread.
 */
export class JobWriter {
  private readonly files = new DurableFiles();

  constructor(private readonly encoder: ParquetEncoder) {}

  /** @param onPublished called as soon as each file is visible, so a retry can skip its hour. */
  async write(job: FlushJob, onPublished: (file: WrittenFile) => void): Promise<FlushReport> {
    if (job.prepareOnly) return this.prepare(job);
    const timings: StageTimings = { sortMs: 0, encodeMs: 0, fsyncMs: 0, publishMs: 0 };
    let started = performance.now();
    const n = job.batch.rowCount;
    const permutation = sortPermutation(job.batch.time, n);
    const batch = permutation ? reorder(job.batch, permutation) : job.batch;
    const ranges = hourRanges(batch.time, n);
    timings.sortMs = performance.now() - started;

    const metadata: Record<string, string> = {};
    if (batch.tagColumns && batch.tagColumns.length > 0) metadata['arc:tags'] = batch.tagColumns.join(',');
    const done = new Set(job.publishedHours);
    const written: WrittenFile[] = [];
    for (const range of ranges) {
      if (done.has(range.hourStartMicros)) continue;
      const dir = partitionDir(job.root, job.database, batch.measurement, range.hourStartMicros);
      started = performance.now();
      this.files.ensureDir(dir);
      let finalPath = path.join(dir, parquetFileName(batch.measurement, job.stampNanos));
      if (job.attempt > 1 && fs.existsSync(finalPath)) {
        // An earlier attempt published this hour and died before reporting it: report it now, it is part of this flush.
        const file: WrittenFile = { path: finalPath, rows: range.end - range.start, bytes: fs.statSync(finalPath).size, hourStartMicros: range.hourStartMicros };
        written.push(file);
        onPublished(file);
        continue;
      }
      const tempPath = tempNameFor(finalPath);
      timings.publishMs += performance.now() - started;
      started = performance.now();
      try {
        await this.encoder.write(batch, range.start, range.end, tempPath, { compression: job.compression, metadata });
        timings.encodeMs += performance.now() - started;
        started = performance.now();
        fsyncPath(tempPath);
        timings.fsyncMs += performance.now() - started;
        started = performance.now();
        let stamp = job.stampNanos;
        while (!this.files.publish(tempPath, finalPath)) {
          stamp += 1n; // a file of another run has this name (clock stepped back): never overwrite it
          finalPath = path.join(dir, parquetFileName(batch.measurement, stamp));
        }
        timings.publishMs += performance.now() - started;
      } catch (err) {
        removeQuietly(tempPath);
        this.files.reset();
        throw err;
      }
      const file: WrittenFile = {
        path: finalPath,
        rows: range.end - range.start,
        bytes: fs.statSync(finalPath).size,
        hourStartMicros: range.hourStartMicros,
      };
      written.push(file);
      onPublished(file);
    }
    return { files: written, timings };
  }

  /** Every hour's file written and fsynced under its temporary name, and the names made durable too. */
  private async prepare(job: FlushJob): Promise<FlushReport> {
    const timings: StageTimings = { sortMs: 0, encodeMs: 0, fsyncMs: 0, publishMs: 0 };
    let started = performance.now();
    const n = job.batch.rowCount;
    const permutation = sortPermutation(job.batch.time, n);
    const batch = permutation ? reorder(job.batch, permutation) : job.batch;
    const ranges = hourRanges(batch.time, n);
    timings.sortMs = performance.now() - started;
    const metadata: Record<string, string> = {};
    if (batch.tagColumns && batch.tagColumns.length > 0) metadata['arc:tags'] = batch.tagColumns.join(',');
    const prepared: WrittenFile[] = [];
    try {
      for (const range of ranges) {
        const dir = partitionDir(job.root, job.database, batch.measurement, range.hourStartMicros);
        started = performance.now();
        this.files.ensureDir(dir);
        let stamp = job.stampNanos;
        let finalPath = path.join(dir, parquetFileName(batch.measurement, stamp));
        while (fs.existsSync(finalPath) || fs.existsSync(tempNameFor(finalPath))) {
          stamp += 1n; // never reuse a name, even one a crashed attempt left half-made
          finalPath = path.join(dir, parquetFileName(batch.measurement, stamp));
        }
        const tempPath = tempNameFor(finalPath);
        timings.publishMs += performance.now() - started;
        started = performance.now();
        prepared.push({ path: finalPath, tempPath, rows: range.end - range.start, bytes: 0, hourStartMicros: range.hourStartMicros });
        await this.encoder.write(batch, range.start, range.end, tempPath, { compression: job.compression, metadata });
        timings.encodeMs += performance.now() - started;
        started = performance.now();
        fsyncPath(tempPath);
        prepared.at(-1)!.bytes = fs.statSync(tempPath).size;
        timings.fsyncMs += performance.now() - started;
      }
      // The log will name these files: their directory entries must survive a power cut first.
      started = performance.now();
      for (const dir of new Set(prepared.map((file) => path.dirname(file.path)))) fsyncDir(dir);
      timings.fsyncMs += performance.now() - started;
    } catch (err) {
      for (const file of prepared) removeQuietly(file.tempPath!);
      this.files.reset();
      throw err;
    }
    return { files: prepared, timings };
  }
}

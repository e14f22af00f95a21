import fs from 'node:fs';
import path from 'node:path';
import duckdbApi, { type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { BatchLoader } from '../duckdb/batch-loader.js';
import type { Logger } from '../log.js';
import type { CatalogFile, FileCatalog, NewFile } from '../storage/catalog.js';
import { DurableFiles, fsyncDir, fsyncPath, removeQuietly } from '../storage/durable-files.js';
import { FileStampClock, parquetFileName, partitionDir, tempNameFor } from '../storage/layout.js';
import { hourRanges, reorder, sortPermutation } from '../storage/time-order.js';
import { rewriteMetadata } from './rewrite-metadata.js';
import { recoverRewrites, removeRewriteRecord, writeRewriteRecord, writeRewriteRecordAt, type RewriteRecord } from './rewrite-record.js';

const { DuckDBInstance: Instance, quotedString } = duckdbApi;

/** Where the records of window swaps in progress live (under storage.local_path). */
export const CQ_STATE_DIR = '_cq_state';
const OUTPUT_TABLE = 'arc_cq_output';
/** Attempts when another rewrite or a flush changes the window's files while this one prepares. */
const MAX_ATTEMPTS = 5;

export interface SwapResult {
  rowsWritten: number;
  filesRewritten: number;
  filesRemoved: number;
}

/**
 * Replaces one window [startUs, endUs) of a destination measurement by new rows, exactly once:
 * every visible file of the destination with rows in the window is rewritten without them (or
 * dropped when it holds nothing else), the new rows are written one file per UTC hour, and old and
 * new files change places in one catalog.replace. A compaction that merged an earlier output with
 * other files is handled the same way (its file is rewritten), and a compaction running meanwhile
 * abandons its output because its inputs left the catalog.
 */
export class WindowSwapper {
  private readonly loader = new BatchLoader();
  private readonly files = new DurableFiles();
  private readonly clock = new FileStampClock();
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly root: string,
    private readonly catalog: FileCatalog,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly compression: string,
    private readonly log: Logger,
    private readonly walReferences: ((relativePath: string) => boolean) | undefined,
  ) {}

  /**
   * @param walReferences whether a live write-ahead-log segment names a file (relative path): its
   * rows would be replayed after a crash, so such a file is not rewritten until the segment is gone.
   */
  static async open(root: string, catalog: FileCatalog, compression: string, log: Logger, walReferences?: (relativePath: string) => boolean): Promise<WindowSwapper> {
    const instance = await Instance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    return new WindowSwapper(root, catalog, instance, connection, compression === 'none' ? 'UNCOMPRESSED' : compression.toUpperCase(), log, walReferences);
  }

  /** One swap at a time (they share one DuckDB connection, and two swaps of one window must not interleave). */
  swap(database: string, measurement: string, startUs: number, endUs: number, batch: ColumnBatch, crashPoint?: string): Promise<SwapResult> {
    const run = this.chain.then(() => this.swapNow(database, measurement, startUs, endUs, batch, crashPoint));
    this.chain = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private async swapNow(database: string, measurement: string, startUs: number, endUs: number, batch: ColumnBatch, crashPoint?: string): Promise<SwapResult> {
    for (let attempt = 1; ; attempt++) {
      const snapshot = this.catalog.snapshot(database, measurement, startUs, endUs - 1);
      const temps: string[] = [];
      try {
        const removed: string[] = [];
        const added: Array<NewFile & { tempPath: string }> = [];
        let rewritten = 0;
        for (const file of snapshot.files) {
          const rewrite = await this.withoutWindow(file, startUs, endUs);
          if (rewrite === 'untouched') continue;
          removed.push(file.path);
          if (rewrite !== 'emptied') {
            temps.push(rewrite.tempPath);
            added.push(rewrite);
            rewritten++;
          }
        }
        const outputs = await this.writeOutput(database, measurement, batch);
        temps.push(...outputs.map((file) => file.tempPath));
        added.push(...outputs);
        // The window's files may have changed while this ran (a flush, a compaction): then start again.
        const now = this.catalog.snapshot(database, measurement, startUs, endUs - 1);
        const same = now.files.length === snapshot.files.length && now.files.every((file, i) => file.path === snapshot.files[i]!.path);
        now.release();
        if (!same) {
          if (attempt >= MAX_ATTEMPTS) throw new Error(`the files of ${database}.${measurement} kept changing during ${MAX_ATTEMPTS} attempts; try again`);
          continue;
        }
        // Nothing to replace and nothing to add (a window without data): no record, no swap.
        if (removed.length === 0 && added.length === 0) return { rowsWritten: 0, filesRewritten: 0, filesRemoved: 0 };
        this.publish(database, measurement, removed, added, crashPoint);
        return { rowsWritten: batch.rowCount, filesRewritten: rewritten, filesRemoved: removed.length - rewritten };
      } finally {
        for (const temp of temps) removeQuietly(temp);
        snapshot.release();
      }
    }
  }

  /** From the record to the catalog swap nothing awaits: no query, flush or compaction runs in between. */
  private publish(database: string, measurement: string, removed: string[], added: Array<NewFile & { tempPath: string }>, crashPoint?: string): void {
    const relative = (file: string) => path.relative(this.root, file);
    const record: RewriteRecord = { status: 'pending', database, measurement, added: added.map((f) => ({ path: relative(f.path), bytes: f.bytes })), removed: removed.map(relative) };
    const recordFile = writeRewriteRecord(this.root, CQ_STATE_DIR, record, this.clock.next());
    const published: string[] = [];
    try {
      for (const file of added) {
        if (!this.files.publish(file.tempPath, file.path)) throw new Error(`${file.path} exists already; it is never overwritten`);
        published.push(file.path);
      }
      if (crashPoint === 'before-commit' && added.length > 0) process.kill(process.pid, 'SIGKILL');
      writeRewriteRecordAt(recordFile, { ...record, status: 'published' });
    } catch (err) {
      for (const file of published) removeQuietly(file);
      removeRewriteRecord(recordFile);
      throw err;
    }
    const unlinked = this.catalog.replace(database, measurement, removed, added.map((f) => ({ path: f.path, bytes: f.bytes, rows: f.rows ?? null })));
    if (crashPoint === 'after-commit' && added.length > 0) process.kill(process.pid, 'SIGKILL');
    void unlinked
      .then(() => removeRewriteRecord(recordFile))
      .catch((err: Error) => this.log.error('continuous query: an old file could not be deleted; start-up recovery deletes it', { error: err }));
  }

  /** A file without the window's rows, fsynced under a temporary name; or whether nothing or everything went. */
  private async withoutWindow(file: CatalogFile, startUs: number, endUs: number): Promise<'untouched' | 'emptied' | (NewFile & { tempPath: string })> {
    const source = quotedString(file.path);
    const inWindow = `epoch_us("time") >= ${startUs} AND epoch_us("time") < ${endUs}`;
    const counts = (await this.connection.runAndReadAll(`SELECT count(*) FILTER (WHERE ${inWindow}) AS inside, count(*) AS total FROM read_parquet(${source})`)).getRowObjects()[0]!;
    const inside = Number(counts.inside);
    const total = Number(counts.total);
    if (inside === 0) return 'untouched';
    if (this.walReferences?.(path.relative(this.root, file.path))) {
      throw new Error(`${path.relative(this.root, file.path)} has rows in the window and is still named by the write-ahead log; the window can be replaced once its log segment is deleted (wal.max_age_seconds)`);
    }
    if (inside === total) return 'emptied';
    const kv = await rewriteMetadata(this.connection, file);
    const finalPath = this.freshName(path.dirname(file.path), file.measurement, suffixOf(file.path));
    const tempPath = tempNameFor(finalPath);
    await this.connection.run(`COPY (SELECT * FROM read_parquet(${source}) WHERE NOT (${inWindow}) ORDER BY "time") TO ${quotedString(tempPath)} (FORMAT parquet, COMPRESSION ${this.compression}${kv})`);
    fsyncPath(tempPath);
    return { path: finalPath, tempPath, bytes: fs.statSync(tempPath).size, rows: total - inside };
  }

  /** The new rows, sorted by time, one file per UTC hour, fsynced under temporary names. */
  private async writeOutput(database: string, measurement: string, input: ColumnBatch): Promise<Array<NewFile & { tempPath: string }>> {
    const n = input.rowCount;
    if (n === 0) return [];
    const permutation = sortPermutation(input.time, n);
    const batch = permutation ? reorder(input, permutation) : input;
    const kv = batch.tagColumns && batch.tagColumns.length > 0 ? `, KV_METADATA {'arc:tags': ${quotedString(batch.tagColumns.join(','))}}` : '';
    const written: Array<NewFile & { tempPath: string }> = [];
    for (const range of hourRanges(batch.time, n)) {
      const dir = partitionDir(this.root, database, measurement, range.hourStartMicros);
      this.files.ensureDir(dir);
      const finalPath = this.freshName(dir, measurement, '');
      const tempPath = tempNameFor(finalPath);
      written.push({ path: finalPath, tempPath, bytes: 0, rows: range.end - range.start });
      try {
        await this.loader.createAndLoad(this.connection, OUTPUT_TABLE, batch, range.start, range.end);
        await this.connection.run(`COPY ${OUTPUT_TABLE} TO ${quotedString(tempPath)} (FORMAT parquet, COMPRESSION ${this.compression}${kv})`);
      } finally {
        await this.connection.run(`DROP TABLE IF EXISTS ${OUTPUT_TABLE}`);
      }
      fsyncPath(tempPath);
      written.at(-1)!.bytes = fs.statSync(tempPath).size;
    }
    for (const dir of new Set(written.map((file) => path.dirname(file.path)))) fsyncDir(dir);
    return written;
  }

  private freshName(dir: string, measurement: string, suffix: string): string {
    for (;;) {
      const name = parquetFileName(measurement, this.clock.next());
      const candidate = path.join(dir, suffix ? name.replace(/\.parquet$/, `_${suffix}.parquet`) : name);
      if (!fs.existsSync(candidate) && !fs.existsSync(tempNameFor(candidate))) return candidate;
    }
  }
}

/** `compacted` or `daily` for merged files (their name says their tier), '' for flush files. */
function suffixOf(file: string): string {
  const match = /_(compacted|daily)\.parquet$/.exec(file);
  return match ? match[1]! : '';
}

/**
 * Start-up recovery of window swaps a crash interrupted, before the file catalog is built: a
 * published swap loses its old files, any other loses its new ones. Returns the swaps finished and undone.
 */
export function recoverWindowSwaps(root: string, log: Logger): { completed: number; rolledBack: number } {
  return recoverRewrites(root, CQ_STATE_DIR, 'continuous query', log);
}

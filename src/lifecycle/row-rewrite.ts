import fs from 'node:fs';
import path from 'node:path';
import duckdbApi, { type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import type { BufferManager } from '../buffer/buffer-manager.js';
import { ArcError } from '../errors.js';
import { holdPoint } from '../hold-point.js';
import type { Logger } from '../log.js';
import type { CatalogFile, FileCatalog, NewFile } from '../storage/catalog.js';
import { DurableFiles, fsyncPath, removeQuietly } from '../storage/durable-files.js';
import { FileStampClock, parquetFileName, tempNameFor } from '../storage/layout.js';
import type { WriteAheadLog } from '../wal/write-ahead-log.js';
import { rewriteMetadata } from './rewrite-metadata.js';
import { recoverRewrites, removeRewriteRecord, writeRewriteRecord, writeRewriteRecordAt, type RewriteRecord } from './rewrite-record.js';

const { DuckDBInstance: Instance, quotedString } = duckdbApi;

/** Records of row rewrites (delete, retention) in progress, under storage.local_path. */
export const REWRITE_STATE_DIR = '_rewrite_state';
/** Attempts when a compaction, CQ swap or flush changes the files while a rewrite prepares. */
const MAX_ATTEMPTS = 5;
/** Column the scan adds to name each row's file (a name no measurement column takes in practice). */
const FILE_COLUMN = '__arc_rewrite_file';

/** What to remove: rows of (database, measurement) where `predicate` is TRUE, within [lo, hi] µs (null = open). */
export interface RowSelection {
  database: string;
  measurement: string;
  /** One boolean SQL expression over the measurement's columns (checked by the caller). */
  predicate: string;
  lo: number | null;
  hi: number | null;
}

/** The files a selection touches, as counted before anything changes. */
export interface RewriteScan {
  matchingRows: number;
  /** The columns of the scanned files together (name → DuckDB type). */
  columns: Array<{ name: string; type: string }>;
  /** Files with at least one matching row. */
  files: Array<{ file: CatalogFile; matching: number; total: number }>;
}

export interface RewriteOutcome {
  deletedRows: number;
  /** Basenames of the files that had matching rows. */
  affectedFiles: string[];
  /** Files rewritten without the rows (kept rows > 0). */
  rewrittenFiles: number;
  /** Files deleted whole (every row matched). */
  removedFiles: number;
  /** Basenames of files whose rewrite failed; they are unchanged. */
  failedFiles: string[];
  dryRun: boolean;
}

/**
 * `decide` sees the scan before anything is written: it throws to refuse (limits, confirmation)
 * and returns true for a dry run (nothing changes).
 */
export type RewriteDecision = (scan: RewriteScan) => boolean;

/**
 * Removes the rows a predicate selects from a measurement's Parquet files: exactly (row by row),
 * in one atomic step for every file touched, and so that a deleted row never comes back.
 *
 * - Rows acknowledged before the call and still buffered are flushed first, so they are deleted too.
 * - Each touched file is rewritten by DuckDB without the rows where the predicate IS TRUE (rows
 *   where it is NULL are kept), with the file's columns, row order and `arc:` metadata; a file
 *   left with no row is deleted instead. The new files are fsynced under temporary names.
 * - The write-ahead log records, durably, that the old files are retired, so a replay after a
 *   crash never brings their rows back from the log (it would otherwise treat a missing recorded
 *   file as lost and replay its rows).
 * - A durable record (old files, new files) is written, the new files take their names, and old
 *   and new change places in the catalog in one synchronous step: a query sees all of the delete
 *   or none of it. Old files are unlinked once no query reads them; then the record goes.
 *   Start-up recovery finishes or undoes a rewrite from its record alone.
 * - A compaction or CQ swap that replaced a touched file meanwhile makes the rewrite start again
 *   (and a compaction that read a file before the rewrite abandons its output), so no stale copy of
 *   a deleted row is published by anyone.
 *
 * Rewrites run one at a time (they share one DuckDB connection).
 */
export class RowRewriter {
  private readonly files = new DurableFiles();
  private readonly clock = new FileStampClock();
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly root: string,
    private readonly catalog: FileCatalog,
    private readonly buffers: BufferManager,
    private readonly wal: WriteAheadLog | null,
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    private readonly compression: string,
    private readonly log: Logger,
    private readonly crashPoint: string | undefined,
  ) {}

  /** @param crashPoint test hook (ARC_TEST_DELETE_CRASH_POINT): after-retire | before-commit | after-commit kill the process there. */
  static async open(options: { root: string; catalog: FileCatalog; buffers: BufferManager; wal: WriteAheadLog | null; compression: string; log: Logger; crashPoint?: string }): Promise<RowRewriter> {
    const instance = await Instance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    const compression = options.compression === 'none' ? 'UNCOMPRESSED' : options.compression.toUpperCase();
    return new RowRewriter(options.root, options.catalog, options.buffers, options.wal, instance, connection, compression, options.log, options.crashPoint);
  }

  /** Start-up recovery of rewrites a crash interrupted; run before the catalog is built. */
  static recover(root: string, log: Logger): { completed: number; rolledBack: number } {
    return recoverRewrites(root, REWRITE_STATE_DIR, 'delete', log);
  }

  /** Runs `work` after every rewrite queued before it (one DuckDB connection, one rewrite at a time). */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  /** Removes the selected rows (see the class comment); `decide` may refuse or make it a dry run. */
  remove(selection: RowSelection, decide: RewriteDecision): Promise<RewriteOutcome> {
    return this.exclusive(() => this.removeNow(selection, decide));
  }

  private async removeNow(selection: RowSelection, decide: RewriteDecision): Promise<RewriteOutcome> {
    const { database, measurement } = selection;
    await this.buffers.flushWhere((d, m) => d === database && m === measurement);
    for (let attempt = 1; ; attempt++) {
      const snapshot = this.catalog.snapshot(database, measurement, selection.lo, selection.hi);
      const temps: string[] = [];
      try {
        if (snapshot.files.length === 0) {
          // Nothing in the time range: the predicate is still checked against the measurement's columns.
          const latest = this.catalog.latest(database, measurement);
          try {
            await this.check(latest.files, selection.predicate);
          } finally {
            latest.release();
          }
        }
        const scan = await this.scan(snapshot.files, selection.predicate);
        const outcome: RewriteOutcome = {
          deletedRows: 0,
          affectedFiles: scan.files.map(({ file }) => path.basename(file.path)),
          rewrittenFiles: 0,
          removedFiles: 0,
          failedFiles: [],
          dryRun: decide(scan),
        };
        if (outcome.dryRun) {
          outcome.deletedRows = scan.matchingRows;
          return outcome;
        }
        if (scan.files.length === 0) return outcome;
        const removed: string[] = [];
        const added: Array<NewFile & { tempPath: string }> = [];
        for (const { file, matching, total } of scan.files) {
          try {
            if (matching < total) {
              const rewrite = await this.without(file, selection.predicate, total - matching, scan.columns);
              temps.push(rewrite.tempPath);
              added.push(rewrite);
              outcome.rewrittenFiles++;
            } else {
              outcome.removedFiles++;
            }
            removed.push(file.path);
            outcome.deletedRows += matching;
          } catch (err) {
            outcome.failedFiles.push(path.basename(file.path));
            this.log.error('delete: a file could not be rewritten; it is left unchanged', { file: path.relative(this.root, file.path), error: err as Error });
          }
        }
        if (removed.length === 0) return outcome;
        await holdPoint('rewrite-prepared'); // tests: scanned and rewritten, nothing retired or published yet
        // Durable before any old file can disappear (a published record makes recovery delete them).
        await this.wal?.retireFiles(removed.map((file) => path.relative(this.root, file)));
        if (this.crashPoint === 'after-retire') process.kill(process.pid, 'SIGKILL');
        // A compaction or CQ swap may have replaced a touched file while this ran: then start again.
        if (!removed.every((file) => this.catalog.has(file))) {
          if (attempt >= MAX_ATTEMPTS) throw new ArcError('ARC_ERR_DELETE_FAILED', `the files of ${database}.${measurement} kept changing during ${MAX_ATTEMPTS} attempts; nothing was deleted, try again`);
          continue;
        }
        this.publish(database, measurement, removed, added);
        return outcome;
      } finally {
        for (const temp of temps) removeQuietly(temp);
        snapshot.release();
      }
    }
  }

  /**
   * Matching and total rows per file, in one DuckDB scan of the files together (union by name: a
   * column a file lacks is NULL there). DuckDB's binding errors (unknown column, bad types) are
   * the caller's 400.
   */
  async scan(files: readonly CatalogFile[], predicate: string): Promise<RewriteScan> {
    const result: RewriteScan = { matchingRows: 0, columns: [], files: [] };
    if (files.length === 0) return result;
    const byPath = new Map(files.map((file) => [file.path, file]));
    const list = `[${files.map((file) => quotedString(file.path)).join(', ')}]`;
    let rows: Array<Record<string, unknown>>;
    try {
      result.columns = (await this.connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${list}, union_by_name = true)`))
        .getRowObjects()
        .map((c) => ({ name: String(c.column_name), type: String(c.column_type) }));
      rows = (
        await this.connection.runAndReadAll(
          `SELECT ${FILE_COLUMN} AS file, count(*) FILTER (WHERE (${predicate}) IS TRUE) AS matching, count(*) AS total ` +
            `FROM read_parquet(${list}, union_by_name = true, filename = ${quotedString(FILE_COLUMN)}) GROUP BY ALL`,
        )
      ).getRowObjects();
    } catch (err) {
      throw predicateError(err);
    }
    for (const row of rows) {
      const matching = Number(row.matching);
      const file = byPath.get(String(row.file));
      if (!file || matching === 0) continue;
      result.matchingRows += matching;
      result.files.push({ file, matching, total: Number(row.total) });
    }
    result.files.sort((a, b) => a.file.path.localeCompare(b.file.path));
    return result;
  }

  /** Checks that `predicate` binds against the measurement's columns (files `files`), without reading rows. */
  async check(files: readonly CatalogFile[], predicate: string): Promise<void> {
    if (files.length === 0) return;
    const list = `[${files.map((file) => quotedString(file.path)).join(', ')}]`;
    try {
      await this.connection.run(`SELECT count(*) FROM (SELECT * FROM read_parquet(${list}, union_by_name = true) LIMIT 0) WHERE (${predicate}) IS TRUE`);
    } catch (err) {
      throw predicateError(err);
    }
  }

  /** `file` without the rows where the predicate is TRUE, fsynced under a temporary name. */
  private async without(file: CatalogFile, predicate: string, keptRows: number, columns: RewriteScan['columns']): Promise<NewFile & { tempPath: string }> {
    const source = quotedString(file.path);
    const own = (await this.connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${source})`)).getRowObjects().map((r) => String(r.column_name));
    // Columns the predicate may name that this file lacks are NULL here, as in the scan; the output keeps the file's own columns.
    const names = new Set(own);
    const padding = columns
      .filter((c) => !names.has(c.name))
      .map((c) => `, CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`)
      .join('');
    const kv = await rewriteMetadata(this.connection, file);
    const finalPath = this.freshName(path.dirname(file.path), file.measurement, suffixOf(file.path));
    const tempPath = tempNameFor(finalPath);
    const projection = own.map(quoteIdent).join(', ');
    // No ORDER BY: with one thread and insertion order preserved, the kept rows stay in the file's order.
    await this.connection.run(
      `COPY (SELECT ${projection} FROM (SELECT *${padding} FROM read_parquet(${source})) WHERE NOT ((${predicate}) IS TRUE)) ` +
        `TO ${quotedString(tempPath)} (FORMAT parquet, COMPRESSION ${this.compression}${kv})`,
    );
    fsyncPath(tempPath);
    return { path: finalPath, tempPath, bytes: fs.statSync(tempPath).size, rows: keptRows };
  }

  /** From the record to the catalog swap nothing awaits: no query, flush or compaction runs in between. */
  private publish(database: string, measurement: string, removed: string[], added: Array<NewFile & { tempPath: string }>): void {
    const relative = (file: string) => path.relative(this.root, file);
    const record: RewriteRecord = { status: 'pending', database, measurement, added: added.map((f) => ({ path: relative(f.path), bytes: f.bytes })), removed: removed.map(relative) };
    const recordFile = writeRewriteRecord(this.root, REWRITE_STATE_DIR, record, this.clock.next());
    const published: string[] = [];
    try {
      for (const file of added) {
        if (!this.files.publish(file.tempPath, file.path)) throw new Error(`${file.path} exists already; it is never overwritten`);
        published.push(file.path);
      }
      if (this.crashPoint === 'before-commit') process.kill(process.pid, 'SIGKILL');
      writeRewriteRecordAt(recordFile, { ...record, status: 'published' });
    } catch (err) {
      for (const file of published) removeQuietly(file);
      removeRewriteRecord(recordFile);
      throw err;
    }
    const unlinked = this.catalog.replace(database, measurement, removed, added.map((f) => ({ path: f.path, bytes: f.bytes, rows: f.rows ?? null })));
    if (this.crashPoint === 'after-commit') process.kill(process.pid, 'SIGKILL');
    void unlinked
      .then(() => removeRewriteRecord(recordFile))
      .catch((err: Error) => this.log.error('delete: an old file could not be deleted; start-up recovery deletes it', { error: err }));
  }

  private freshName(dir: string, measurement: string, suffix: string): string {
    for (;;) {
      const name = parquetFileName(measurement, this.clock.next());
      const candidate = path.join(dir, suffix ? name.replace(/\.parquet$/, `_${suffix}.parquet`) : name);
      if (!fs.existsSync(candidate) && !fs.existsSync(tempNameFor(candidate))) return candidate;
    }
  }
}

function predicateError(err: unknown): ArcError {
  return new ArcError('ARC_ERR_BAD_PREDICATE', `Invalid WHERE clause: ${(err as Error).message}`);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `compacted` or `daily` for merged files (their name says their tier), '' for flush files. */
function suffixOf(file: string): string {
  const match = /_(compacted|daily)\.parquet$/.exec(file);
  return match ? match[1]! : '';
}

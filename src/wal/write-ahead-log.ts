import fs from 'node:fs';
import path from 'node:path';
import type { BufferManager } from '../buffer/buffer-manager.js';
import type { SealedBuffer } from '../buffer/measurement-buffer.js';
import { sliceBatch, type ColumnBatch } from '../columnar/column-batch.js';
import type { Logger } from '../log.js';
import { claimLockFile } from '../storage/directory-lock.js';
import { publishRecorded } from '../storage/durable-files.js';
import { readParquetRowCount } from '../storage/parquet/footer.js';
import { EntryKind, type Entry, type FlushCommitMeta, type WriteKind, type WriteMeta } from './wal-format.js';
import { WalLedger } from './wal-ledger.js';
import { listSegments, scanSegment, type DamagedRange } from './wal-reader.js';
import { WalWriter, type SyncMode } from './wal-writer.js';

/** A logged write decoded again, exactly as when it was acknowledged. */
export interface LoggedWrite {
  database: string;
  batches: ColumnBatch[];
}

export type WriteDecoder = (kind: WriteKind, meta: WriteMeta, body: Buffer) => Promise<LoggedWrite>;

export interface WalOptions {
  directory: string;
  syncMode: SyncMode;
  maxSegmentBytes: number;
  maxSegmentAgeMs: number;
  /** Storage root: flush records name files relative to it. */
  storageRoot: string;
  log: Logger;
  /** Bytes waiting for the disk above which writes get 503 (default 64 MB). */
  maxBacklogBytes?: number;
}

export interface RecoveryReport {
  segments: number;
  /** Write entries replayed, and the rows they put back in the buffers. */
  replayedWrites: number;
  replayedRows: number;
  /** Rows of logged writes found already in committed Parquet files (not replayed again). */
  skippedRows: number;
  /** Files of logged flushes a crash left unpublished, published now. */
  republishedFiles: number;
  damaged: DamagedRange[];
  /** Write entries that could not be decoded again (their rows are lost; reported, not fatal). */
  undecodable: number;
  /**
   * Recorded flushes whose files failed the check at start-up (missing, unreadable, fewer rows than
   * recorded): their rows were replayed from the log instead, and their files moved aside.
   */
  untrustedFlushes: UntrustedFlush[];
}

export interface UntrustedFlush {
  database: string;
  measurement: string;
  /** Rows the record says the files hold; replayed from the log. */
  rows: number;
  /** What was wrong, file by file (relative to the storage root). */
  problems: string[];
  /** Where the flush's files that still existed were moved (relative to the storage root). */
  quarantined: string[];
}

/** Under the storage root; hidden from the catalog (names starting with "_" are not databases). */
export const QUARANTINE_DIRECTORY = '_quarantine';

const LOCK_FILE = '.arc-wal.lock';
const DEFAULT_BACKLOG_BYTES = 64 << 20;

/**
 * The write-ahead log (issue #6). A write is acknowledged only once its request body is in the log
 * (synced, with the default sync mode), and only then appended to the buffers. A flush is recorded
 * in the log — its files, fsynced under temporary names, and the log rows they hold — before the
 * files are published. At start-up the log is read back: recorded flushes a crash interrupted are
 * published, and every logged row that is not in a recorded flush goes back into the buffers, so
 * nothing acknowledged is lost and nothing is stored twice. A segment is deleted once all its rows
 * are in published files.
 */
export class WriteAheadLog {
  /** Rows already in recorded flushes: "database\0measurement" → lsn → [start, count, ...]. */
  private committed = new Map<string, Map<number, number[]>>();
  private pendingReplay: Array<{ file: string; firstLsn: number }> = [];
  /** Published file (relative to the storage root) → LSN of the flush record naming it, while its segment may still exist. */
  private readonly recordedFiles = new Map<string, number>();
  /** Files named by FilesRetired records found at start-up (relative to the storage root). */
  private retired = new Set<string>();
  /** Database → LSN of the newest DatabaseDropped record found at start-up. */
  private dropped = new Map<string, number>();

  private constructor(
    private readonly writer: WalWriter,
    private readonly ledger: WalLedger,
    private readonly options: WalOptions,
    readonly report: RecoveryReport,
  ) {}

  /**
   * Reads the log, publishes what recorded flushes left unpublished, and opens a new segment for
   * writing. Call `replay` next, once buffers exist, before serving.
   */
  static async open(options: WalOptions): Promise<WriteAheadLog> {
    const dir = path.resolve(options.directory);
    fs.mkdirSync(dir, { recursive: true });
    claimLockFile(path.join(dir, LOCK_FILE), { pid: process.pid }, (pid) => `another arc-ts server (pid ${pid}) is using the write-ahead log in ${dir}; stop it or set wal.directory elsewhere`);
    const segments = listSegments(dir);
    const report: RecoveryReport = { segments: segments.length, replayedWrites: 0, replayedRows: 0, skippedRows: 0, republishedFiles: 0, damaged: [], undecodable: 0, untrustedFlushes: [] };
    let maxLsn = segments.at(-1)?.firstLsn ?? 0;
    const flushes: FlushCommitMeta[] = [];
    const flushLsns: number[] = [];
    const retired = new Set<string>();
    const dropped = new Map<string, number>();
    for (const segment of segments) {
      scanSegment(
        segment.file,
        (entry) => {
          maxLsn = Math.max(maxLsn, entry.lsn);
          if (entry.kind === EntryKind.FlushCommit) {
            flushes.push(flushRecord(entry));
            flushLsns.push(entry.lsn);
          } else if (entry.kind === EntryKind.FilesRetired) {
            for (const file of (JSON.parse(entry.payload.toString('utf8')) as { files: string[] }).files) retired.add(file);
          } else if (entry.kind === EntryKind.DatabaseDropped) {
            dropped.set((JSON.parse(entry.payload.toString('utf8')) as { d: string }).d, entry.lsn);
          }
        },
        report.damaged,
      );
    }
    for (const damage of report.damaged) options.log.warn('write-ahead log: cut damaged bytes', { ...damage });

    let writer: WalWriter | null = null;
    const ledger = new WalLedger(dir, () => writer?.lsnAhead ?? maxLsn + 1, (error) => options.log.error('write-ahead log: could not delete a segment', { error }));
    for (const segment of segments) ledger.addSegment(segment.firstLsn, true);
    writer = new WalWriter({
      directory: dir,
      syncMode: options.syncMode,
      maxSegmentBytes: options.maxSegmentBytes,
      maxSegmentAgeMs: options.maxSegmentAgeMs,
      maxBacklogBytes: options.maxBacklogBytes ?? DEFAULT_BACKLOG_BYTES,
      nextLsn: maxLsn + 1,
      onSegmentOpened: (firstLsn) => ledger.addSegment(firstLsn, false),
      onSegmentClosed: (firstLsn) => ledger.closeSegment(firstLsn),
      onError: (error) => options.log.error('write-ahead log write failed; writes get 503 until it works again', { error }),
    });
    const wal = new WriteAheadLog(writer, ledger, options, report);
    wal.retired = retired;
    wal.dropped = dropped;
    for (const [i, flush] of flushes.entries()) {
      // A flush of a database deleted later: its files went with the database, its rows are not replayed.
      if ((dropped.get(flush.d) ?? -1) > flushLsns[i]!) continue;
      for (const [, final] of flush.files) wal.recordedFiles.set(final, flushLsns[i]!);
      await wal.redoFlush(flush);
    }
    wal.pendingReplay = segments;
    return wal;
  }

  /**
   * Puts every logged row that is not in a recorded flush back into the buffers (flushes may start
   * meanwhile; they are recorded in the new segment). Old segments are deleted as their rows reach
   * files.
   */
  async replay(buffers: BufferManager, decode: WriteDecoder): Promise<RecoveryReport> {
    const report = this.report;
    for (const segment of this.pendingReplay) {
      const writes: Entry[] = [];
      scanSegment(segment.file, (entry) => isWriteKind(entry.kind) && writes.push(entry), []);
      for (const entry of writes) {
        if ((this.dropped.get((entry.meta as WriteMeta).d) ?? -1) > entry.lsn) continue; // its database was deleted after it
        let decoded: LoggedWrite;
        try {
          decoded = await decode(entry.kind as WriteKind, entry.meta as WriteMeta, entry.payload);
        } catch (err) {
          report.undecodable++;
          this.options.log.error('write-ahead log: an entry could not be decoded again; its rows are lost', { lsn: entry.lsn, file: segment.file, error: err as Error });
          continue;
        }
        const rows = this.replayWrite(buffers, entry.lsn, decoded);
        if (rows > 0) report.replayedWrites++;
        report.replayedRows += rows;
      }
    }
    this.pendingReplay = [];
    this.committed = new Map();
    this.retired = new Set();
    this.ledger.release();
    return report;
  }

  /**
   * Logs a write, then appends it to the buffers. Resolves when it may be acknowledged; rejects
   * (503) with nothing kept when it cannot be admitted or logged.
   */
  async write(buffers: BufferManager, kind: WriteKind, meta: WriteMeta, body: Uint8Array, batches: readonly ColumnBatch[]): Promise<void> {
    buffers.admit(meta.d);
    let rows = 0;
    for (const batch of batches) rows += batch.rowCount;
    const { lsn, durable } = this.writer.append(kind, meta, body, (queued) => this.ledger.addRows(queued, rows));
    try {
      await durable;
    } catch (err) {
      this.ledger.forget(lsn);
      throw err;
    }
    // Logged writes reach the buffers in LSN order: appends resolve in order, and nothing awaits in between.
    try {
      buffers.write(meta.d, batches, { lsn });
    } catch (err) {
      // Refused after logging (its database is being deleted): the entry holds no rows to wait for,
      // and the DatabaseDropped record that follows makes a replay skip it.
      this.ledger.forget(lsn);
      this.ledger.committed([]);
      throw err;
    }
  }

  /**
   * Before a delete or retention rewrite removes published files: records, durably, that the rows
   * of flushes naming them are not to be replayed even though the files are gone. Only files a
   * live segment still names need it (a file whose flush record is gone is never replayed).
   */
  async retireFiles(files: readonly string[]): Promise<void> {
    const named = files.filter((file) => this.referencesFile(file));
    if (named.length === 0) return;
    const { durable } = this.writer.append(EntryKind.FilesRetired, {}, Buffer.from(JSON.stringify({ files: named })));
    await durable;
    for (const file of named) this.recordedFiles.delete(file);
  }

  /**
   * Before a database's files are removed: records, durably, that every earlier write and flush of
   * it is void, so a replay after a crash brings back none of its rows. The caller refuses new
   * writes to the database first (so every write it acknowledged has a lower LSN).
   */
  async dropDatabase(database: string): Promise<void> {
    const { durable } = this.writer.append(EntryKind.DatabaseDropped, {}, Buffer.from(JSON.stringify({ d: database })));
    await durable;
    for (const file of [...this.recordedFiles.keys()]) if (file.startsWith(`${database}/`)) this.recordedFiles.delete(file);
  }

  /** First phase of a flush done (files fsynced under temporary names): record it before publishing. */
  async recordFlush(sealed: SealedBuffer, files: Array<[string, string]>): Promise<void> {
    const record: FlushCommitMeta = { d: sealed.database, m: sealed.batch.measurement, files, rows: sealed.contributions };
    const { lsn, durable } = this.writer.append(EntryKind.FlushCommit, {}, Buffer.from(JSON.stringify(record)));
    for (const [, final] of files) this.recordedFiles.set(final, lsn);
    await durable;
  }

  /**
   * Whether a segment that may still be read at start-up has a flush record naming `file` (relative
   * to the storage root). Compaction leaves such files alone: a replay trusts its flush records, so
   * a recorded file must stay where the record says until the record itself is gone.
   */
  referencesFile(file: string): boolean {
    const lsn = this.recordedFiles.get(file);
    if (lsn === undefined) return false;
    const oldest = this.ledger.oldestSegmentLsn;
    if (oldest !== null && lsn >= oldest) return true;
    this.recordedFiles.delete(file); // its segment is deleted (durably): nothing can read the record again
    return false;
  }

  /** A recorded flush is published: its log rows no longer keep their segments. */
  flushed(sealed: SealedBuffer): void {
    this.ledger.committed(sealed.contributions);
  }

  stats(): { segments: number; pendingRows: number; backlogBytes: number; nextLsn: number } {
    return { segments: this.ledger.segmentCount, pendingRows: this.ledger.pendingRows, backlogBytes: this.writer.backlogBytes, nextLsn: this.writer.lsnAhead };
  }

  /** After the buffers are flushed: closes the segment, which is then deleted if nothing in it is pending. */
  async close(): Promise<void> {
    const current = this.writer.currentSegment;
    await this.writer.close();
    if (current !== null) this.ledger.closeSegment(current);
    await this.ledger.settled();
    fs.rmSync(path.join(path.resolve(this.options.directory), LOCK_FILE), { force: true });
  }

  /**
   * Publishes the files of a recorded flush a crash interrupted, then checks them (present, Parquet
   * footer readable, at least the recorded rows): only then are its rows remembered as committed.
   * A flush that fails the check is not trusted: its rows stay "not in files", so the replay puts
   * them back in the buffers and their segments are kept until a new flush holds them; its files
   * are moved aside (not deleted: an operator may want them) so no query reads a row twice.
   */
  private async redoFlush(flush: FlushCommitMeta): Promise<void> {
    const root = this.options.storageRoot;
    const problems: string[] = [];
    let fileRows = 0;
    let retiredFiles = 0;
    for (const [temporary, final] of flush.files) {
      // Removed by a delete or retention after this flush was published: its rows count as stored.
      if (this.retired.has(final)) {
        retiredFiles++;
        this.recordedFiles.delete(final);
        continue;
      }
      const finalPath = path.join(root, final);
      const existed = fs.existsSync(finalPath);
      let published: boolean;
      try {
        published = await publishRecorded(path.join(root, temporary), finalPath);
      } catch (err) {
        problems.push(`${final}: could not be published (${(err as Error).message})`);
        continue;
      }
      if (!published) {
        problems.push(`${final}: missing from storage`);
        continue;
      }
      if (!existed) this.report.republishedFiles++;
      try {
        fileRows += await readParquetRowCount(finalPath);
      } catch (err) {
        problems.push(`${final}: unreadable (${(err as Error).message})`);
      }
    }
    let recordedRows = 0;
    for (let i = 2; i < flush.rows.length; i += 3) recordedRows += flush.rows[i]!;
    if (problems.length === 0 && retiredFiles === 0 && fileRows < recordedRows) problems.push(`files hold ${fileRows} rows, the record ${recordedRows}`);
    if (problems.length > 0) {
      const quarantined = await this.quarantine(flush.files.map(([, final]) => final));
      this.report.untrustedFlushes.push({ database: flush.d, measurement: flush.m, rows: recordedRows, problems, quarantined });
      this.options.log.error('write-ahead log: a recorded flush failed its check; its rows are replayed from the log and its files moved aside', {
        database: flush.d,
        measurement: flush.m,
        rows: recordedRows,
        problems,
        quarantined,
      });
      return;
    }
    const key = `${flush.d}\u0000${flush.m}`;
    let byLsn = this.committed.get(key);
    if (!byLsn) this.committed.set(key, (byLsn = new Map()));
    for (let i = 0; i < flush.rows.length; i += 3) {
      const lsn = flush.rows[i]!;
      let ranges = byLsn.get(lsn);
      if (!ranges) byLsn.set(lsn, (ranges = []));
      ranges.push(flush.rows[i + 1]!, flush.rows[i + 2]!);
    }
  }

  /** Moves the files that exist to `_quarantine/<time>/<same relative path>`; returns where they went. */
  private async quarantine(files: string[]): Promise<string[]> {
    const root = this.options.storageRoot;
    const moved: string[] = [];
    const batch = path.join(QUARANTINE_DIRECTORY, new Date().toISOString().replace(/[:.]/g, '-'));
    for (const file of files) {
      const from = path.join(root, file);
      if (!fs.existsSync(from)) continue;
      const to = path.join(batch, file);
      await fs.promises.mkdir(path.join(root, path.dirname(to)), { recursive: true });
      await fs.promises.rename(from, path.join(root, to));
      // Durable before the log segment can go: a rename lost in a crash would bring the file back
      // after its flush record (the only thing that says it is untrusted) is deleted.
      await syncDirectory(path.dirname(from));
      await syncDirectory(path.dirname(path.join(root, to)));
      moved.push(to);
      this.recordedFiles.delete(file);
    }
    return moved;
  }

  /** Appends the rows of one logged write that no recorded flush holds; returns how many. */
  private replayWrite(buffers: BufferManager, lsn: number, decoded: LoggedWrite): number {
    const pieces: ColumnBatch[] = [];
    const starts: number[] = [];
    const offsets = new Map<string, number>();
    for (const batch of decoded.batches) {
      if (batch.rowCount === 0) continue;
      const key = `${decoded.database}\u0000${batch.measurement}`;
      const first = offsets.get(key) ?? 0;
      offsets.set(key, first + batch.rowCount);
      const done = this.committed.get(key)?.get(lsn);
      for (const [from, to] of uncovered(first, first + batch.rowCount, done)) {
        pieces.push(from === first && to === first + batch.rowCount ? batch : sliceBatch(batch, from - first, to - first));
        starts.push(from);
      }
    }
    const rows = pieces.reduce((n, piece) => n + piece.rowCount, 0);
    const total = decoded.batches.reduce((n, batch) => n + batch.rowCount, 0);
    this.report.skippedRows += total - rows;
    if (rows === 0) return 0;
    this.ledger.addRows(lsn, rows); // before the append, which may start (and finish) a flush of these rows
    return buffers.write(decoded.database, pieces, { lsn, starts });
  }
}

function isWriteKind(kind: EntryKind): boolean {
  return kind === EntryKind.Msgpack || kind === EntryKind.LineProtocol || kind === EntryKind.Batches;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Parts of [from, to) not covered by the [start, count] pairs of `done`. */
function uncovered(from: number, to: number, done: number[] | undefined): Array<[number, number]> {
  if (!done || done.length === 0) return [[from, to]];
  const covered: Array<[number, number]> = [];
  for (let i = 0; i < done.length; i += 2) covered.push([done[i]!, done[i]! + done[i + 1]!]);
  covered.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  let at = from;
  for (const [start, end] of covered) {
    if (end <= at || start >= to) continue;
    if (start > at) out.push([at, start]);
    at = Math.max(at, end);
  }
  if (at < to) out.push([at, to]);
  return out;
}

function flushRecord(entry: Entry): FlushCommitMeta {
  return JSON.parse(entry.payload.toString('utf8')) as FlushCommitMeta;
}

import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ArcError } from '../errors.js';
import { fsyncDir } from '../storage/durable-files.js';
import { entryHead, SEGMENT_MAGIC, segmentName, type EntryKind } from './wal-format.js';

const writev = promisify(fs.writev);
const fdatasync = promisify(fs.fdatasync);
const ftruncate = promisify(fs.ftruncate);

export type SyncMode = 'fdatasync' | 'fsync' | 'async';

export interface WalWriterOptions {
  directory: string;
  syncMode: SyncMode;
  /** Segment size that starts a new segment. */
  maxSegmentBytes: number;
  /** Segment age (ms) that starts a new segment at the next write. */
  maxSegmentAgeMs: number;
  /** Bytes waiting for the disk above which appends are refused (the log cannot keep up). */
  maxBacklogBytes: number;
  /** First LSN to hand out (one past the highest in the log). */
  nextLsn: number;
  /** Called with the first LSN of every segment this writer opens, before anything is written to it. */
  onSegmentOpened?: (firstLsn: number) => void;
  /** Called with the first LSN of every segment this writer closes. */
  onSegmentClosed?: (firstLsn: number) => void;
  onError?: (error: Error) => void;
  /** `async` mode: the longest time written data may stay unsynced (default 1000 ms). */
  syncIntervalMs?: number;
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** `async` mode: how often written data is synced in the background. */
const ASYNC_SYNC_INTERVAL_MS = 1000;

/**
 * Appends entries to the log with group commit: entries queue up while one batch is being written,
 * then all of them go in the next single write, and each append resolves only when its bytes are on
 * disk (or, with sync mode `async`, in the OS). Letting several batches be in flight at once was
 * measured and gained nothing here: concurrent synced writes only slowed each other down. A failed
 * batch is cut off the segment again, so a later batch never lands behind a torn one, and its
 * appends fail with 503.
 */
export class WalWriter {
  private nextLsn: number;
  private fd = -1;
  private segmentFirstLsn = 0;
  private segmentBytes = 0;
  private segmentOpenedAt = 0;
  /** Set after a failure that could not be undone: the next batch starts a new segment. */
  private segmentBroken = false;
  private queue: Buffer[] = [];
  private queueBytes = 0;
  /** LSN of the first entry in `queue`. */
  private queueFirstLsn = 0;
  private waiters: Waiter[] = [];
  private writing: Promise<void> | null = null;
  private closed = false;
  private readonly timer: NodeJS.Timeout | null = null;
  private unsynced = false;
  /** `async` mode: when the oldest unsynced byte was written (0 = everything synced), and sync bookkeeping. */
  private unsyncedSince = 0;
  private readonly syncIntervalMs: number;
  private syncCount = 0;
  private longestUnsyncedMs = 0;

  constructor(private readonly options: WalWriterOptions) {
    this.nextLsn = options.nextLsn;
    this.syncIntervalMs = options.syncIntervalMs ?? ASYNC_SYNC_INTERVAL_MS;
    fs.mkdirSync(options.directory, { recursive: true, mode: 0o700 });
    if (options.syncMode === 'async') {
      // Idle periods: the drain loop syncs while writes keep coming, this timer once they stop.
      this.timer = setInterval(() => void this.backgroundSync(), Math.max(10, Math.floor(this.syncIntervalMs / 4)));
      this.timer.unref();
    }
  }

  /** `async` mode: syncs done, and the longest a written byte stayed unsynced (ms). */
  get syncStats(): { syncs: number; longestUnsyncedMs: number } {
    return { syncs: this.syncCount, longestUnsyncedMs: this.longestUnsyncedMs };
  }

  /** LSN the next append will get. */
  get lsnAhead(): number {
    return this.nextLsn;
  }

  /** Bytes accepted but not yet written. */
  get backlogBytes(): number {
    return this.queueBytes;
  }

  /**
   * Queues an entry and gives its LSN at once (so the caller can order its own work by it); `durable`
   * settles when the entry is in the log. `queued` runs with the LSN before any byte is written.
   * Throws 503 without queuing when the log is too far behind.
   */
  append(kind: EntryKind, meta: object, payload: Uint8Array, queued?: (lsn: number) => void): { lsn: number; durable: Promise<void> } {
    if (this.closed) throw new ArcError('ARC_ERR_SHUTTING_DOWN', 'Server is shutting down; write not accepted');
    if (this.queueBytes > this.options.maxBacklogBytes) {
      throw new ArcError('ARC_ERR_WAL_UNAVAILABLE', `Write rejected: the write-ahead log is ${Math.round(this.queueBytes / 1048576)} MB behind the disk; retry later`, {}, { 'Retry-After': '1' });
    }
    const lsn = this.nextLsn++;
    const head = entryHead(lsn, kind, meta, payload);
    if (this.queue.length === 0) this.queueFirstLsn = lsn;
    this.queue.push(head, payload.length > 0 ? Buffer.from(payload.buffer, payload.byteOffset, payload.length) : Buffer.alloc(0));
    this.queueBytes += head.length + payload.length;
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    queued?.(lsn);
    if (this.writing === null) this.writing = this.drain();
    return { lsn, durable };
  }

  /** Waits for everything queued, then closes the segment. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    while (this.writing) await this.writing;
    if (this.fd >= 0) {
      if (this.unsynced) await fdatasync(this.fd).catch(() => undefined);
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** Writes batches until the queue is empty. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const buffers = this.queue;
        const waiters = this.waiters;
        const bytes = this.queueBytes;
        const firstLsn = this.queueFirstLsn;
        this.queue = [];
        this.waiters = [];
        this.queueBytes = 0;
        try {
          await this.writeBatch(buffers, bytes, firstLsn);
          for (const waiter of waiters) waiter.resolve();
          // Under sustained writes the queue never empties: sync here, between batches, once due.
          if (this.syncDue()) await this.syncNow();
        } catch (err) {
          const error = err as NodeJS.ErrnoException;
          this.options.onError?.(error);
          const failure = new ArcError(
            'ARC_ERR_WAL_UNAVAILABLE',
            `Write rejected: the write-ahead log could not be written (${error.code ?? error.message}); nothing of this request was kept, retry later`,
            {},
            { 'Retry-After': '1' },
          );
          for (const waiter of waiters) waiter.reject(failure);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  private async writeBatch(buffers: Buffer[], bytes: number, firstLsn: number): Promise<void> {
    const used = this.segmentBytes > SEGMENT_MAGIC.length;
    const full = used && this.segmentBytes + bytes > this.options.maxSegmentBytes;
    const old = used && Date.now() - this.segmentOpenedAt > this.options.maxSegmentAgeMs;
    if (this.fd < 0 || this.segmentBroken || full || old) {
      await this.rotate(firstLsn);
    }
    const before = this.segmentBytes;
    try {
      await writeAll(this.fd, buffers, before);
      this.segmentBytes = before + bytes;
      // Syncing modes opened the segment with O_DSYNC / O_SYNC, so the write above returned only
      // once the bytes were on disk: one trip through the thread pool per batch, not write + sync.
      if (this.options.syncMode === 'async' && !this.unsynced) {
        this.unsynced = true;
        this.unsyncedSince = performance.now();
      }
    } catch (err) {
      // Cut the batch off again, so nothing written later sits behind a torn entry.
      try {
        await ftruncate(this.fd, before);
        await fdatasync(this.fd);
        this.segmentBytes = before;
      } catch {
        this.segmentBroken = true;
      }
      throw err;
    }
  }

  private openFlags(): number {
    const { O_WRONLY, O_CREAT, O_EXCL, O_DSYNC, O_SYNC } = fs.constants;
    const base = O_WRONLY | O_CREAT | O_EXCL;
    switch (this.options.syncMode) {
      case 'fdatasync':
        return base | O_DSYNC;
      case 'fsync':
        return base | O_SYNC;
      case 'async':
        return base;
    }
  }

  private syncDue(): boolean {
    return this.unsynced && performance.now() - this.unsyncedSince >= this.syncIntervalMs * 0.75;
  }

  /** Idle `async` log: syncs what the last batches left unsynced (a running drain syncs by itself). */
  private async backgroundSync(): Promise<void> {
    if (!this.syncDue() || this.fd < 0 || this.writing) return;
    this.writing = this.syncNow().finally(() => (this.writing = null));
    await this.writing;
    if (this.queue.length > 0 && this.writing === null) this.writing = this.drain();
  }

  private async syncNow(): Promise<void> {
    if (!this.unsynced || this.fd < 0) return;
    const since = this.unsyncedSince;
    this.unsynced = false;
    try {
      await fdatasync(this.fd);
    } catch (err) {
      this.options.onError?.(err as Error);
      return;
    }
    this.syncCount++;
    this.longestUnsyncedMs = Math.max(this.longestUnsyncedMs, performance.now() - since);
  }

  /**
   * Closes the current segment (synced) and opens the next one, named by the first LSN it will
   * hold: every LSN below it is in an earlier segment, so a segment is found by its name alone.
   */
  private async rotate(firstLsn: number): Promise<void> {
    if (this.fd >= 0) {
      const closing = this.fd;
      const closedLsn = this.segmentFirstLsn;
      this.fd = -1;
      await fdatasync(closing).catch(() => undefined);
      this.unsynced = false;
      fs.closeSync(closing);
      this.options.onSegmentClosed?.(closedLsn);
    }
    const file = path.join(this.options.directory, segmentName(firstLsn));
    // 0600: the log holds request bodies as they were sent, readable by no one but the server's user.
    const fd = fs.openSync(file, this.openFlags(), 0o600);
    try {
      await writeAll(fd, [SEGMENT_MAGIC], 0);
      await fdatasync(fd);
      fsyncDir(this.options.directory);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw err;
    }
    this.options.onSegmentOpened?.(firstLsn);
    this.fd = fd;
    this.segmentFirstLsn = firstLsn;
    this.segmentBytes = SEGMENT_MAGIC.length;
    this.segmentOpenedAt = Date.now();
    this.segmentBroken = false;
  }

  /** First LSN of the segment being written (null before the first write). */
  get currentSegment(): number | null {
    return this.fd >= 0 ? this.segmentFirstLsn : null;
  }
}

/** writev until every byte is written (a short write is possible, e.g. on a nearly full disk). */
async function writeAll(fd: number, buffers: Buffer[], position: number): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    // Linux takes at most IOV_MAX (1024) buffers per call.
    const batch = pending.slice(0, 1024);
    let written = (await writev(fd, batch, at)).bytesWritten;
    if (written === 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    at += written;
    let consumed = 0;
    while (consumed < batch.length && written >= batch[consumed]!.length) written -= batch[consumed++]!.length;
    pending = pending.slice(consumed);
    if (written > 0) pending[0] = pending[0]!.subarray(written);
  }
}

import { copyBatch, type ColumnBatch } from '../columnar/column-batch.js';
import type { SchemaStore } from '../storage/measurement-schemas.js';
import { FileStampClock } from '../storage/layout.js';
import { ArcError, formatSize } from '../errors.js';
import { ArrayPool } from './array-pool.js';
import { MeasurementBuffer, type SealedBuffer } from './measurement-buffer.js';
import { conformBatches } from './schema-conform.js';

/** Where sealed buffers go: storage implements it. */
export interface FlushSink {
  /** Resolves once the rows are in Parquet files that are fsynced and renamed into place. */
  write(sealed: SealedBuffer): Promise<void>;
}

export interface BufferOptions {
  maxBufferRows: number;
  maxBufferAgeMs: number;
  /** Buffered plus in-flight bytes above which writes are refused with 503. */
  maxMemoryBytes: number;
  onFlushError?: (error: Error, sealed: SealedBuffer, attempt: number) => void;
  /** One type per column per measurement, kept across restarts. */
  schemas: SchemaStore;
  /** The arrays to recycle; by default the manager's own. The start-up warm-up shares the server's, so they arrive touched. */
  pool?: ArrayPool;
}

export interface BufferStats {
  buffers: number;
  bufferedRows: number;
  bufferedBytes: number;
  inflightFlushes: number;
  inflightBytes: number;
  pooledBytes: number;
  flushesStarted: number;
  flushesCompleted: number;
  flushErrors: number;
}

const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Owns every (database, measurement) buffer. Appends are synchronous and all-or-nothing per
 * request; flushes are handed to the sink and never awaited on the write path. A failed flush
 * keeps its rows in memory and is retried with backoff: a 204 already promised them.
 */
export class BufferManager {
  private readonly buffers = new Map<string, MeasurementBuffer>();
  readonly pool: ArrayPool;
  private readonly tickets = new Set<FlushTicket>();
  private readonly refused = new Set<string>();
  private readonly clock = new FileStampClock();
  private bufferedBytes = 0;
  private inflightBytes = 0;
  private ageTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private flushesStarted = 0;
  private flushesCompleted = 0;
  private flushErrors = 0;
  /** Callers of waitForMemoryBelow, woken whenever a flush completes. */
  private memoryWaiters: Array<() => void> = [];

  private readonly sink: FlushSink;

  constructor(
    sink: FlushSink,
    private readonly options: BufferOptions,
  ) {
    // A file is published only once its measurement's schema file names all of its columns.
    this.sink = { write: (sealed) => options.schemas.persisted(sealed.database, sealed.batch.measurement).then(() => sink.write(sealed)) };
    this.pool = options.pool ?? new ArrayPool(Math.max(64 << 20, options.maxMemoryBytes / 4));
    const tick = Math.min(1000, Math.max(10, Math.floor(options.maxBufferAgeMs / 10)));
    this.ageTimer = setInterval(() => this.flushAged(), tick);
    this.ageTimer.unref();
  }

  /**
   * Refuses a write before anything of it is kept: shutting down, or over the memory cap. With the
   * write-ahead log on this runs before the log entry is written, since once logged a write must
   * reach the buffers.
   */
  admit(database?: string): void {
    if (this.closed) throw new ArcError('ARC_ERR_SHUTTING_DOWN', 'Server is shutting down; write not accepted');
    if (database !== undefined) this.checkWritable(database);
    const used = this.bufferedBytes + this.inflightBytes;
    if (used > this.options.maxMemoryBytes) {
      throw new ArcError(
        'ARC_ERR_BUFFER_FULL',
        `Write rejected: ${formatSize(used)} buffered or being flushed exceeds ingest.max_buffer_memory (${formatSize(this.options.maxMemoryBytes)}); retry later`,
        {},
        { 'Retry-After': '1' },
      );
    }
  }

  /**
   * The batches of one request as they are to be stored (types of the measurement's schema), or a
   * 400 naming the first column whose type conflicts with it. Call before the write is logged;
   * `write` checks again (a no-op then), so a replayed write is held to the same schema.
   */
  conform(database: string, batches: readonly ColumnBatch[]): readonly ColumnBatch[] {
    return conformBatches(this.options.schemas, database, batches);
  }

  /**
   * Appends every batch of one request, or none: the only refusals (shutting down, memory cap,
   * a column type conflicting with the schema) happen before the first append. Returns the rows
   * appended.
   * @param logged the write's log entry (write-ahead log on; admitted already): `lsn`, and for a
   *   replay that skips rows already in files, where each batch starts among the entry's rows of
   *   its measurement (otherwise batches of one measurement follow each other).
   */
  write(database: string, given: readonly ColumnBatch[], logged?: { lsn: number; starts?: readonly number[] }): number {
    if (logged === undefined) this.admit();
    this.checkWritable(database);
    const batches = this.conform(database, given);
    const offsets = logged && !logged.starts ? new Map<string, number>() : null;
    let rows = 0;
    batches.forEach((batch, b) => {
      if (batch.rowCount === 0) return;
      const key = `${database}\u0000${batch.measurement}`;
      let buffer = this.buffers.get(key);
      if (buffer === undefined) {
        buffer = new MeasurementBuffer(database, batch.measurement, this.pool);
        this.buffers.set(key, buffer);
      }
      this.bufferedBytes += buffer.append(batch);
      if (logged) {
        const start = logged.starts ? logged.starts[b]! : offsets!.get(key) ?? 0;
        buffer.noteLogRows(logged.lsn, start, batch.rowCount);
        offsets?.set(key, start + batch.rowCount);
      }
      rows += batch.rowCount;
      if (buffer.rowCount >= this.options.maxBufferRows) this.flushBuffer(buffer);
    });
    return rows;
  }

  /**
   * Seals every buffer and waits until all rows accepted so far are durable. Rejects if any flush
   * fails (its rows stay buffered and keep being retried).
   */
  /** While a database is being deleted, writes to it are refused (409) instead of recreating it. */
  refuseWrites(database: string): void {
    this.refused.add(database);
  }

  allowWrites(database: string): void {
    this.refused.delete(database);
  }

  private checkWritable(database: string): void {
    if (this.refused.has(database)) {
      throw new ArcError('ARC_ERR_DATABASE_BEING_DELETED', `Write rejected: database '${database}' is being deleted; nothing of this request was kept`, { database });
    }
  }

  /**
   * Flushes the buffered rows of the measurements `which` selects and waits for every flush of
   * them in flight: afterwards each row acknowledged before the call is in a catalogued file.
   */
  async flushWhere(which: (database: string, measurement: string) => boolean): Promise<void> {
    for (const buffer of this.buffers.values()) {
      if (buffer.rowCount > 0 && which(buffer.database, buffer.measurement)) this.flushBuffer(buffer);
    }
    const mine = [...this.tickets].filter((ticket) => which(ticket.sealed.database, ticket.sealed.batch.measurement));
    const results = await Promise.allSettled(mine.map((ticket) => ticket.runNow()));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async flushAll(): Promise<void> {
    for (const buffer of this.buffers.values()) {
      if (buffer.rowCount > 0) this.flushBuffer(buffer);
    }
    const results = await Promise.allSettled([...this.tickets].map((ticket) => ticket.runNow()));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Stops taking writes and the age timer; then flushes everything, retrying until `deadline` (ms epoch). */
  async close(deadline: number): Promise<void> {
    this.closed = true;
    this.wakeMemoryWaiters();
    if (this.ageTimer) clearInterval(this.ageTimer);
    this.ageTimer = null;
    for (;;) {
      try {
        await this.flushAll();
        return;
      } catch (err) {
        if (Date.now() + 500 >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * Resolves once buffered plus in-flight bytes are at most `limit`: bulk imports wait here (back-
   * pressure) instead of being refused at ingest.max_buffer_memory. When nothing is being flushed,
   * the buffers are sealed now rather than left to the age timer.
   */
  async waitForMemoryBelow(limit: number): Promise<void> {
    while (this.bufferedBytes + this.inflightBytes > limit) {
      if (this.closed) throw new ArcError('ARC_ERR_SHUTTING_DOWN', 'Server is shutting down; write not accepted');
      if (this.inflightBytes === 0) {
        for (const buffer of this.buffers.values()) if (buffer.rowCount > 0) this.flushBuffer(buffer);
      }
      await new Promise<void>((resolve) => this.memoryWaiters.push(resolve));
    }
  }

  /** Rows that were acknowledged but are not yet in a durable file. */
  get pendingRows(): number {
    let rows = 0;
    for (const buffer of this.buffers.values()) rows += buffer.rowCount;
    for (const ticket of this.tickets) rows += ticket.sealed.batch.rowCount;
    return rows;
  }

  stats(): BufferStats {
    let bufferedRows = 0;
    let buffers = 0;
    for (const buffer of this.buffers.values()) {
      if (buffer.rowCount === 0) continue;
      buffers++;
      bufferedRows += buffer.rowCount;
    }
    return {
      buffers,
      bufferedRows,
      bufferedBytes: this.bufferedBytes,
      inflightFlushes: this.tickets.size,
      inflightBytes: this.inflightBytes,
      pooledBytes: this.pool.bytes,
      flushesStarted: this.flushesStarted,
      flushesCompleted: this.flushesCompleted,
      flushErrors: this.flushErrors,
    };
  }

  private flushAged(): void {
    const now = performance.now();
    for (const buffer of this.buffers.values()) {
      if (buffer.rowCount > 0 && now - buffer.firstRowAt >= this.options.maxBufferAgeMs) this.flushBuffer(buffer);
    }
  }

  /**
   * Every row of (database, measurement) that was acknowledged but is not known to be in a file:
   * copies of the open buffer and of the flushes in flight, plus the stamps naming those flushes'
   * files. A reader that takes these rows from here and skips files with these stamps sees each
   * row once, whether or not a flush finishes meanwhile.
   */
  unflushed(database: string, measurement: string): { batches: ColumnBatch[]; stamps: bigint[] } {
    const batches: ColumnBatch[] = [];
    const stamps: bigint[] = [];
    const current = this.buffers.get(`${database}\u0000${measurement}`)?.snapshot();
    if (current) batches.push(current);
    for (const ticket of this.tickets) {
      const sealed = ticket.sealed;
      if (sealed.database !== database || sealed.batch.measurement !== measurement) continue;
      batches.push(copyBatch(sealed.batch));
      stamps.push(sealed.stampNanos);
    }
    return { batches, stamps };
  }

  /** The oldest stamp of the flushes of (database, measurement) still in flight, or null: their files are not published yet. */
  oldestInFlightStamp(database: string, measurement: string): bigint | null {
    let oldest: bigint | null = null;
    for (const ticket of this.tickets) {
      const sealed = ticket.sealed;
      if (sealed.database !== database || sealed.batch.measurement !== measurement) continue;
      if (oldest === null || sealed.stampNanos < oldest) oldest = sealed.stampNanos;
    }
    return oldest;
  }

  /** Databases and measurements with rows in memory. */
  bufferedMeasurements(): Array<{ database: string; measurement: string }> {
    const out: Array<{ database: string; measurement: string }> = [];
    const seen = new Set<string>();
    const add = (database: string, measurement: string) => {
      const key = `${database}\u0000${measurement}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ database, measurement });
      }
    };
    for (const buffer of this.buffers.values()) if (buffer.rowCount > 0) add(buffer.database, buffer.measurement);
    for (const ticket of this.tickets) add(ticket.sealed.database, ticket.sealed.batch.measurement);
    return out;
  }

  private wakeMemoryWaiters(): void {
    const waiters = this.memoryWaiters;
    this.memoryWaiters = [];
    for (const wake of waiters) wake();
  }

  private flushBuffer(buffer: MeasurementBuffer): void {
    const sealed = buffer.seal(this.clock.next());
    this.bufferedBytes -= sealed.bytes;
    this.inflightBytes += sealed.bytes;
    this.flushesStarted++;
    const ticket = new FlushTicket(sealed, this.sink, {
      done: () => {
        this.tickets.delete(ticket);
        this.inflightBytes -= sealed.bytes;
        this.flushesCompleted++;
        for (const shared of sealed.buffers) this.pool.give(shared);
        this.wakeMemoryWaiters();
      },
      failed: (error, attempt) => {
        this.flushErrors++;
        this.options.onFlushError?.(error, sealed, attempt);
      },
    });
    this.tickets.add(ticket);
    ticket.runNow().catch(() => {}); // failures are retried by the ticket and surfaced by flushAll
  }
}

/** One sealed buffer on its way to disk, retried with backoff until it is written. */
class FlushTicket {
  private running: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempts = 0;

  constructor(
    readonly sealed: SealedBuffer,
    private readonly sink: FlushSink,
    private readonly events: { done(): void; failed(error: Error, attempt: number): void },
  ) {}

  /** Starts an attempt now (or joins the running one). Rejects if that attempt fails. */
  runNow(): Promise<void> {
    if (this.running) return this.running;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.attempts++;
    const attempt = this.attempts;
    this.running = this.sink.write(this.sealed).then(
      () => {
        this.running = null;
        this.events.done();
      },
      (err: unknown) => {
        this.running = null;
        const error = err instanceof Error ? err : new Error(String(err));
        this.events.failed(error, attempt);
        const delay = Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** Math.min(attempt, 7));
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.runNow().catch(() => {});
        }, delay);
        this.retryTimer.unref();
        throw new ArcError('ARC_ERR_FLUSH_FAILED', `Flush failed: ${error.message}`);
      },
    );
    return this.running;
  }
}

import type { BufferManager } from '../buffer/buffer-manager.js';
import { encodeBatches } from '../columnar/batch-codec.js';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { ArcError } from '../errors.js';
import { EntryKind, type WriteMeta } from '../wal/wal-format.js';
import type { WriteAheadLog } from '../wal/write-ahead-log.js';

/** The normal write path an import feeds: the write-ahead log when it is on, then the buffers. */
export interface WritePath {
  readonly buffers: BufferManager;
  readonly wal: WriteAheadLog | null;
}

/** A chunk of line protocol as read from the file, logged as-is so a replay parses it the same way. */
export interface LineProtocolChunk {
  text: Buffer;
  /** Time in µs given to lines without a timestamp. */
  nowMicros: number;
  precision: string;
}

/** How long to wait before retrying a write the buffers or the log refused because others filled them. */
const BUSY_RETRY_MS = 50;
/** A chunk refused for this long (a failing disk, not a busy moment) ends the import with that refusal. */
const GIVE_UP_MS = 60_000;

/**
 * Where an import's rows go, chunk by chunk, through the same path as HTTP writes: logged first
 * when the write-ahead log is on, then appended to the buffers (queries see them at once). Instead
 * of failing when the buffers are full it waits: an import waits until buffered plus in-flight
 * data is below `budgetBytes` before each chunk, so a file of any size holds at most about that
 * much memory. Chunks are written one at a time, in file order.
 */
export class ImportSink {
  /** Rows acknowledged by the write path so far. */
  rows = 0;

  constructor(
    private readonly path: WritePath,
    readonly database: string,
    private readonly budgetBytes: number,
  ) {}

  /**
   * Writes one chunk. `source` is the line protocol text the batches were parsed from (logged
   * instead of the batches when given); the batches may be reused once this resolves.
   */
  async write(batches: readonly ColumnBatch[], source?: LineProtocolChunk): Promise<void> {
    let rows = 0;
    for (const batch of batches) rows += batch.rowCount;
    if (rows === 0) return;
    const giveUpAt = Date.now() + GIVE_UP_MS;
    for (;;) {
      await this.path.buffers.waitForMemoryBelow(this.budgetBytes);
      try {
        if (this.path.wal) {
          const meta: WriteMeta = source ? { d: this.database, n: source.nowMicros, p: source.precision } : { d: this.database, n: 0 };
          const kind = source ? EntryKind.LineProtocol : EntryKind.Batches;
          await this.path.wal.write(this.path.buffers, kind, meta, source ? source.text : encodeBatches(batches), batches);
        } else {
          this.path.buffers.write(this.database, batches);
        }
        this.rows += rows;
        return;
      } catch (err) {
        // Other writers may fill the buffers or the log's backlog between the wait and the write.
        if (!(err instanceof ArcError) || (err.code !== 'ARC_ERR_BUFFER_FULL' && err.code !== 'ARC_ERR_WAL_UNAVAILABLE')) throw err;
        if (Date.now() > giveUpAt) throw err;
        await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
      }
    }
  }
}

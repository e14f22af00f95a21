import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../storage/durable-files.js';
import { segmentName, type Contributions } from './wal-format.js';

interface Segment {
  firstLsn: number;
  /** No more entries will be written to it. */
  closed: boolean;
}

/**
 * Which log segments still hold rows that are not in published Parquet files. Rows are counted per
 * entry from the moment the entry is queued (before it is even written), so a segment can never
 * look empty while one of its writes is still on its way to the buffers.
 *
 * A segment is deleted once it is closed, none of its entries has rows pending, and every older
 * segment is gone: deleting in order (each deletion made durable before the next) means a crash
 * can never leave a segment whose flush records, kept in later segments, have disappeared.
 */
export class WalLedger {
  private readonly segments: Segment[] = [];
  /** LSN → rows not yet in published files; insertion order is LSN order, so the first key is the oldest. */
  private readonly pending = new Map<number, number>();
  private collecting: Promise<void> | null = null;
  private again = false;
  /** While start-up replays the log, nothing may be deleted: rows of later entries are not counted yet. */
  private held = true;

  constructor(
    private readonly directory: string,
    /** The LSN the writer will give next: a closed last segment holds every LSN below it. */
    private readonly nextLsn: () => number,
    private readonly onError?: (error: Error) => void,
  ) {}

  /** Registers a segment (found at start-up, or just opened by the writer), in LSN order. */
  addSegment(firstLsn: number, closed: boolean): void {
    const last = this.segments.at(-1);
    if (last && last.firstLsn >= firstLsn) throw new Error(`write-ahead log segment ${firstLsn} opened after ${last.firstLsn}`);
    this.segments.push({ firstLsn, closed });
  }

  closeSegment(firstLsn: number): void {
    const segment = this.segments.find((s) => s.firstLsn === firstLsn);
    if (segment) segment.closed = true;
    this.collect();
  }

  /** Rows of the entry `lsn` bound for the buffers (counted before the entry is written). */
  addRows(lsn: number, rows: number): void {
    if (rows > 0) this.pending.set(lsn, (this.pending.get(lsn) ?? 0) + rows);
  }

  /** The entry `lsn` was not logged after all (its write failed): it holds no rows. */
  forget(lsn: number): void {
    this.pending.delete(lsn);
  }

  /** Rows that a published flush holds. */
  committed(rows: Contributions): void {
    for (let i = 0; i < rows.length; i += 3) {
      const lsn = rows[i]!;
      const left = (this.pending.get(lsn) ?? 0) - rows[i + 2]!;
      if (left > 0) this.pending.set(lsn, left);
      else this.pending.delete(lsn);
    }
    this.collect();
  }

  /** Start-up replay is over: every logged row still pending is counted. */
  release(): void {
    this.held = false;
    this.collect();
  }

  get pendingRows(): number {
    let rows = 0;
    for (const n of this.pending.values()) rows += n;
    return rows;
  }

  /** First LSN of the oldest segment still on disk (segments are deleted oldest first), or null. */
  get oldestSegmentLsn(): number | null {
    return this.segments[0]?.firstLsn ?? null;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Resolves when the deletions started so far are done. */
  async settled(): Promise<void> {
    while (this.collecting) await this.collecting;
  }

  private deletable(): boolean {
    const oldest = this.segments[0];
    if (this.held || oldest === undefined || !oldest.closed) return false;
    const end = this.segments[1]?.firstLsn ?? this.nextLsn();
    const oldestPending = this.pending.keys().next();
    return oldestPending.done === true || oldestPending.value >= end;
  }

  private collect(): void {
    if (this.collecting) {
      this.again = true;
      return;
    }
    if (!this.deletable()) return;
    this.collecting = (async () => {
      try {
        do {
          this.again = false;
          while (this.deletable()) {
            const { firstLsn } = this.segments[0]!;
            await fs.promises.rm(path.join(this.directory, segmentName(firstLsn)), { force: true });
            fsyncDir(this.directory);
            this.segments.shift();
          }
        } while (this.again);
      } catch (err) {
        this.onError?.(err as Error);
      } finally {
        this.collecting = null;
      }
    })();
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MsgpackWriter, type PageSource } from '../duckdb/msgpack-cells.js';

/** Size of the blocks a spilled column is read back in. */
const READ_BLOCK = 1 << 20;

interface ColumnState {
  writer: MsgpackWriter;
  /** Filled pages still in memory, in order. */
  pages: Array<{ buf: Buffer; used: number }>;
  /** Byte ranges of the spill file holding this column's earlier bytes, in order. */
  extents: Array<{ offset: number; length: number }>;
  bytes: number;
}

/**
 * The encoded cells of a column-major result while it is produced row-major: one stream of
 * bytes per column, kept in memory up to `memoryBudget`, beyond that appended to one temporary
 * file in large per-column extents. MessagePack puts every array's length before its items, so
 * nothing can be sent until the last row is known; the spool bounds what that costs in memory.
 *
 * The file is unlinked as soon as it is opened: it never shows in the storage tree and a crash
 * leaves nothing behind.
 */
export class ResultSpool {
  readonly columns: ColumnState[];
  private readonly pageSize: number;
  private readonly free: Buffer[] = [];
  private memory = 0;
  private fd: fs.promises.FileHandle | null = null;
  private fileSize = 0;
  /** Bytes that went to the file (for tests and logs). */
  spilledBytes = 0;

  constructor(
    columnCount: number,
    private readonly memoryBudget: number,
    private readonly directory: string,
  ) {
    // Partial pages stay in memory, one per column: keep them small when there are many columns.
    this.pageSize = Math.max(4096, Math.min(65536, Math.floor(memoryBudget / Math.max(1, 2 * columnCount))));
    this.columns = Array.from({ length: columnCount }, () => {
      const column = { pages: [], extents: [], bytes: 0 } as unknown as ColumnState;
      const source: PageSource = { nextPage: (full, used, need) => this.nextPage(column, full, used, need) };
      column.writer = new MsgpackWriter(source, this.page(0));
      return column;
    });
  }

  private nextPage(column: ColumnState, full: Buffer, used: number, need: number): Buffer {
    if (used > 0) {
      column.pages.push({ buf: full, used });
      column.bytes += used;
      this.memory += full.length;
    } else {
      this.recycle(full);
    }
    return this.page(need);
  }

  /** Bytes of column `c` so far. */
  columnBytes(c: number): number {
    const column = this.columns[c]!;
    return column.bytes + column.writer.pos;
  }

  /** Moves the filled pages to the file once they pass the memory budget; call between chunks. */
  async spillIfNeeded(): Promise<void> {
    if (this.memory <= this.memoryBudget) return;
    if (this.fd === null) {
      await fs.promises.mkdir(this.directory, { recursive: true });
      const file = path.join(this.directory, `result-${process.pid}-${randomBytes(6).toString('hex')}.spool`);
      this.fd = await fs.promises.open(file, 'wx+', 0o600);
      await fs.promises.unlink(file);
    }
    for (const column of this.columns) {
      if (column.pages.length === 0) continue;
      const buffers = column.pages.map((p) => p.buf.subarray(0, p.used));
      const length = buffers.reduce((n, b) => n + b.length, 0);
      let written = 0;
      while (written < length) {
        const { bytesWritten } = await this.fd.writev(written === 0 ? buffers : [Buffer.concat(buffers).subarray(written)], this.fileSize + written);
        written += bytesWritten;
      }
      column.extents.push({ offset: this.fileSize, length });
      this.fileSize += length;
      this.spilledBytes += length;
      for (const page of column.pages) {
        this.memory -= page.buf.length;
        this.recycle(page.buf);
      }
      column.pages = [];
    }
  }

  /**
   * Hands column `c`'s bytes, in order, to `write` (which resolves false when the client went
   * away); the column's memory is released as it goes.
   */
  async drainColumn(c: number, write: (bytes: Uint8Array, sent?: () => void) => Promise<boolean>): Promise<boolean> {
    const column = this.columns[c]!;
    const blocks: Buffer[] = [];
    for (const extent of column.extents) {
      for (let at = 0; at < extent.length; ) {
        const block = blocks.pop() ?? Buffer.allocUnsafeSlow(READ_BLOCK);
        const want = Math.min(READ_BLOCK, extent.length - at);
        const { bytesRead } = await this.fd!.read(block, 0, want, extent.offset + at);
        if (bytesRead === 0) throw new Error('result spool file ended early');
        at += bytesRead;
        if (!(await write(block.subarray(0, bytesRead), () => blocks.push(block)))) return false;
      }
    }
    for (const page of column.pages) {
      if (!(await write(page.buf.subarray(0, page.used)))) return false;
    }
    column.pages = [];
    const last = column.writer;
    if (last.pos > 0 && !(await write(last.buf.subarray(0, last.pos)))) return false;
    return true;
  }

  async close(): Promise<void> {
    await this.fd?.close();
    this.fd = null;
  }

  private page(need: number): Buffer {
    if (need <= this.pageSize) return this.free.pop() ?? Buffer.allocUnsafeSlow(this.pageSize);
    return Buffer.allocUnsafeSlow(need);
  }

  private recycle(buf: Buffer): void {
    if (buf.length === this.pageSize && this.free.length < 64) this.free.push(buf);
  }
}

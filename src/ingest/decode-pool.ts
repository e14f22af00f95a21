import { Worker } from 'node:worker_threads';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { ArcError, formatSize, type ErrorCode } from '../errors.js';
import { declaredZstdSize, type BodyEncoding } from './body-encoding.js';
import type { RejectedLine } from './line-protocol.js';

/** One body for a decode worker. */
export interface DecodeJob {
  id: number;
  format: 'msgpack' | 'line-protocol';
  /** The raw body as received (compressed or not); a copy, the caller keeps its own for the log. */
  body: Uint8Array;
  /** Largest decompressed size. */
  limit: number;
  nowMicros: number;
  /** Line protocol only. */
  precision?: string;
}

export type DecodeReply =
  | {
      id: number;
      ok: true;
      /** The decoded batches, their arrays in shared memory (sharedCopy): posted without copying a row. */
      batches: ColumnBatch[];
      /** msgpack: the payload item of each batch. */
      items: number[];
      multiItem: boolean;
      rowCount: number;
      /** Line protocol: the line counts and rejected lines. */
      lines: { lines: number; written: number; rejected: number; rejectedLines: RejectedLine[] } | null;
    }
  | { id: number; ok: false; code: ErrorCode | null; message: string; details: Record<string, unknown> };

export interface DecodedBody {
  batches: ColumnBatch[];
  items: number[];
  multiItem: boolean;
  rowCount: number;
  lines: { lines: number; written: number; rejected: number; rejectedLines: RejectedLine[] } | null;
}

export interface DecodePoolOptions {
  /** Worker threads (each decodes one body at a time). */
  workers: number;
  /** Bytes the bodies in flight may take once expanded; past it a new body is refused with 503. */
  memoryBudget: number;
  /** Nice value of the worker threads (0 = the server's priority). */
  nice?: number;
}

/**
 * Decompression and decoding of large or compressed write bodies in worker threads (#13 item 5),
 * so a body that expands to hundreds of megabytes never blocks the event loop that answers
 * `/health` and small writes. Admission is by a memory budget: each body reserves what it may
 * expand to (its declared zstd size, gzip's recorded size, else the payload limit), times two
 * (the expanded body plus its decoded columns). A body that does not fit while others are in
 * flight is refused with 503 and Retry-After; one body alone is always admitted, so a legitimate
 * large write still goes through when the server is otherwise idle. Small uncompressed bodies do
 * not come here: the route decodes them inline (no thread hop on the hot path).
 */
export class DecodePool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly queue: Array<{ job: DecodeJob; settle: (reply: DecodeReply | Error) => void }> = [];
  private readonly running = new Map<Worker, (reply: DecodeReply | Error) => void>();
  private reserved = 0;
  private inFlight = 0;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: DecodePoolOptions) {}

  /** Bytes reserved by bodies being decoded or waiting (for metrics and tests). */
  get reservedBytes(): number {
    return this.reserved;
  }

  async decode(format: DecodeJob['format'], raw: Buffer, encoding: BodyEncoding, limit: number, nowMicros: number, precision?: string): Promise<DecodedBody> {
    if (this.closed) throw new ArcError('ARC_ERR_DECODE_BUSY', 'the server is shutting down; retry later', {}, { 'Retry-After': '1' });
    const reservation = 2 * expandedEstimate(raw, encoding, limit);
    if (this.inFlight > 0 && this.reserved + reservation > this.options.memoryBudget) {
      throw new ArcError(
        'ARC_ERR_DECODE_BUSY',
        `Too many large or compressed bodies being decoded at once (this one may expand to ${formatSize(reservation / 2)}); retry later`,
        {},
        { 'Retry-After': '1' },
      );
    }
    this.reserved += reservation;
    this.inFlight++;
    try {
      const job: DecodeJob = { id: this.nextId++, format, body: new Uint8Array(raw), limit, nowMicros, ...(precision !== undefined ? { precision } : {}) };
      const reply = await new Promise<DecodeReply | Error>((settle) => {
        this.queue.push({ job, settle });
        this.pump();
      });
      if (reply instanceof Error) throw reply;
      if (!reply.ok) {
        if (reply.code !== null) throw new ArcError(reply.code, reply.message, reply.details);
        throw new Error(`decode worker failed: ${reply.message}`);
      }
      return { batches: reply.batches, items: reply.items, multiItem: reply.multiItem, rowCount: reply.rowCount, lines: reply.lines };
    } finally {
      this.reserved -= reservation;
      this.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiting of this.queue.splice(0)) waiting.settle(new ArcError('ARC_ERR_DECODE_BUSY', 'the server is shutting down; retry later', {}, { 'Retry-After': '1' }));
    await Promise.all([...this.all].map((worker) => worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (worker === undefined) {
        if (this.all.size >= this.options.workers) return;
        worker = this.spawn();
      }
      const { job, settle } = this.queue.shift()!;
      this.running.set(worker, settle);
      worker.postMessage(job, [job.body.buffer as ArrayBuffer]);
    }
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./decode-worker.js', import.meta.url), { workerData: { nice: this.options.nice ?? 0 } });
    worker.unref();
    this.all.add(worker);
    worker.on('message', (reply: DecodeReply) => {
      const settle = this.running.get(worker);
      this.running.delete(worker);
      this.idle.push(worker);
      settle?.(reply);
      this.pump();
    });
    const fail = (error: Error) => {
      const settle = this.running.get(worker);
      this.running.delete(worker);
      this.all.delete(worker);
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
      settle?.(error);
      if (!this.closed) this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`decode worker exited with code ${code}`)));
    return worker;
  }
}

/** What a body may expand to: its size uncompressed, zstd's declared frame sizes, gzip's recorded size (never below 4× the raw size), else the limit. */
function expandedEstimate(raw: Buffer, encoding: BodyEncoding, limit: number): number {
  if (encoding === 'none') return raw.length;
  if (encoding === 'gzip' && raw.length >= 18) {
    // ISIZE (the size mod 2^32) cannot be trusted from a hostile client; never below 4× the raw size.
    return Math.min(limit, Math.max(raw.readUInt32LE(raw.length - 4), raw.length * 4));
  }
  if (encoding === 'zstd') {
    try {
      const declared = declaredZstdSize(raw);
      if (declared !== null) return Math.min(limit, declared);
    } catch {
      // not a well-formed frame: the worker reports it; reserve the worst case meanwhile
    }
  }
  return limit;
}

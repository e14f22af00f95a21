import type { ServerResponse } from 'node:http';
import * as arrow from 'apache-arrow';
import { ArrowBatchConverter } from '../duckdb/arrow-batches.js';
import type { OpenQuery } from '../query/query-service.js';
import { writeWithBackpressure } from './respond.js';

/** Bytes gathered before one write to the socket: the Arrow writer emits many small pieces per batch. */
const WRITE_BYTES = 1 << 20;

/**
 * Streams a query's rows as Arrow IPC, one record batch per DuckDB chunk. Batches are views of
 * DuckDB memory and of scratch space, so the writer's output is copied at once into a few staging
 * buffers that are recycled once the socket has taken them (fresh memory is the cost to avoid).
 * Resolves false when the client went away.
 */
export async function streamArrow(res: ServerResponse, query: OpenQuery, first: Awaited<ReturnType<OpenQuery['next']>>): Promise<boolean> {
  const converter = new ArrowBatchConverter(query.columns);
  const sink = new StagingSink();
  const writer = new arrow.RecordBatchStreamWriter();
  writer.reset(sink, converter.schema);
  res.writeHead(200, { 'Content-Type': 'application/vnd.apache.arrow.stream', 'X-Content-Type-Options': 'nosniff', 'Access-Control-Allow-Origin': '*' });
  for (let chunk = first; chunk !== null; chunk = await query.next()) {
    writer.write(converter.convert(chunk));
    if (sink.size >= WRITE_BYTES && !(await sink.flushTo(res))) return false;
  }
  writer.finish();
  res.end(sink.take());
  return true;
}

/**
 * The writer's sink (apache-arrow accepts its own queue type only): every piece is copied into
 * the current staging buffer as it comes, synchronously, while the chunk it views still lives.
 */
class StagingSink extends arrow.AsyncByteQueue {
  private readonly free: Buffer[] = [];
  private current: Buffer = Buffer.allocUnsafeSlow(2 * WRITE_BYTES);
  size = 0;

  override write(value: ArrayBufferView | Uint8Array): void {
    const length = value.byteLength;
    if (length === 0) return;
    if (this.size + length > this.current.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.current.length, this.size + length));
      this.current.copy(grown, 0, 0, this.size);
      this.current = grown;
    }
    const bytes = value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, length);
    this.current.set(bytes, this.size);
    this.size += length;
  }

  /** What was written so far, in a buffer of its own (for the last write of the response). */
  take(): Buffer {
    const out = Buffer.from(this.current.subarray(0, this.size));
    this.size = 0;
    return out;
  }

  /** Hands the staged bytes to the socket; the buffer comes back for reuse once they are sent. */
  async flushTo(res: ServerResponse): Promise<boolean> {
    const full = this.current;
    const bytes = full.subarray(0, this.size);
    this.current = this.free.pop() ?? Buffer.allocUnsafeSlow(full.length);
    this.size = 0;
    return writeWithBackpressure(res, bytes, () => this.free.push(full));
  }
}

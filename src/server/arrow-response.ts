import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import * as arrow from 'apache-arrow';
import { BufferRegion } from 'apache-arrow/ipc/metadata/message';
import { compressFrameSync } from 'lz4-napi';
import zstd from 'zstd-napi';
import { ArrowBatchConverter } from '../duckdb/arrow-batches.js';
import { dictionaryColumns } from '../duckdb/arrow-dictionary.js';
import { ArcError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OpenQuery } from '../query/query-service.js';
import { writeWithBackpressure } from './respond.js';

/** Bytes gathered before one write to the socket: the Arrow writer emits many small pieces per batch. */
const WRITE_BYTES = 1 << 20;

export interface ArrowOptions {
  /** IPC body-buffer compression of every record and dictionary batch. */
  compression: 'zstd' | 'lz4' | null;
  /** `x-arc-arrow-dictionary`: low-cardinality string columns as dictionary<int32, utf8>. */
  dictionary: boolean;
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] ?? '' : value ?? '').trim().toLowerCase();
}

/**
 * The Arrow options of a request (arc-spec-lifecycle §7.3). Unknown values are refused with 400
 * (Arc ignores an unknown `x-arc-arrow-dictionary` value; a typo would silently turn it off).
 */
export function arrowOptions(headers: IncomingHttpHeaders): ArrowOptions {
  const compression = header(headers, 'x-arc-arrow-compression');
  if (compression !== '' && compression !== 'zstd' && compression !== 'lz4') {
    throw new ArcError('ARC_ERR_BAD_ARROW_OPTION', 'invalid x-arc-arrow-compression: must be zstd or lz4', { header: 'x-arc-arrow-compression', value: headers['x-arc-arrow-compression'] });
  }
  const dictionary = header(headers, 'x-arc-arrow-dictionary');
  if (!['', 'true', '1', 'false', '0'].includes(dictionary)) {
    throw new ArcError('ARC_ERR_BAD_ARROW_OPTION', 'invalid x-arc-arrow-dictionary: must be true, 1, false or 0', { header: 'x-arc-arrow-dictionary', value: headers['x-arc-arrow-dictionary'] });
  }
  return { compression: compression === '' ? null : compression, dictionary: dictionary === 'true' || dictionary === '1' };
}

/**
 * Streams a query's rows as Arrow IPC, one record batch per DuckDB chunk. Batches are views of
 * DuckDB memory and of scratch space, so the writer's output is copied at once into a few staging
 * buffers that are recycled once the socket has taken them (fresh memory is the cost to avoid).
 * Resolves false when the client went away.
 */
export async function streamArrow(res: ServerResponse, query: OpenQuery, first: Awaited<ReturnType<OpenQuery['next']>>, options: ArrowOptions, log: Logger): Promise<boolean> {
  const converter = new ArrowBatchConverter(query.columns, options.dictionary ? dictionaryColumns(query.columns, first) : undefined);
  converter.onLargeDictionary = (column, entries) =>
    log.warn('Arrow dictionary grew large; it is resent whole whenever it grows', { column, entries });
  const sink = new StagingSink();
  const writer = options.compression === null ? new arrow.RecordBatchStreamWriter() : new CompressingStreamWriter(options.compression);
  writer.reset(sink, converter.schema);
  // The status goes out with the first megabyte: an error in the rows before it is still a clean 4xx/5xx.
  const start = () => {
    if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/vnd.apache.arrow.stream', 'X-Content-Type-Options': 'nosniff', 'Access-Control-Allow-Origin': '*' });
  };
  for (let chunk = first; chunk !== null; chunk = await query.next()) {
    writer.write(converter.convert(chunk));
    if (sink.size >= WRITE_BYTES) {
      start();
      if (!(await sink.flushTo(res))) return false;
    }
  }
  writer.finish();
  start();
  res.end(sink.take());
  return true;
}

type Codec = (bytes: Uint8Array) => Uint8Array;

function codecOf(compression: 'zstd' | 'lz4'): Codec {
  if (compression === 'lz4') return (bytes) => compressFrameSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const compressor = new zstd.Compressor();
  compressor.setParameters({ compressionLevel: 1 });
  return (bytes) => compressor.compress(bytes);
}

const EMPTY = new Uint8Array(0);

/**
 * apache-arrow's writer with IPC body-buffer compression done right: its own
 * `_compressBodyBuffers` (21.2) prefixes each buffer with the *compressed* length where the
 * format wants the uncompressed one, which its own reader ignores but pyarrow and polars do
 * not. Every non-empty buffer is compressed (arrow-go's and Arrow C++'s default), so readers
 * that predate the "-1 = left uncompressed" convention read the stream too.
 */
class CompressingStreamWriter extends arrow.RecordBatchStreamWriter {
  private readonly codec: Codec;

  constructor(compression: 'zstd' | 'lz4') {
    super({ compressionType: compression === 'zstd' ? arrow.CompressionType.ZSTD : arrow.CompressionType.LZ4_FRAME });
    this.codec = codecOf(compression);
  }

  protected override _compressBodyBuffers(buffers: ArrayBufferView[]): { byteLength: number; bufferRegions: BufferRegion[]; buffers: ArrayBufferView[] } {
    const out: ArrayBufferView[] = [];
    const regions: BufferRegion[] = [];
    let offset = 0;
    for (const buffer of buffers) {
      const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      if (bytes.length === 0) {
        // an empty pair: the body writer skips it, the region says "no bytes"
        out.push(EMPTY, EMPTY);
        regions.push(new BufferRegion(offset, 0));
        continue;
      }
      const compressed = this.codec(bytes);
      const prefix = new Uint8Array(8);
      new DataView(prefix.buffer).setBigInt64(0, BigInt(bytes.length), true);
      out.push(prefix, compressed);
      // every (prefix, bytes) pair starts 8-aligned: the body writer pads after each pair
      offset = (offset + 7) & ~7;
      regions.push(new BufferRegion(offset, 8 + compressed.length));
      offset += 8 + compressed.length;
    }
    return { byteLength: (offset + 7) & ~7, bufferRegions: regions, buffers: out };
  }
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

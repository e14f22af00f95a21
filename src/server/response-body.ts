import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import zlib from 'node:zlib';
import zstd from 'zstd-napi';
import { writeWithBackpressure } from './respond.js';

export type ContentEncoding = 'zstd' | 'gzip';

/**
 * The encoding a client asked for in `Accept-Encoding`, as Arc decides it (arc-spec-lifecycle
 * §7.2): zstd wins over gzip/x-gzip whatever the order or q-values; a token whose first
 * parameter is a q of 0 is ignored; anything else (including `*`) means identity.
 */
export function negotiateEncoding(header: string | string[] | undefined): ContentEncoding | null {
  const text = Array.isArray(header) ? header.join(',') : header ?? '';
  let gzip = false;
  let zstd = false;
  for (const part of text.split(',')) {
    const [name = '', first] = part.split(';');
    const token = name.trim().toLowerCase();
    const q = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(first ?? '');
    if (q && Number(q[1]) === 0) continue;
    if (token === 'zstd') zstd = true;
    else if (token === 'gzip' || token === 'x-gzip') gzip = true;
  }
  return zstd ? 'zstd' : gzip ? 'gzip' : null;
}

/** Compressor output is handed to the socket in blocks of about this size (Arc: ~128 KB). */
const BLOCK_BYTES = 128 * 1024;

/**
 * A streamed success body, compressed when the client accepts it. Writes honour backpressure
 * (the compressor's, then the socket's) and resolve false once the client has gone.
 */
export class ResponseBody {
  private readonly target: Writable;
  private readonly compressor: (Writable & NodeJS.ReadableStream) | null;

  private constructor(
    private readonly res: ServerResponse,
    encoding: ContentEncoding | null,
  ) {
    if (encoding === null) {
      this.compressor = null;
      this.target = res;
      return;
    }
    const compressor =
      encoding === 'gzip'
        ? zlib.createGzip({ level: zlib.constants.Z_BEST_SPEED, chunkSize: BLOCK_BYTES })
        : new zstd.CompressStream({ compressionLevel: 1 });
    compressor.on('error', () => res.destroy());
    res.once('close', () => compressor.destroy());
    compressor.pipe(res);
    this.compressor = compressor;
    this.target = compressor;
  }

  /**
   * Sends the status line and headers. `compressible` is false for the bodies Arc never encodes
   * (SHOW results, empty "no files" results): those get neither Content-Encoding nor Vary.
   */
  static start(req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders, compressible: boolean): ResponseBody {
    const encoding = compressible ? negotiateEncoding(req.headers['accept-encoding']) : null;
    const all: OutgoingHttpHeaders = { ...headers };
    if (compressible) all.Vary = 'Accept-Encoding';
    if (encoding) all['Content-Encoding'] = encoding;
    res.writeHead(200, all);
    return new ResponseBody(res, encoding);
  }

  get closed(): boolean {
    return this.res.destroyed;
  }

  /** `sent` runs once the bytes are taken (so their buffer may be reused). */
  async write(data: string | Uint8Array, sent?: () => void): Promise<boolean> {
    if (this.compressor === null) return writeWithBackpressure(this.res, data, sent);
    if (this.res.destroyed) return false;
    if (this.target.write(data, sent ? (err) => (err ? undefined : sent()) : undefined)) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.target.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.target.on('drain', done);
      this.res.on('close', done);
    });
    return !this.res.destroyed;
  }

  /** Ends the body (the compressor's last block and trailer included). */
  end(data?: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.res.destroyed) {
        resolve();
        return;
      }
      this.res.once('finish', () => resolve());
      this.res.once('close', () => resolve());
      if (data === undefined) this.target.end();
      else this.target.end(data);
    });
  }
}

import zlib from 'node:zlib';
import zstd from 'zstd-napi/binding.js';
import { ArcError, formatSize } from '../errors.js';

// Compressed write bodies (gzip, zstd), below the HTTP layer: the server decompresses request
// bodies with these, and the write-ahead log decompresses logged bodies with them at replay.

export type BodyEncoding = 'gzip' | 'zstd' | 'none';

/** Compression is told by magic bytes, never by Content-Encoding (arc-spec §1). */
export function sniffEncoding(body: Uint8Array): BodyEncoding {
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) return 'gzip';
  if (body.length >= 4 && body[0] === 0x28 && body[1] === 0xb5 && body[2] === 0x2f && body[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * Decompresses a gzip or zstd body, capping the output at `limit` bytes so a small bomb cannot
 * expand into gigabytes. gzip runs on libuv's thread pool, off the event loop.
 */
export async function decompressBody(body: Buffer, encoding: BodyEncoding, limit: number): Promise<Buffer> {
  if (encoding === 'gzip') {
    try {
      return await gunzip(body, limit);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw expandsTooFar('gzip', limit);
      throw new ArcError('ARC_ERR_BAD_COMPRESSION', `Invalid gzip compression: ${(err as Error).message}`);
    }
  }
  if (encoding === 'zstd') return unzstd(body, limit);
  return body;
}

function gunzip(body: Buffer, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.gunzip(body, { maxOutputLength: limit }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

function expandsTooFar(kind: 'gzip' | 'zstd', limit: number): ArcError {
  return new ArcError(
    'ARC_ERR_DECOMPRESSED_TOO_LARGE',
    `Invalid ${kind} compression: decompressed payload exceeds ${formatSize(limit)} limit`,
  );
}

const { dStreamOutSize, findFrameCompressedSize, getFrameContentSize } = zstd;
const zstdContext = new zstd.DCtx();

function unzstd(body: Buffer, limit: number): Buffer {
  try {
    const declared = declaredZstdSize(body);
    if (declared !== null) {
      if (declared > limit) throw expandsTooFar('zstd', limit);
      const out = Buffer.allocUnsafe(declared);
      const written = zstdContext.decompress(out, body);
      if (written !== declared) throw new Error(`frame declared ${declared} bytes but held ${written}`);
      return out;
    }
    // Frames without a declared size (streaming compressors): decompress piece by piece.
    const pieces: Buffer[] = [];
    let total = 0;
    let input: Buffer = body;
    for (;;) {
      const piece = Buffer.allocUnsafe(Math.max(dStreamOutSize(), Math.min(input.length * 4, 1 << 22)));
      const [result, produced, consumed] = zstdContext.decompressStream(piece, input);
      total += produced;
      if (total > limit) throw expandsTooFar('zstd', limit);
      if (produced > 0) pieces.push(piece.subarray(0, produced));
      input = input.subarray(consumed);
      if (input.length === 0 && (result === 0 || produced < piece.length)) {
        if (result !== 0) throw new Error('truncated frame');
        break;
      }
      if (consumed === 0 && produced === 0) throw new Error('no progress (corrupt frame)');
    }
    return Buffer.concat(pieces, total);
  } catch (err) {
    // Any stop mid-stream (a bomb cut at the limit included) leaves the shared context inside a frame:
    // reset it, or the next body would be read as the rest of this one.
    zstdContext.reset(zstd.ResetDirective.sessionOnly);
    if (err instanceof ArcError) throw err;
    throw new ArcError('ARC_ERR_BAD_COMPRESSION', `Invalid zstd compression: ${(err as Error).message}`);
  }
}

/**
 * Sum of the content sizes the frames declare, or null if one does not declare it. A declared size
 * is a true bound: decompression writes into a buffer of exactly that size and fails otherwise.
 */
export function declaredZstdSize(body: Buffer): number | null {
  let total = 0;
  let rest: Uint8Array = body;
  while (rest.length > 0) {
    const size = getFrameContentSize(rest);
    if (size === null) return null;
    total += size;
    rest = rest.subarray(findFrameCompressedSize(rest));
  }
  return total;
}

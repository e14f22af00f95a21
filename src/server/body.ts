import type { IncomingMessage } from 'node:http';
import { ArcError } from '../errors.js';

/**
 * Reads a request body, refusing it with 413 as soon as it is known to exceed `limit` (from
 * Content-Length, or while it streams in). The caller closes the connection after a 413, so the
 * unread rest of the body is never parsed as a next request.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const expected = declared === undefined ? -1 : Number(declared);
  if (expected > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] | null = null;
    let single: Buffer | null = null;
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        cleanup();
        req.pause();
        reject(tooLarge());
        return;
      }
      if (single === null && chunks === null) single = chunk;
      else {
        chunks ??= [single!];
        chunks.push(chunk);
      }
    };
    const onEnd = () => {
      cleanup();
      if (chunks !== null) resolve(Buffer.concat(chunks, received));
      else resolve(single ?? Buffer.alloc(0));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function tooLarge(): ArcError {
  return new ArcError('ARC_ERR_PAYLOAD_TOO_LARGE', 'Request Entity Too Large');
}

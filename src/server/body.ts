import type { IncomingMessage } from 'node:http';
import type { RequestContext } from './router.js';
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

/** Largest JSON body of the management routes (definitions, delete requests). */
const JSON_BODY_LIMIT = 1 << 20;

/** A JSON body as Arc's Fiber handlers take it: application/json required, empty refused where a body is required. */
export async function readJsonBody({ req }: RequestContext, required: boolean): Promise<unknown> {
  const text = (await readBody(req, JSON_BODY_LIMIT)).toString('utf8');
  if (!required && text.trim() === '') return null;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new ArcError('ARC_ERR_BAD_REQUEST', 'Invalid request body: Unprocessable Entity', { field: 'body' });
  if (text.trim() === '') throw new ArcError('ARC_ERR_BAD_REQUEST', 'Invalid request body: unexpected end of JSON input', { field: 'body' });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ArcError('ARC_ERR_BAD_REQUEST', `Invalid request body: ${(err as Error).message}`, { field: 'body' });
  }
}

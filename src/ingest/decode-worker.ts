import { parentPort, workerData } from 'node:worker_threads';
import { sharedCopy } from '../columnar/column-batch.js';
import { StringInterner } from '../columnar/string-interner.js';
import { ArcError } from '../errors.js';
import { decompressBody, sniffEncoding } from './body-encoding.js';
import type { DecodeJob, DecodeReply } from './decode-pool.js';
import { parseLineProtocol, parsePrecision } from './line-protocol.js';
import { decodeMsgpackPayload } from './msgpack-decode.js';
import { decodeUtf8 } from './msgpack-reader.js';
import { lowerThreadPriority } from '../thread-priority.js';

// A decode worker: decompresses and decodes one large or compressed write body at a time, off the
// server's event loop, and sends the rows back in shared memory (sharedCopy): posting them copies
// no row, and the buffer they reach keeps the arrays as they are.

const port = parentPort;
if (port === null) throw new Error('decode-worker.js must run in a worker thread');
const interner = new StringInterner(decodeUtf8);
lowerThreadPriority((workerData as { nice: number }).nice);

port.on('message', async (job: DecodeJob) => {
  // The pool sends a worker one job at a time, so awaiting here never interleaves two jobs.
  let reply: DecodeReply;
  try {
    reply = await decode(job);
  } catch (err) {
    reply =
      err instanceof ArcError
        ? { id: job.id, ok: false, code: err.code, message: err.message, details: { ...err.details } }
        : { id: job.id, ok: false, code: null, message: (err as Error).stack ?? String(err), details: {} };
  }
  port.postMessage(reply);
});

async function decode(job: DecodeJob): Promise<DecodeReply> {
  const raw = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
  const body = await decompressBody(raw, sniffEncoding(raw), job.limit);
  if (job.format === 'msgpack') {
    const payload = decodeMsgpackPayload(body, { interner, nowMicros: () => job.nowMicros });
    const batches = payload.batches.map((decoded) => sharedCopy(decoded.batch));
    return { id: job.id, ok: true, batches, items: payload.batches.map((decoded) => decoded.item), multiItem: payload.multiItem, rowCount: payload.rowCount, lines: null };
  }
  const precision = parsePrecision(job.precision ?? 'ns');
  if (precision === null) throw new Error(`unknown precision ${JSON.stringify(job.precision)}`);
  const result = parseLineProtocol(body, { precision, nowMicros: job.nowMicros, interner });
  return {
    id: job.id,
    ok: true,
    batches: result.batches.map(sharedCopy),
    items: [],
    multiItem: false,
    rowCount: result.written,
    lines: { lines: result.lines, written: result.written, rejected: result.rejected, rejectedLines: result.rejectedLines },
  };
}

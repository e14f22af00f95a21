import { decodeBatches } from '../columnar/batch-codec.js';
import type { StringInterner } from '../columnar/string-interner.js';
import { decompressBody, sniffEncoding } from '../ingest/body-encoding.js';
import { parseLineProtocol, parsePrecision } from '../ingest/line-protocol.js';
import { decodeMsgpackPayload } from '../ingest/msgpack-decode.js';
import { EntryKind, type WriteKind, type WriteMeta } from './wal-format.js';
import type { LoggedWrite } from './write-ahead-log.js';

/**
 * A write the write-ahead log recorded, decoded again as it was when acknowledged: same body,
 * same "now", same precision, so the same rows (the request was valid then; limits no longer apply).
 */
export async function decodeLoggedWrite(kind: WriteKind, meta: WriteMeta, raw: Buffer, interner: StringInterner): Promise<LoggedWrite> {
  if (kind === EntryKind.Batches) return { database: meta.d, batches: decodeBatches(raw) };
  const body = await decompressBody(raw, sniffEncoding(raw), Number.MAX_SAFE_INTEGER);
  if (kind === EntryKind.Msgpack) {
    const payload = decodeMsgpackPayload(body, { interner, nowMicros: () => meta.n });
    return { database: meta.d, batches: payload.batches.map((decoded) => decoded.batch) };
  }
  const precision = parsePrecision(meta.p);
  if (precision === null) throw new Error(`logged line protocol write has an unknown precision ${JSON.stringify(meta.p)}`);
  return { database: meta.d, batches: parseLineProtocol(body, { precision, nowMicros: meta.n, interner }).batches };
}

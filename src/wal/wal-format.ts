import path from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * The write-ahead log on disk. A segment is a file `{first LSN, 20 digits}.wal` starting with an
 * 8-byte magic, then entries:
 *
 *   marker u32 | length u32 | crc32 u32 | lsn u64 | kind u8 | meta length u16 | meta (JSON) | payload
 *
 * (little endian). `length` counts everything after the crc; the crc covers the same bytes. The
 * marker lets recovery find the next entry after a damaged one instead of giving up on the rest of
 * the segment.
 */
export const SEGMENT_MAGIC = Buffer.from('ARCWAL01', 'latin1');
export const ENTRY_MARKER = 0xa7c0_11a5;
/** marker + length + crc */
export const ENTRY_PREFIX_BYTES = 12;
/** lsn + kind + meta length */
const FIXED_BODY_BYTES = 11;
export const SEGMENT_SUFFIX = '.wal';

export const enum EntryKind {
  /** A MessagePack write request as received (maybe compressed). */
  Msgpack = 1,
  /** A line-protocol write request as received (maybe compressed). */
  LineProtocol = 2,
  /** A flush made durable: its files and the log rows they hold. */
  FlushCommit = 3,
  /** Rows a bulk import decoded, as column batches (src/columnar/batch-codec.ts). */
  Batches = 4,
  /**
   * Published files a delete or retention rewrite is about to remove (payload JSON
   * `{"files": [relative paths]}`): a replay takes the rows of flushes naming them as stored,
   * whether the file is still there or gone, so deleted rows are never replayed from the log.
   */
  FilesRetired = 5,
  /**
   * A database is being deleted (payload JSON `{"d": name}`): a replay skips every earlier write
   * and flush record of it, so neither buffered nor logged rows bring it back.
   */
  DatabaseDropped = 6,
}

/** The entry kinds that carry rows (everything but flush commits and lifecycle records). */
export type WriteKind = EntryKind.Msgpack | EntryKind.LineProtocol | EntryKind.Batches;

/** What a write entry needs besides its body to decode exactly as it did when acknowledged. */
export interface WriteMeta {
  /** database */
  d: string;
  /** the request's "now" in µs, for rows without a time */
  n: number;
  /** line protocol precision */
  p?: string;
}

/**
 * Log rows held by a flush, as [lsn, first row, row count] triples: "rows first..first+count-1 of
 * this measurement in the entry with this LSN" (rows counted per measurement, in decode order).
 */
export type Contributions = number[];

/** A flush commit's record (the entry's payload, as JSON; its meta is empty). */
export interface FlushCommitMeta {
  d: string;
  m: string;
  /** [temporary path, final path] of every file of the flush, relative to the storage root. */
  files: Array<[string, string]>;
  rows: Contributions;
}

export interface Entry {
  lsn: number;
  kind: EntryKind;
  /** Write entries: WriteMeta; flush commits: {} (the record is the payload). */
  meta: WriteMeta | Record<string, never>;
  payload: Buffer;
}

/** The bytes before the payload of an entry; the payload follows as its own buffer (no copy). */
export function entryHead(lsn: number, kind: EntryKind, meta: object, payload: Uint8Array): Buffer {
  const metaBytes = Buffer.from(JSON.stringify(meta));
  if (metaBytes.length > 0xffff) throw new Error('write-ahead log entry metadata over 64 KiB');
  const head = Buffer.allocUnsafe(ENTRY_PREFIX_BYTES + FIXED_BODY_BYTES + metaBytes.length);
  const length = FIXED_BODY_BYTES + metaBytes.length + payload.length;
  if (length > 0xffff_ffff) throw new Error('write-ahead log entry over 4 GiB');
  head.writeUInt32LE(ENTRY_MARKER, 0);
  head.writeUInt32LE(length, 4);
  head.writeBigUInt64LE(BigInt(lsn), 12);
  head.writeUInt8(kind, 20);
  head.writeUInt16LE(metaBytes.length, 21);
  metaBytes.copy(head, 23);
  const crc = crc32(payload, crc32(head.subarray(ENTRY_PREFIX_BYTES)));
  head.writeUInt32LE(crc, 8);
  return head;
}

/** Checks and parses an entry's body (the bytes after its prefix); null when the crc does not match. */
export function parseEntryBody(body: Buffer, expectedCrc: number): Entry | null {
  if (body.length < FIXED_BODY_BYTES || crc32(body) !== expectedCrc) return null;
  const metaLength = body.readUInt16LE(9);
  if (FIXED_BODY_BYTES + metaLength > body.length) return null;
  let meta: Entry['meta'];
  try {
    meta = JSON.parse(body.toString('utf8', FIXED_BODY_BYTES, FIXED_BODY_BYTES + metaLength)) as Entry['meta'];
  } catch {
    return null;
  }
  const kind = body.readUInt8(8) as EntryKind;
  if (kind < EntryKind.Msgpack || kind > EntryKind.DatabaseDropped) return null;
  return { lsn: Number(body.readBigUInt64LE(0)), kind, meta, payload: body.subarray(FIXED_BODY_BYTES + metaLength) };
}

export function segmentName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** The first LSN a segment file was opened at, or null for files that are not segments. */
export function segmentFirstLsn(file: string): number | null {
  const match = /^(\d{20})\.wal$/.exec(path.basename(file));
  return match ? Number(match[1]) : null;
}

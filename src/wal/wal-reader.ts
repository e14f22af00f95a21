import fs from 'node:fs';
import path from 'node:path';
import { ENTRY_MARKER, ENTRY_PREFIX_BYTES, parseEntryBody, SEGMENT_MAGIC, segmentFirstLsn, type Entry } from './wal-format.js';

/** A stretch of a segment that recovery could not use, and why. */
export interface DamagedRange {
  file: string;
  offset: number;
  bytes: number;
  reason: string;
}

export interface SegmentScan {
  file: string;
  firstLsn: number;
  /** Bytes of intact entries (and the header). */
  intactBytes: number;
  entries: number;
}

/** Entries this large are damage, not data (the largest body arc-ts accepts is well below). */
const MAX_ENTRY_BYTES = 2 ** 32 - 1;
const SEARCH_CHUNK = 1 << 20;

/** The segment files of a log directory, oldest first. */
export function listSegments(dir: string): Array<{ file: string; firstLsn: number }> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((name) => ({ file: path.join(dir, name), firstLsn: segmentFirstLsn(name) }))
    .filter((s): s is { file: string; firstLsn: number } => s.firstLsn !== null)
    .sort((a, b) => a.firstLsn - b.firstLsn);
}

/**
 * Reads every intact entry of a segment, in order, without changing the file. A torn tail (a crash
 * mid-write) ends the segment; a damaged entry in the middle (a flipped byte) is skipped by finding
 * the next entry marker whose checksum holds. Both are reported in `damaged`.
 */
export function scanSegment(file: string, onEntry: (entry: Entry) => void, damaged: DamagedRange[]): SegmentScan {
  const firstLsn = segmentFirstLsn(file) ?? 0;
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const scan: SegmentScan = { file, firstLsn, intactBytes: 0, entries: 0 };
    const magic = Buffer.alloc(SEGMENT_MAGIC.length);
    if (size < magic.length || fs.readSync(fd, magic, 0, magic.length, 0) < magic.length || !magic.equals(SEGMENT_MAGIC)) {
      damaged.push({ file, offset: 0, bytes: size, reason: 'not a write-ahead log segment (bad header)' });
      return scan;
    }
    scan.intactBytes = magic.length;
    const prefix = Buffer.alloc(ENTRY_PREFIX_BYTES);
    let offset = magic.length;
    let lastLsn = -1;
    while (offset < size) {
      const entry = readEntryAt(fd, offset, size, prefix);
      if (entry !== null && entry.entry.lsn > lastLsn) {
        lastLsn = entry.entry.lsn;
        onEntry(entry.entry);
        scan.entries++;
        scan.intactBytes += entry.bytes;
        offset += entry.bytes;
        continue;
      }
      // Damage: find where the next intact entry starts, if any.
      const reason = entry !== null ? 'entry out of sequence' : offset + ENTRY_PREFIX_BYTES > size ? 'torn entry at the end (crash mid-write)' : describeDamage(fd, offset, size, prefix);
      let next = offset + 1;
      let found = -1;
      while ((next = findMarker(fd, next, size)) >= 0) {
        const candidate = readEntryAt(fd, next, size, prefix);
        if (candidate !== null && candidate.entry.lsn > lastLsn) {
          found = next;
          break;
        }
        next++;
      }
      const end = found >= 0 ? found : size;
      damaged.push({ file, offset, bytes: end - offset, reason: found >= 0 ? `${reason}; skipped to the next intact entry` : reason });
      offset = end;
    }
    return scan;
  } finally {
    fs.closeSync(fd);
  }
}

function readEntryAt(fd: number, offset: number, size: number, prefix: Buffer): { entry: Entry; bytes: number } | null {
  if (offset + ENTRY_PREFIX_BYTES > size) return null;
  fs.readSync(fd, prefix, 0, ENTRY_PREFIX_BYTES, offset);
  if (prefix.readUInt32LE(0) !== ENTRY_MARKER) return null;
  const length = prefix.readUInt32LE(4);
  if (length > MAX_ENTRY_BYTES || offset + ENTRY_PREFIX_BYTES + length > size) return null;
  const body = Buffer.allocUnsafe(length);
  if (fs.readSync(fd, body, 0, length, offset + ENTRY_PREFIX_BYTES) < length) return null;
  const entry = parseEntryBody(body, prefix.readUInt32LE(8));
  return entry === null ? null : { entry, bytes: ENTRY_PREFIX_BYTES + length };
}

function describeDamage(fd: number, offset: number, size: number, prefix: Buffer): string {
  fs.readSync(fd, prefix, 0, ENTRY_PREFIX_BYTES, offset);
  if (prefix.readUInt32LE(0) !== ENTRY_MARKER) return 'no entry marker (damaged bytes)';
  const length = prefix.readUInt32LE(4);
  if (offset + ENTRY_PREFIX_BYTES + length > size) return 'torn entry at the end (crash mid-write)';
  return 'checksum mismatch (damaged entry)';
}

/** Offset of the next entry marker at or after `from`, or -1. */
function findMarker(fd: number, from: number, size: number): number {
  const marker = Buffer.alloc(4);
  marker.writeUInt32LE(ENTRY_MARKER, 0);
  const chunk = Buffer.allocUnsafe(SEARCH_CHUNK + 3);
  for (let at = from; at < size; at += SEARCH_CHUNK) {
    const read = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
    const hit = chunk.subarray(0, read).indexOf(marker);
    if (hit >= 0) return at + hit;
  }
  return -1;
}

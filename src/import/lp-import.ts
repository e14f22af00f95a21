import type { StringInterner } from '../columnar/string-interner.js';
import { ArcError, formatSize } from '../errors.js';
import { parseLineProtocol, type Precision } from '../ingest/line-protocol.js';
import type { ImportReport } from './import-report.js';
import type { ImportSink } from './import-sink.js';

export interface LineProtocolImportOptions {
  precision: Precision;
  /** As given (`ns` when absent): logged with each chunk so a replay parses it alike. */
  precisionText: string;
  /** Only lines of this measurement are imported; the others are counted as skipped. */
  measurement: string | null;
  interner: StringInterner;
  /** Time in µs for lines without a timestamp: one "now" per import, like one per HTTP write. */
  nowMicros: number;
}

/** Text parsed at once: whole lines up to about this many bytes. */
const CHUNK_BYTES = 4 << 20;
/** A line longer than this is refused (the whole import stops): no record needs it, and it would have to sit in memory. */
export const MAX_LINE_BYTES = 64 << 20;

/**
 * Imports a line protocol file with the parser of the HTTP write routes (arc-spec §6 rules, the
 * same types and tag columns), a few MB of whole lines at a time. Rejected lines are reported with
 * their line number in the file; the rest is written.
 */
export async function importLineProtocol(input: AsyncIterable<Buffer>, options: LineProtocolImportOptions, sink: ImportSink, report: ImportReport): Promise<void> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let firstLine = 1;
  for await (const piece of input) {
    pending.push(piece);
    pendingBytes += piece.length;
    if (pendingBytes < CHUNK_BYTES) continue;
    const text = Buffer.concat(pending, pendingBytes);
    const cut = text.lastIndexOf(10);
    if (cut < 0) {
      if (text.length > MAX_LINE_BYTES) {
        throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `line ${firstLine} is longer than ${formatSize(MAX_LINE_BYTES)}`, { line: firstLine, rows_imported: report.rowsImported });
      }
      pending = [text];
      continue;
    }
    const whole = text.subarray(0, cut + 1);
    const rest = text.subarray(cut + 1);
    await importChunk(whole, firstLine, options, sink, report);
    firstLine += countNewlines(whole);
    pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    pendingBytes = rest.length;
  }
  if (pendingBytes > 0) await importChunk(Buffer.concat(pending, pendingBytes), firstLine, options, sink, report);
}

async function importChunk(text: Buffer, firstLine: number, options: LineProtocolImportOptions, sink: ImportSink, report: ImportReport): Promise<void> {
  const result = parseLineProtocol(text, { precision: options.precision, nowMicros: options.nowMicros, interner: options.interner, maxReported: 100 });
  for (const rejected of result.rejectedLines) report.reject(firstLine - 1 + rejected.line, rejected.reason);
  // Counted, not listed, past the parser's list.
  report.rowsRejected += result.rejected - result.rejectedLines.length;
  let batches = result.batches;
  const filter = options.measurement;
  if (filter !== null) {
    batches = batches.filter((batch) => {
      if (batch.measurement === filter) return true;
      report.rowsSkipped += batch.rowCount;
      return false;
    });
  }
  const filtered = batches.length !== result.batches.length;
  // Unfiltered chunks are logged as their text (a replay parses it again); filtered ones as the rows kept.
  await sink.write(batches, filtered ? undefined : { text, nowMicros: options.nowMicros, precision: options.precisionText });
  for (const batch of batches) {
    report.rowsImported += batch.rowCount;
    report.measurements.add(batch.measurement);
  }
}

function countNewlines(text: Buffer): number {
  let count = 0;
  for (let at = text.indexOf(10); at >= 0; at = text.indexOf(10, at + 1)) count++;
  return count;
}

import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { DecompressStream } from 'zstd-napi';
import { ArcError, formatSize } from '../errors.js';
import type { ImportReport } from './import-report.js';

/**
 * The uploaded file as a stream of chunks: counted into `report.bytes`, decompressed when it starts
 * with gzip or zstd magic bytes (a `.csv.gz` uploads as is), and cut off with 413 past `limit`
 * bytes, raw or decompressed, so a small compressed file cannot expand without end.
 */
export async function* uploadedFile(source: AsyncIterable<Buffer>, limit: number, report: ImportReport): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < 4) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  async function* raw(): AsyncGenerator<Buffer> {
    for (const piece of head) {
      report.bytes += piece.length;
      if (report.bytes > limit) throw tooLarge(limit, report);
      yield piece;
    }
    if (done) return;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      report.bytes += next.value.length;
      if (report.bytes > limit) throw tooLarge(limit, report);
      yield next.value;
    }
  }
  const start = Buffer.concat(head, headBytes);
  let decompressor: Transform | null = null;
  if (start.length >= 2 && start[0] === 0x1f && start[1] === 0x8b) decompressor = zlib.createGunzip();
  else if (start.length >= 4 && start.readUInt32LE(0) === 0xfd2fb528) decompressor = new DecompressStream();
  if (decompressor === null) {
    yield* raw();
    return;
  }
  const kind = decompressor instanceof DecompressStream ? 'zstd' : 'gzip';
  const input = Readable.from(raw(), { objectMode: false });
  let sourceError: Error | null = null;
  input.on('error', (err) => {
    sourceError = err;
    decompressor.destroy(err);
  });
  input.pipe(decompressor);
  let expanded = 0;
  try {
    for await (const piece of decompressor as AsyncIterable<Buffer>) {
      expanded += piece.length;
      if (expanded > limit) throw tooLarge(limit, report);
      yield piece;
    }
  } catch (err) {
    if (err instanceof ArcError) throw err;
    if (sourceError !== null) throw sourceError;
    throw new ArcError('ARC_ERR_BAD_IMPORT_FILE', `the ${kind} file does not decompress: ${(err as Error).message}`, { rows_imported: report.rowsImported });
  } finally {
    input.destroy();
  }
}

function tooLarge(limit: number, report: ImportReport): ArcError {
  return new ArcError('ARC_ERR_IMPORT_TOO_LARGE', `the file is larger than import.max_file_size (${formatSize(limit)})`, { rows_imported: report.rowsImported });
}

import fs from 'node:fs';
import zlib from 'node:zlib';
import snappy from 'snappy';
import zstd from 'zstd-napi';
import type { Column, ColumnBatch } from '../../columnar/column-batch.js';
import type { Compression } from '../../config/config.js';
import type { ParquetEncoder, ParquetWriteOptions } from '../../duckdb/parquet-writer.js';
import { ByteSink, bitWidthOf, encodeDefinitionLevels, encodeHybrid, encodePlain8, encodePlainBool } from './encodings.js';
import { ThriftType, ThriftWriter } from './thrift.js';

/** Rows per row group: DuckDB's default, so DuckDB scans our files with full parallelism. */
export const ROW_GROUP_ROWS = 122_880;

const PhysicalType = { BOOLEAN: 0, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const Encoding = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const PageType = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;
const CODEC: Record<Compression, number> = { none: 0, snappy: 1, gzip: 2, zstd: 6 };
const OPTIONAL = 1;
const CONVERTED_UTF8 = 0;
const CONVERTED_TIMESTAMP_MICROS = 10;

interface ChunkMeta {
  type: number;
  encodings: number[];
  name: string;
  numValues: number;
  uncompressed: number;
  compressed: number;
  dataPageOffset: number;
  dictionaryPageOffset: number;
  nullCount: number;
  min: Buffer | null;
  max: Buffer | null;
  /** Deprecated min/max fields too: their signed comparison matches for numbers, not for strings. */
  legacyStats: boolean;
}

/**
 * A Parquet writer specialised for flushes: flat, all-OPTIONAL columns of INT64 (time as
 * TIMESTAMP(MICROS, UTC)), DOUBLE, BOOLEAN and dictionary-encoded UTF-8 strings. It writes data
 * page V1, PLAIN numbers, RLE_DICTIONARY strings, column statistics (which DuckDB uses to skip row
 * groups), and compresses each page with the configured codec. It exists because the DuckDB path
 * costs several times more CPU per row (docs/benchmarks.md); a test compares the two.
 */
/**
 * writev may write less than asked (a disk filling up: tmpfs writes what fits and returns the short
 * count, and only the next call fails with ENOSPC). Ignoring the count left a file without its
 * footer that was then fsynced and published; so write until every byte is down or an error is thrown.
 */
function writeAll(fd: number, chunks: Uint8Array[]): void {
  let index = 0;
  let offset = 0; // bytes of chunks[index] already written
  while (index < chunks.length) {
    const batch = chunks.slice(index, index + 512);
    if (offset > 0) batch[0] = batch[0]!.subarray(offset);
    let written = fs.writevSync(fd, batch);
    if (written === 0 && batch.some((chunk) => chunk.length > 0)) throw Object.assign(new Error('write made no progress (disk full?)'), { code: 'ENOSPC' });
    while (index < chunks.length && written > 0) {
      const left = chunks[index]!.length - offset;
      if (written >= left) {
        written -= left;
        index++;
        offset = 0;
      } else {
        offset += written;
        written = 0;
      }
    }
    while (index < chunks.length && chunks[index]!.length === 0) index++;
  }
}

export class NativeParquetEncoder implements ParquetEncoder {
  private readonly page = new ByteSink(1 << 20);
  private readonly thrift = new ThriftWriter();
  private ids = new Uint32Array(ROW_GROUP_ROWS);

  constructor(private readonly createdBy = 'arc-ts') {}

  async write(batch: ColumnBatch, start: number, end: number, path: string, options: ParquetWriteOptions): Promise<void> {
    const chunks = this.encode(batch, start, end, options);
    const fd = fs.openSync(path, 'w');
    try {
      writeAll(fd, chunks);
    } finally {
      fs.closeSync(fd);
    }
  }

  close(): void {}

  /** The whole file as a list of buffers, in order. */
  encode(batch: ColumnBatch, start: number, end: number, options: ParquetWriteOptions): Buffer[] {
    const out: Buffer[] = [Buffer.from('PAR1')];
    let offset = 4;
    const push = (bytes: Buffer) => {
      out.push(bytes);
      offset += bytes.length;
    };
    const codec = options.compression;
    const rowGroups: Array<{ rows: number; chunks: ChunkMeta[] }> = [];
    for (let groupStart = start; groupStart < end; groupStart += ROW_GROUP_ROWS) {
      const groupEnd = Math.min(end, groupStart + ROW_GROUP_ROWS);
      const chunks: ChunkMeta[] = [this.timeChunk(batch.time, groupStart, groupEnd, codec, () => offset, push)];
      for (const column of batch.columns) chunks.push(this.columnChunk(column, groupStart, groupEnd, codec, () => offset, push));
      rowGroups.push({ rows: groupEnd - groupStart, chunks });
    }
    const footer = this.footer(batch, end - start, rowGroups, codec, options.metadata);
    push(footer);
    const tail = Buffer.allocUnsafe(8);
    tail.writeUInt32LE(footer.length, 0);
    tail.write('PAR1', 4);
    push(tail);
    return out;
  }

  private timeChunk(time: BigInt64Array, start: number, end: number, codec: Compression, offset: () => number, push: (b: Buffer) => void): ChunkMeta {
    const sink = this.page;
    sink.reset();
    encodeDefinitionLevels(sink, null, start, end);
    encodePlain8(sink, time, null, start, end);
    const meta = this.meta('time', PhysicalType.INT64, [Encoding.PLAIN, Encoding.RLE], end - start);
    meta.dataPageOffset = offset();
    this.dataPage(meta, end - start, Encoding.PLAIN, codec, push);
    // Rows are sorted by time: the first and last are the extremes.
    meta.min = int64Bytes(time, start);
    meta.max = int64Bytes(time, end - 1);
    return meta;
  }

  private columnChunk(column: Column, start: number, end: number, codec: Compression, offset: () => number, push: (b: Buffer) => void): ChunkMeta {
    const rows = end - start;
    const valid = column.valid;
    let nulls = 0;
    if (valid !== null) for (let i = start; i < end; i++) nulls += valid[i] ? 0 : 1;
    const sink = this.page;
    let meta: ChunkMeta;
    switch (column.type) {
      case 'int64':
      case 'float64': {
        const type = column.type === 'int64' ? PhysicalType.INT64 : PhysicalType.DOUBLE;
        meta = this.meta(column.name, type, [Encoding.PLAIN, Encoding.RLE], rows);
        sink.reset();
        encodeDefinitionLevels(sink, valid, start, end);
        encodePlain8(sink, column.values, valid, start, end);
        meta.dataPageOffset = offset();
        this.dataPage(meta, rows, Encoding.PLAIN, codec, push);
        const [min, max] = column.type === 'int64' ? int64Range(column.values, valid, start, end) : doubleRange(column.values, valid, start, end);
        meta.min = min;
        meta.max = max;
        break;
      }
      case 'bool': {
        meta = this.meta(column.name, PhysicalType.BOOLEAN, [Encoding.PLAIN, Encoding.RLE], rows);
        sink.reset();
        encodeDefinitionLevels(sink, valid, start, end);
        encodePlainBool(sink, column.values, valid, start, end);
        meta.dataPageOffset = offset();
        this.dataPage(meta, rows, Encoding.PLAIN, codec, push);
        [meta.min, meta.max] = boolRange(column.values, valid, start, end);
        break;
      }
      case 'string':
        meta = this.stringChunk(column, start, end, codec, offset, push);
        break;
    }
    meta.nullCount = nulls;
    return meta;
  }

  /** Dictionary page of the values these rows use, then their ids RLE/bit-packed. */
  private stringChunk(
    column: Extract<Column, { type: 'string' }>,
    start: number,
    end: number,
    codec: Compression,
    offset: () => number,
    push: (b: Buffer) => void,
  ): ChunkMeta {
    const rows = end - start;
    const { valid, ids: sourceIds, dictionary } = column;
    const remap = new Int32Array(dictionary.length).fill(-1);
    const used: number[] = [];
    if (this.ids.length < rows) this.ids = new Uint32Array(rows);
    const ids = this.ids;
    let present = 0;
    for (let i = start; i < end; i++) {
      if (valid !== null && !valid[i]) continue;
      const source = sourceIds[i]!;
      let id = remap[source]!;
      if (id < 0) {
        id = used.length;
        remap[source] = id;
        used.push(source);
      }
      ids[present++] = id;
    }
    const meta = this.meta(column.name, PhysicalType.BYTE_ARRAY, [Encoding.PLAIN, Encoding.RLE, Encoding.RLE_DICTIONARY], rows);
    meta.legacyStats = false;
    const sink = this.page;
    let min: Buffer | null = null;
    let max: Buffer | null = null;
    if (used.length > 0) {
      sink.reset();
      for (const source of used) {
        const bytes = Buffer.from(dictionary[source]!, 'utf8');
        sink.uint32le(bytes.length);
        sink.append(bytes);
        if (min === null || Buffer.compare(bytes, min) < 0) min = bytes;
        if (max === null || Buffer.compare(bytes, max) > 0) max = bytes;
      }
      meta.dictionaryPageOffset = offset();
      this.dictionaryPage(meta, used.length, codec, push);
    }
    sink.reset();
    encodeDefinitionLevels(sink, valid, start, end);
    if (used.length > 0) {
      // One distinct value still gets bit width 1: some readers mishandle width 0.
      const width = Math.max(1, bitWidthOf(used.length - 1));
      sink.byte(width);
      encodeHybrid(sink, present, width, (i) => ids[i]!);
    }
    meta.dataPageOffset = offset();
    this.dataPage(meta, rows, used.length > 0 ? Encoding.RLE_DICTIONARY : Encoding.PLAIN, codec, push);
    meta.min = min;
    meta.max = max;
    return meta;
  }

  private meta(name: string, type: number, encodings: number[], numValues: number): ChunkMeta {
    return {
      type,
      encodings,
      name,
      numValues,
      uncompressed: 0,
      compressed: 0,
      dataPageOffset: 0,
      dictionaryPageOffset: -1,
      nullCount: 0,
      min: null,
      max: null,
      legacyStats: true,
    };
  }

  private dataPage(meta: ChunkMeta, values: number, encoding: number, codec: Compression, push: (b: Buffer) => void): void {
    const body = this.page.bytes();
    const compressed = compress(body, codec);
    const header = this.thrift;
    header.reset();
    header.i32(1, PageType.DATA_PAGE).i32(2, body.length).i32(3, compressed.length);
    header.struct(5).i32(1, values).i32(2, encoding).i32(3, Encoding.RLE).i32(4, Encoding.RLE).endStruct();
    header.end();
    const headerBytes = Buffer.from(header.bytes());
    push(headerBytes);
    push(compressed);
    meta.uncompressed += headerBytes.length + body.length;
    meta.compressed += headerBytes.length + compressed.length;
  }

  private dictionaryPage(meta: ChunkMeta, values: number, codec: Compression, push: (b: Buffer) => void): void {
    const body = this.page.bytes();
    const compressed = compress(body, codec);
    const header = this.thrift;
    header.reset();
    header.i32(1, PageType.DICTIONARY_PAGE).i32(2, body.length).i32(3, compressed.length);
    header.struct(7).i32(1, values).i32(2, Encoding.PLAIN).bool(3, false).endStruct();
    header.end();
    const headerBytes = Buffer.from(header.bytes());
    push(headerBytes);
    push(compressed);
    meta.uncompressed += headerBytes.length + body.length;
    meta.compressed += headerBytes.length + compressed.length;
  }

  private footer(
    batch: ColumnBatch,
    rows: number,
    rowGroups: Array<{ rows: number; chunks: ChunkMeta[] }>,
    codec: Compression,
    metadata: Readonly<Record<string, string>>,
  ): Buffer {
    const t = this.thrift;
    t.reset();
    t.i32(1, 1);
    const columns = batch.columns;
    t.list(2, ThriftType.Struct, columns.length + 2);
    t.listStruct().string(4, 'schema').i32(5, columns.length + 1).endStruct();
    t.listStruct().i32(1, PhysicalType.INT64).i32(3, OPTIONAL).string(4, 'time').i32(6, CONVERTED_TIMESTAMP_MICROS);
    t.struct(10).struct(8).bool(1, true).struct(2).struct(2).endStruct().endStruct().endStruct().endStruct(); // TIMESTAMP(UTC, MICROS)
    t.endStruct();
    for (const column of columns) {
      t.listStruct().i32(1, physicalTypeOf(column)).i32(3, OPTIONAL).string(4, column.name);
      if (column.type === 'string') t.i32(6, CONVERTED_UTF8).struct(10).struct(1).endStruct().endStruct();
      t.endStruct();
    }
    t.i64(3, rows);
    t.list(4, ThriftType.Struct, rowGroups.length);
    for (const group of rowGroups) {
      t.listStruct();
      t.list(1, ThriftType.Struct, group.chunks.length);
      let uncompressed = 0;
      let compressed = 0;
      for (const chunk of group.chunks) {
        uncompressed += chunk.uncompressed;
        compressed += chunk.compressed;
        const first = chunk.dictionaryPageOffset >= 0 ? chunk.dictionaryPageOffset : chunk.dataPageOffset;
        t.listStruct().i64(2, first).struct(3);
        t.i32(1, chunk.type);
        t.list(2, ThriftType.I32, chunk.encodings.length);
        for (const encoding of chunk.encodings) t.elementI32(encoding);
        t.list(3, ThriftType.Binary, 1).elementBinary(Buffer.from(chunk.name, 'utf8'));
        t.i32(4, CODEC[codec]).i64(5, chunk.numValues).i64(6, chunk.uncompressed).i64(7, chunk.compressed);
        t.i64(9, chunk.dataPageOffset);
        if (chunk.dictionaryPageOffset >= 0) t.i64(11, chunk.dictionaryPageOffset);
        t.struct(12);
        if (chunk.max && chunk.legacyStats) t.binary(1, chunk.max);
        if (chunk.min && chunk.legacyStats) t.binary(2, chunk.min);
        t.i64(3, chunk.nullCount);
        if (chunk.max) t.binary(5, chunk.max);
        if (chunk.min) t.binary(6, chunk.min);
        t.endStruct(); // Statistics
        t.endStruct(); // ColumnMetaData
        t.endStruct(); // ColumnChunk
      }
      t.i64(2, uncompressed).i64(3, group.rows);
      const first = group.chunks[0]!;
      t.i64(5, first.dictionaryPageOffset >= 0 ? first.dictionaryPageOffset : first.dataPageOffset).i64(6, compressed);
      t.endStruct();
    }
    const entries = Object.entries(metadata);
    if (entries.length > 0) {
      t.list(5, ThriftType.Struct, entries.length);
      for (const [key, value] of entries) t.listStruct().string(1, key).string(2, value).endStruct();
    }
    t.string(6, this.createdBy);
    t.list(7, ThriftType.Struct, columns.length + 1);
    for (let i = 0; i <= columns.length; i++) t.listStruct().struct(1).endStruct().endStruct(); // TYPE_ORDER
    t.end();
    return Buffer.from(t.bytes());
  }
}

function physicalTypeOf(column: Column): number {
  switch (column.type) {
    case 'int64':
      return PhysicalType.INT64;
    case 'float64':
      return PhysicalType.DOUBLE;
    case 'bool':
      return PhysicalType.BOOLEAN;
    case 'string':
      return PhysicalType.BYTE_ARRAY;
  }
}

function compress(body: Buffer, codec: Compression): Buffer {
  switch (codec) {
    case 'snappy':
      // copyOutputData: an output in V8's heap, which V8 knows to collect; without it the binding's
      // buffers are invisible to the GC and a busy flush worker grew to gigabytes (docs/benchmarks.md).
      return snappy.compressSync(body, { copyOutputData: true });
    case 'zstd':
      return zstd.compress(body, { compressionLevel: 3 });
    case 'gzip':
      return zlib.gzipSync(body);
    case 'none':
      return Buffer.from(body);
  }
}

function int64Bytes(values: BigInt64Array, row: number): Buffer {
  return Buffer.from(new Uint8Array(values.buffer, values.byteOffset + row * 8, 8));
}

function int64Range(values: BigInt64Array, valid: Uint8Array | null, start: number, end: number): [Buffer | null, Buffer | null] {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  let minRow = -1;
  let maxRow = -1;
  for (let i = start; i < end; i++) {
    if (valid !== null && !valid[i]) continue;
    if (minRow < 0) {
      minRow = maxRow = i;
      continue;
    }
    const high = words[2 * i + 1]! | 0;
    const low = words[2 * i]!;
    const minHigh = words[2 * minRow + 1]! | 0;
    if (high < minHigh || (high === minHigh && low < words[2 * minRow]!)) minRow = i;
    const maxHigh = words[2 * maxRow + 1]! | 0;
    if (high > maxHigh || (high === maxHigh && low > words[2 * maxRow]!)) maxRow = i;
  }
  return minRow < 0 ? [null, null] : [int64Bytes(values, minRow), int64Bytes(values, maxRow)];
}

/**
 * Min and max, or none when a NaN is present: readers order NaN differently (DuckDB puts it above
 * +Inf), so any bound could make them skip a row group that holds a matching NaN. DuckDB's own
 * writer makes the same choice. A zero minimum is written as -0.0, a zero maximum as +0.0.
 */
function doubleRange(values: Float64Array, valid: Uint8Array | null, start: number, end: number): [Buffer | null, Buffer | null] {
  let min = Infinity;
  let max = -Infinity;
  let seen = false;
  for (let i = start; i < end; i++) {
    if (valid !== null && !valid[i]) continue;
    const v = values[i]!;
    if (v !== v) return [null, null];
    seen = true;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!seen) return [null, null];
  if (min === 0) min = -0;
  if (max === 0) max = 0;
  const out = Buffer.allocUnsafe(16);
  out.writeDoubleLE(min, 0);
  out.writeDoubleLE(max, 8);
  return [out.subarray(0, 8), out.subarray(8)];
}

function boolRange(values: Uint8Array, valid: Uint8Array | null, start: number, end: number): [Buffer | null, Buffer | null] {
  let sawFalse = false;
  let sawTrue = false;
  for (let i = start; i < end && !(sawFalse && sawTrue); i++) {
    if (valid !== null && !valid[i]) continue;
    if (values[i]) sawTrue = true;
    else sawFalse = true;
  }
  if (!sawFalse && !sawTrue) return [null, null];
  return [Buffer.from([sawFalse ? 0 : 1]), Buffer.from([sawTrue ? 1 : 0])];
}

import type { Column, ColumnBatch, ColumnType } from './column-batch.js';

/**
 * A byte encoding of column batches that decodes to exactly the same rows, types and tag columns.
 * Bulk imports log their decoded rows in the write-ahead log with it: a CSV or Parquet file has no
 * request body the log could replay, and a text re-encoding (line protocol, MessagePack) would not
 * round-trip every type and time exactly. Little endian, arrays copied as their bytes:
 *
 *   "ARCB" u8 version | u32 batches | per batch:
 *     str measurement | u32 rows | i32 tag count (-1 = null) | str tags… | i64 time[rows] |
 *     u32 columns | per column: str name | u8 type | u8 has-valid | [u8 valid[rows]] | values
 *   values: int64/float64 8×rows bytes, bool rows bytes, string u32 ids[rows] + u32 n + str×n
 *   str: u32 byte length | UTF-8
 */
const MAGIC = 0x42435241; // "ARCB"
const VERSION = 1;
const TYPE_CODES: Record<ColumnType, number> = { int64: 1, float64: 2, bool: 3, string: 4 };
const TYPES: Record<number, ColumnType> = { 1: 'int64', 2: 'float64', 3: 'bool', 4: 'string' };

export function encodeBatches(batches: readonly ColumnBatch[]): Buffer {
  const writer = new Writer(encodedSize(batches));
  writer.u32(MAGIC);
  writer.u8(VERSION);
  writer.u32(batches.length);
  for (const batch of batches) {
    const n = batch.rowCount;
    writer.str(batch.measurement);
    writer.u32(n);
    if (batch.tagColumns === null) writer.i32(-1);
    else {
      writer.i32(batch.tagColumns.length);
      for (const tag of batch.tagColumns) writer.str(tag);
    }
    writer.bytes(batch.time.subarray(0, n));
    writer.u32(batch.columns.length);
    for (const column of batch.columns) {
      writer.str(column.name);
      writer.u8(TYPE_CODES[column.type]);
      writer.u8(column.valid ? 1 : 0);
      if (column.valid) writer.bytes(column.valid.subarray(0, n));
      switch (column.type) {
        case 'int64':
        case 'float64':
        case 'bool':
          writer.bytes(column.values.subarray(0, n));
          break;
        case 'string':
          writer.bytes(column.ids.subarray(0, n));
          writer.u32(column.dictionary.length);
          for (const value of column.dictionary) writer.str(value);
          break;
      }
    }
  }
  return writer.done();
}

/** Decodes `encodeBatches` output into batches with fresh arrays; throws on anything malformed. */
export function decodeBatches(bytes: Buffer): ColumnBatch[] {
  const reader = new Reader(bytes);
  if (reader.u32() !== MAGIC) throw new Error('not an encoded batch (bad magic)');
  const version = reader.u8();
  if (version !== VERSION) throw new Error(`encoded batch version ${version} is not known`);
  const count = reader.u32();
  const batches: ColumnBatch[] = [];
  for (let b = 0; b < count; b++) {
    const measurement = reader.str();
    const n = reader.u32();
    const tagCount = reader.i32();
    let tagColumns: string[] | null = null;
    if (tagCount >= 0) {
      tagColumns = [];
      for (let t = 0; t < tagCount; t++) tagColumns.push(reader.str());
    }
    const time = new BigInt64Array(n);
    reader.into(time);
    const columnCount = reader.u32();
    const columns: Column[] = [];
    for (let c = 0; c < columnCount; c++) {
      const name = reader.str();
      const type = TYPES[reader.u8()];
      if (type === undefined) throw new Error(`column '${name}' has an unknown type code`);
      let valid: Uint8Array | null = null;
      if (reader.u8() === 1) reader.into((valid = new Uint8Array(n)));
      switch (type) {
        case 'int64': {
          const values = new BigInt64Array(n);
          reader.into(values);
          columns.push({ name, type, values, valid });
          break;
        }
        case 'float64': {
          const values = new Float64Array(n);
          reader.into(values);
          columns.push({ name, type, values, valid });
          break;
        }
        case 'bool': {
          const values = new Uint8Array(n);
          reader.into(values);
          columns.push({ name, type, values, valid });
          break;
        }
        case 'string': {
          const ids = new Uint32Array(n);
          reader.into(ids);
          const size = reader.u32();
          const dictionary: string[] = [];
          for (let i = 0; i < size; i++) dictionary.push(reader.str());
          columns.push({ name, type, ids, dictionary, valid });
          break;
        }
      }
    }
    batches.push({ measurement, rowCount: n, time, columns, tagColumns });
  }
  if (!reader.atEnd) throw new Error('trailing bytes after the encoded batches');
  return batches;
}

function encodedSize(batches: readonly ColumnBatch[]): number {
  let size = 9;
  const str = (s: string) => 4 + Buffer.byteLength(s);
  for (const batch of batches) {
    const n = batch.rowCount;
    size += str(batch.measurement) + 8 + 8 * n + 4;
    for (const tag of batch.tagColumns ?? []) size += str(tag);
    for (const column of batch.columns) {
      size += str(column.name) + 2 + (column.valid ? n : 0);
      if (column.type === 'string') {
        size += 4 * n + 4;
        for (const value of column.dictionary) size += str(value);
      } else size += column.type === 'bool' ? n : 8 * n;
    }
  }
  return size;
}

class Writer {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  u8(v: number): void {
    this.pos = this.buf.writeUInt8(v, this.pos);
  }

  u32(v: number): void {
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }

  i32(v: number): void {
    this.pos = this.buf.writeInt32LE(v, this.pos);
  }

  str(s: string): void {
    const length = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(length, this.pos);
    this.pos += 4 + length;
  }

  bytes(array: ArrayBufferView): void {
    this.buf.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), this.pos);
    this.pos += array.byteLength;
  }

  done(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`batch encoding size mismatch (${this.pos} of ${this.buf.length})`);
    return this.buf;
  }
}

class Reader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get atEnd(): boolean {
    return this.pos === this.buf.length;
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  str(): string {
    const length = this.u32();
    this.need(length);
    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  /** Copies the next bytes into `target` (a fresh, aligned array). */
  into(target: ArrayBufferView): void {
    this.need(target.byteLength);
    new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(this.buf.subarray(this.pos, this.pos + target.byteLength));
    this.pos += target.byteLength;
  }

  private need(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw new Error('encoded batch is truncated');
  }
}

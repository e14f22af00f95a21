import fs from 'node:fs';

/**
 * Reads what a Parquet file's footer says about its rows, without DuckDB: enough to tell that a
 * file is whole (magic at both ends, a footer that parses) and how many rows it holds. Used by the
 * write-ahead log's replay to check a recorded flush before trusting it (#13 item 7).
 */
export async function readParquetRowCount(file: string): Promise<number> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size < 12) throw new Error(`${size} bytes is too small for a Parquet file`);
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    const tail = Buffer.alloc(8);
    await handle.read(tail, 0, 8, size - 8);
    if (head.toString('latin1') !== 'PAR1' || tail.toString('latin1', 4) !== 'PAR1') throw new Error('no Parquet magic at its start and end');
    const footerLength = tail.readUInt32LE(0);
    if (footerLength === 0 || footerLength > size - 12) throw new Error(`footer length ${footerLength} does not fit in ${size} bytes`);
    const footer = Buffer.alloc(footerLength);
    await handle.read(footer, 0, footerLength, size - 8 - footerLength);
    return numRows(footer);
  } finally {
    await handle.close();
  }
}

/** FileMetaData.num_rows (field 3, i64) from a thrift compact footer; the fields before it are skipped. */
function numRows(footer: Buffer): number {
  const reader = new CompactReader(footer);
  let lastId = 0;
  for (;;) {
    const header = reader.byte();
    if (header === 0) break; // end of struct
    const type = header & 0x0f;
    const delta = header >> 4;
    const id = delta === 0 ? reader.zigzag() : lastId + delta;
    lastId = id;
    if (id === 3 && type === I64) {
      const rows = reader.zigzag();
      if (rows < 0) throw new Error(`negative row count ${rows}`);
      return rows;
    }
    reader.skip(type);
  }
  throw new Error('the footer has no row count');
}

const BOOL_TRUE = 1;
const BOOL_FALSE = 2;
const BYTE = 3;
const I16 = 4;
const I32 = 5;
const I64 = 6;
const DOUBLE = 7;
const BINARY = 8;
const LIST = 9;
const SET = 10;
const MAP = 11;
const STRUCT = 12;

class CompactReader {
  private at = 0;
  private depth = 0;

  constructor(private readonly buf: Buffer) {}

  byte(): number {
    if (this.at >= this.buf.length) throw new Error('footer ends early');
    return this.buf[this.at++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new Error('varint too long');
  }

  zigzag(): number {
    const raw = this.varint();
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }

  skip(type: number): void {
    if (++this.depth > 64) throw new Error('footer nests too deep');
    switch (type) {
      case BOOL_TRUE:
      case BOOL_FALSE:
        break; // a struct field's value is in its header
      case BYTE:
        this.byte();
        break;
      case I16:
      case I32:
      case I64:
        this.varint();
        break;
      case DOUBLE:
        this.advance(8);
        break;
      case BINARY:
        this.advance(this.varint());
        break;
      case LIST:
      case SET: {
        const header = this.byte();
        const count = header >> 4 === 15 ? this.varint() : header >> 4;
        const element = header & 0x0f;
        for (let i = 0; i < count; i++) this.skipElement(element);
        break;
      }
      case MAP: {
        const count = this.varint();
        if (count > 0) {
          const types = this.byte();
          for (let i = 0; i < count; i++) {
            this.skipElement(types >> 4);
            this.skipElement(types & 0x0f);
          }
        }
        break;
      }
      case STRUCT: {
        let lastId = 0;
        for (;;) {
          const header = this.byte();
          if (header === 0) break;
          const delta = header >> 4;
          lastId = delta === 0 ? this.zigzag() : lastId + delta;
          this.skip(header & 0x0f);
        }
        break;
      }
      default:
        throw new Error(`unknown thrift type ${type}`);
    }
    this.depth--;
  }

  /** Inside lists and maps a bool is a byte of its own. */
  private skipElement(type: number): void {
    if (type === BOOL_TRUE || type === BOOL_FALSE) this.byte();
    else this.skip(type);
  }

  private advance(bytes: number): void {
    if (this.at + bytes > this.buf.length) throw new Error('footer ends early');
    this.at += bytes;
  }
}

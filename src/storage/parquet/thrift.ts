/**
 * Thrift compact protocol, write side only: what Parquet's footer (FileMetaData) and page headers
 * need. Structs are written field by field in increasing id order; the writer tracks the last
 * field id per nesting level for the delta encoding of field headers.
 */
export const ThriftType = {
  BoolTrue: 1,
  BoolFalse: 2,
  Byte: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  Double: 7,
  Binary: 8,
  List: 9,
  Set: 10,
  Map: 11,
  Struct: 12,
} as const;

export class ThriftWriter {
  private buf = Buffer.allocUnsafe(1024);
  private pos = 0;
  private lastField: number[] = [0];

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a view; copy it before reusing the writer). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
    this.lastField = [0];
  }

  i32(id: number, value: number): this {
    this.fieldHeader(id, ThriftType.I32);
    this.varint(zigzag32(value));
    return this;
  }

  /** An i64 field; values must be safe integers. */
  i64(id: number, value: number): this {
    this.fieldHeader(id, ThriftType.I64);
    this.varint64(zigzag64(value));
    return this;
  }

  bool(id: number, value: boolean): this {
    this.fieldHeader(id, value ? ThriftType.BoolTrue : ThriftType.BoolFalse);
    return this;
  }

  binary(id: number, value: Uint8Array): this {
    this.fieldHeader(id, ThriftType.Binary);
    this.rawBinary(value);
    return this;
  }

  string(id: number, value: string): this {
    return this.binary(id, Buffer.from(value, 'utf8'));
  }

  /** Opens a struct field; close it with `endStruct()`. */
  struct(id: number): this {
    this.fieldHeader(id, ThriftType.Struct);
    this.lastField.push(0);
    return this;
  }

  /** Opens a struct that is an element of a list (no field header). */
  listStruct(): this {
    this.lastField.push(0);
    return this;
  }

  endStruct(): this {
    this.byte(0); // STOP
    this.lastField.pop();
    return this;
  }

  /** A list field header; write `size` elements of `elementType` after it. */
  list(id: number, elementType: number, size: number): this {
    this.fieldHeader(id, ThriftType.List);
    if (size < 15) this.byte((size << 4) | elementType);
    else {
      this.byte(0xf0 | elementType);
      this.varint(size);
    }
    return this;
  }

  /** A list element of type i32 (e.g. an enum). */
  elementI32(value: number): this {
    this.varint(zigzag32(value));
    return this;
  }

  elementBinary(value: Uint8Array): this {
    this.rawBinary(value);
    return this;
  }

  /** Closes the outermost (top-level) struct. */
  end(): this {
    this.byte(0);
    return this;
  }

  private fieldHeader(id: number, type: number): void {
    const level = this.lastField.length - 1;
    const delta = id - this.lastField[level]!;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.varint(zigzag32(id));
    }
    this.lastField[level] = id;
  }

  private rawBinary(value: Uint8Array): void {
    this.varint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  private byte(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  /** Unsigned varint of a value below 2^32. */
  private varint(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** Unsigned varint of a non-negative safe integer. */
  private varint64(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

function zigzag64(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

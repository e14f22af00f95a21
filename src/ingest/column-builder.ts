import type { Column, ColumnType } from '../columnar/column-batch.js';
import { DictionaryBuilder, StringInterner } from '../columnar/string-interner.js';
import { getInt64, setInt64, wordsOf } from '../columnar/time.js';
import { Kind, MsgpackReader, decodeUtf8, typeName } from './msgpack-reader.js';

/**
 * A value of the wrong type for its column (arc-spec §5 type table). The message names the column;
 * the decoder adds the item index, and the row when rows are positions in an array (-1 otherwise).
 */
export class TypeConflictError extends Error {
  constructor(
    readonly column: string,
    public row: number,
    message: string,
  ) {
    super(message);
  }
}

const INT64_MAX = (1n << 63n) - 1n;

/**
 * Collects the values of one column. The type is set by the first non-null value: an integer
 * gives BIGINT, a float DOUBLE, a string VARCHAR, a bool BOOLEAN; integers and floats mixed in one
 * column widen it to DOUBLE; any other mix is a TypeConflictError naming the column. A column of
 * only NULLs becomes VARCHAR (arc-spec §5).
 */
export class ColumnBuilder {
  type: ColumnType | null = null;
  length = 0;
  private int64: BigInt64Array | null = null;
  private int64Words: Uint32Array | null = null;
  private float64: Float64Array | null = null;
  private bools: Uint8Array | null = null;
  private ids: Uint32Array | null = null;
  private valid: Uint8Array | null = null;
  private readonly dictionary: DictionaryBuilder | null;
  private readonly plainDictionary: Map<string, number> | null;
  private readonly plainValues: string[] = [];

  /**
   * @param interner shared byte-keyed string table; pass it only when this builder is filled
   *   before the next one starts (columnar items), else strings are deduplicated per builder.
   */
  constructor(
    readonly name: string,
    private capacity: number,
    interner: StringInterner | null,
  ) {
    this.dictionary = interner ? new DictionaryBuilder(interner) : null;
    this.plainDictionary = interner ? null : new Map();
  }

  appendNull(): void {
    this.reserve();
    if (this.valid === null) {
      this.valid = new Uint8Array(this.capacity);
      this.valid.fill(1, 0, this.length);
    }
    this.valid[this.length] = 0;
    this.length++;
  }

  /** A msgpack integer; `big` holds the exact value when `value` is NaN (outside ±2^53). */
  appendInteger(value: number, big: bigint): void {
    if (this.type === null) this.start('int64');
    if (this.type === 'int64') {
      this.reserve();
      if (Number.isNaN(value)) {
        if (big > INT64_MAX) {
          throw new TypeConflictError(this.name, this.length, `value ${big} in column '${this.name}' does not fit a signed 64-bit integer (BIGINT)`);
        }
        this.int64![this.length] = big;
      } else {
        setInt64(this.int64Words!, this.length, value);
      }
      this.markValid();
      return;
    }
    if (this.type === 'float64') {
      this.appendFloat(Number.isNaN(value) ? Number(big) : value);
      return;
    }
    throw this.conflict('integer');
  }

  appendFloat(value: number): void {
    if (this.type === null) this.start('float64');
    else if (this.type === 'int64') this.widenToFloat();
    else if (this.type !== 'float64') throw this.conflict('float');
    this.reserve();
    this.float64![this.length] = value;
    this.markValid();
  }

  appendBool(value: boolean): void {
    if (this.type === null) this.start('bool');
    else if (this.type !== 'bool') throw this.conflict('bool');
    this.reserve();
    this.bools![this.length] = value ? 1 : 0;
    this.markValid();
  }

  appendStringBytes(bytes: Buffer, start: number, byteLength: number): void {
    if (this.type !== 'string') this.startString();
    this.reserve();
    this.ids![this.length] = this.dictionary
      ? this.dictionary.idOf(bytes, start, byteLength)
      : this.plainId(decodeUtf8(bytes, start, start + byteLength));
    this.markValid();
  }

  appendString(value: string): void {
    if (this.type !== 'string') this.startString();
    this.reserve();
    this.ids![this.length] = this.plainId(value);
    this.markValid();
  }

  /**
   * Reads one value of any kind from the reader and appends it. Maps, arrays, binary and
   * extension values are refused with the reason in a TypeConflictError.
   */
  appendFrom(reader: MsgpackReader): void {
    const byte = reader.peek();
    switch (reader.kind()) {
      case Kind.Nil:
        reader.pos++;
        this.appendNull();
        return;
      case Kind.Int:
      case Kind.Uint: {
        const value = reader.readInteger();
        this.appendInteger(value, reader.bigValue);
        return;
      }
      case Kind.Float:
        this.appendFloat(reader.readFloat());
        return;
      case Kind.Bool:
        this.appendBool(reader.readBool());
        return;
      case Kind.Str:
        reader.readStringRange();
        this.appendStringBytes(reader.buf, reader.strStart, reader.strLength);
        return;
      case Kind.Invalid:
        reader.skip(); // throws the syntax error
        throw new Error('unreachable');
      default:
        throw new TypeConflictError(this.name, this.length, `column '${this.name}' has a value of unsupported type ${typeName(byte)}`);
    }
  }

  /**
   * Fast path for runs of float64 values (the common metric column): appends while the next
   * value is a float64 and `count` is not reached; returns how many it took.
   */
  appendFloat64Run(reader: MsgpackReader, count: number): number {
    if (reader.atEnd || reader.peek() !== 0xcb) return 0;
    if (this.type === null) this.start('float64');
    if (this.type !== 'float64') return 0;
    const buf = reader.buf;
    const values = this.float64!;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = reader.pos;
    let taken = 0;
    let row = this.length;
    while (taken < count && buf[pos] === 0xcb) {
      if (pos + 9 > buf.length) break; // let the generic path report the truncation
      if (row === this.capacity) break;
      values[row++] = view.getFloat64(pos + 1);
      pos += 9;
      taken++;
    }
    if (this.valid !== null) this.valid.fill(1, this.length, row);
    this.length = row;
    reader.pos = pos;
    return taken;
  }

  /** Fast path for runs of strings; returns how many it took. */
  appendStringRun(reader: MsgpackReader, count: number): number {
    if (reader.atEnd || reader.kind() !== Kind.Str || this.dictionary === null) return 0;
    if (this.type === null) this.start('string');
    if (this.type !== 'string') return 0;
    const ids = this.ids!;
    const dictionary = this.dictionary;
    const buf = reader.buf;
    let taken = 0;
    let row = this.length;
    while (taken < count && row < this.capacity && !reader.atEnd && reader.readStringRange()) {
      ids[row++] = dictionary.idOf(buf, reader.strStart, reader.strLength);
      taken++;
    }
    if (this.valid !== null) this.valid.fill(1, this.length, row);
    this.length = row;
    return taken;
  }

  finish(): Column {
    const n = this.length;
    const valid = this.valid ? this.valid.subarray(0, n) : null;
    switch (this.type) {
      case 'int64':
        return { name: this.name, type: 'int64', values: this.int64!.subarray(0, n), valid };
      case 'float64':
        return { name: this.name, type: 'float64', values: this.float64!.subarray(0, n), valid };
      case 'bool':
        return { name: this.name, type: 'bool', values: this.bools!.subarray(0, n), valid };
      case 'string':
        return { name: this.name, type: 'string', ids: this.ids!.subarray(0, n), dictionary: this.stringDictionary(), valid };
      case null:
        // Only NULLs: Arc materialises the column as VARCHAR, all NULL.
        return { name: this.name, type: 'string', ids: new Uint32Array(n), dictionary: [], valid: new Uint8Array(n) };
    }
  }

  private stringDictionary(): string[] {
    return this.dictionary ? this.dictionary.dictionary : this.plainValues;
  }

  private plainId(value: string): number {
    if (this.dictionary) {
      // A builder fed by the interner can still get a ready string (row items stringify tags).
      const bytes = Buffer.from(value, 'utf8');
      return this.dictionary.idOf(bytes, 0, bytes.length);
    }
    let id = this.plainDictionary!.get(value);
    if (id === undefined) {
      id = this.plainValues.length;
      this.plainValues.push(value);
      this.plainDictionary!.set(value, id);
    }
    return id;
  }

  private startString(): void {
    if (this.type === null) this.start('string');
    else throw this.conflict('string');
  }

  private start(type: ColumnType): void {
    this.type = type;
    const capacity = this.capacity;
    switch (type) {
      case 'int64':
        this.int64 = new BigInt64Array(capacity);
        this.int64Words = wordsOf(this.int64);
        break;
      case 'float64':
        this.float64 = new Float64Array(capacity);
        break;
      case 'bool':
        this.bools = new Uint8Array(capacity);
        break;
      case 'string':
        this.ids = new Uint32Array(capacity);
        break;
    }
  }

  private widenToFloat(): void {
    const floats = new Float64Array(this.capacity);
    const words = this.int64Words!;
    for (let i = 0; i < this.length; i++) floats[i] = getInt64(words, i);
    this.float64 = floats;
    this.int64 = null;
    this.int64Words = null;
    this.type = 'float64';
  }

  private markValid(): void {
    if (this.valid !== null) this.valid[this.length] = 1;
    this.length++;
  }

  /** Grows the arrays (row items do not know their row count up front). */
  private reserve(): void {
    if (this.length < this.capacity) return;
    const capacity = Math.max(16, this.capacity * 2);
    const grow = <T extends Uint8Array | Uint32Array | Float64Array | BigInt64Array>(a: T | null, make: (n: number) => T): T | null => {
      if (a === null) return null;
      const b = make(capacity);
      b.set(a as never);
      return b;
    };
    this.int64 = grow(this.int64, (n) => new BigInt64Array(n));
    this.int64Words = this.int64 ? wordsOf(this.int64) : null;
    this.float64 = grow(this.float64, (n) => new Float64Array(n));
    this.bools = grow(this.bools, (n) => new Uint8Array(n));
    this.ids = grow(this.ids, (n) => new Uint32Array(n));
    this.valid = grow(this.valid, (n) => new Uint8Array(n));
    this.capacity = capacity;
  }

  private conflict(got: string): TypeConflictError {
    const expected = this.type === 'int64' ? 'integer' : this.type === 'float64' ? 'float' : this.type;
    const article = got === 'integer' ? 'an' : 'a';
    return new TypeConflictError(this.name, this.length, `type conflict in column '${this.name}': ${article} ${got} value among ${expected} values`);
  }
}

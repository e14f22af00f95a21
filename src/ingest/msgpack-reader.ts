/**
 * A cursor over MessagePack bytes that keeps the wire type of every value. Arc types a column by
 * the encoding of its first value (float64 1.0 makes a DOUBLE column, int 1 a BIGINT one), which
 * a generic decoder such as msgpackr cannot tell apart once both became the JS number 1. The
 * decoders read straight from this cursor into typed arrays; there is no intermediate object tree.
 */

/** Families of MessagePack values, as the type rules of arc-spec §5 need them. */
export const Kind = {
  Nil: 0,
  Bool: 1,
  Int: 2,
  Uint: 3,
  Float: 4,
  Str: 5,
  Bin: 6,
  Array: 7,
  Map: 8,
  Ext: 9,
  Invalid: 10,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** Kind of each leading byte. */
const KIND_OF = new Uint8Array(256);
(() => {
  for (let b = 0; b < 256; b++) {
    let kind: Kind;
    if (b <= 0x7f) kind = Kind.Uint;
    else if (b <= 0x8f) kind = Kind.Map;
    else if (b <= 0x9f) kind = Kind.Array;
    else if (b <= 0xbf) kind = Kind.Str;
    else if (b >= 0xe0) kind = Kind.Int;
    else {
      switch (b) {
        case 0xc0: kind = Kind.Nil; break;
        case 0xc2: case 0xc3: kind = Kind.Bool; break;
        case 0xc4: case 0xc5: case 0xc6: kind = Kind.Bin; break;
        case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: kind = Kind.Ext; break;
        case 0xca: case 0xcb: kind = Kind.Float; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf: kind = Kind.Uint; break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: kind = Kind.Int; break;
        case 0xd9: case 0xda: case 0xdb: kind = Kind.Str; break;
        case 0xdc: case 0xdd: kind = Kind.Array; break;
        case 0xde: case 0xdf: kind = Kind.Map; break;
        default: kind = Kind.Invalid; // 0xc1 is never used
      }
    }
    KIND_OF[b] = kind;
  }
})();

/** Go-style type names for error messages, matching Arc's wording ("invalid measurement type: float64"). */
export function typeName(byte: number): string {
  switch (KIND_OF[byte]) {
    case Kind.Nil: return 'nil';
    case Kind.Bool: return 'bool';
    case Kind.Uint: return byte === 0xcf ? 'uint64' : byte === 0xce ? 'uint32' : byte === 0xcd ? 'uint16' : 'uint8';
    case Kind.Int: return byte === 0xd3 ? 'int64' : byte === 0xd2 ? 'int32' : byte === 0xd1 ? 'int16' : 'int8';
    case Kind.Float: return byte === 0xca ? 'float32' : 'float64';
    case Kind.Str: return 'string';
    case Kind.Bin: return 'binary';
    case Kind.Array: return 'array';
    case Kind.Map: return 'map';
    case Kind.Ext: return 'extension';
    default: return `invalid byte 0x${byte.toString(16)}`;
  }
}

/** Malformed bytes (truncated, invalid type byte). Decoders turn it into "failed to unmarshal msgpack: …". */
export class MsgpackSyntaxError extends Error {}

const TWO_32 = 4294967296;

export function decodeUtf8(bytes: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    // utf8 keeps a leading U+FEFF (TextDecoder would drop it) and turns bad bytes into U+FFFD.
    if (bytes[i]! >= 0x80) return bytes.toString('utf8', start, end);
  }
  return bytes.toString('latin1', start, end);
}

export class MsgpackReader {
  pos = 0;
  private readonly view: DataView;
  /** Set by `readStringRange`: the string's bytes are buf[strStart, strStart + strLength). */
  strStart = 0;
  strLength = 0;
  /** Set by `readInteger` for values outside ±2^53, which it returns as NaN. */
  bigValue = 0n;

  constructor(readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The leading byte of the next value, not consumed. */
  peek(): number {
    if (this.pos >= this.buf.length) throw this.truncated();
    return this.buf[this.pos]!;
  }

  kind(): Kind {
    return KIND_OF[this.peek()] as Kind;
  }

  /** Consumes a map header and returns its entry count, or returns -1 (consuming nothing) if the next value is not a map. */
  readMapHeader(): number {
    const b = this.peek();
    if ((b & 0xf0) === 0x80) {
      this.pos++;
      return b & 0x0f;
    }
    if (b === 0xde) return this.containerLength(2, 2, 'map');
    if (b === 0xdf) return this.containerLength(4, 2, 'map');
    return -1;
  }

  readArrayHeader(): number {
    const b = this.peek();
    if ((b & 0xf0) === 0x90) {
      this.pos++;
      return b & 0x0f;
    }
    if (b === 0xdc) return this.containerLength(2, 1, 'array');
    if (b === 0xdd) return this.containerLength(4, 1, 'array');
    return -1;
  }

  /** Consumes a string, setting strStart/strLength; returns false (consuming nothing) if it is not a string. */
  readStringRange(): boolean {
    const b = this.peek();
    let length: number;
    if ((b & 0xe0) === 0xa0) {
      length = b & 0x1f;
      this.pos++;
    } else if (b === 0xd9) {
      this.need(2);
      length = this.buf[this.pos + 1]!;
      this.pos += 2;
    } else if (b === 0xda) {
      length = this.lengthAfter(2);
    } else if (b === 0xdb) {
      length = this.lengthAfter(4);
    } else {
      return false;
    }
    this.need(length);
    this.strStart = this.pos;
    this.strLength = length;
    this.pos += length;
    return true;
  }

  /** Consumes a string and returns it, or returns null (consuming nothing) if it is not a string. */
  readString(): string | null {
    if (!this.readStringRange()) return null;
    return decodeUtf8(this.buf, this.strStart, this.strStart + this.strLength);
  }

  /**
   * Consumes an integer (Kind.Int or Kind.Uint) and returns it as a number; for a value outside
   * ±2^53 it returns NaN and leaves the exact value in `bigValue`. Call only after checking the kind.
   */
  readInteger(): number {
    const b = this.buf[this.pos++]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    const view = this.view;
    const p = this.pos;
    switch (b) {
      case 0xcc: this.need(1); this.pos += 1; return this.buf[p]!;
      case 0xcd: this.need(2); this.pos += 2; return view.getUint16(p);
      case 0xce: this.need(4); this.pos += 4; return view.getUint32(p);
      case 0xd0: this.need(1); this.pos += 1; return view.getInt8(p);
      case 0xd1: this.need(2); this.pos += 2; return view.getInt16(p);
      case 0xd2: this.need(4); this.pos += 4; return view.getInt32(p);
      case 0xcf: {
        this.need(8);
        this.pos += 8;
        const high = view.getUint32(p);
        if (high < 0x200000) return high * TWO_32 + view.getUint32(p + 4);
        this.bigValue = view.getBigUint64(p);
        return NaN;
      }
      case 0xd3: {
        this.need(8);
        this.pos += 8;
        const high = view.getInt32(p);
        if (high >= -0x200000 && high < 0x200000) return high * TWO_32 + view.getUint32(p + 4);
        this.bigValue = view.getBigInt64(p);
        return NaN;
      }
      default:
        this.pos--;
        throw new MsgpackSyntaxError(`expected an integer at byte ${this.pos}`);
    }
  }

  /** Consumes a float32/float64. Call only after checking the kind. */
  readFloat(): number {
    const b = this.buf[this.pos]!;
    if (b === 0xcb) {
      this.need(9);
      const v = this.view.getFloat64(this.pos + 1);
      this.pos += 9;
      return v;
    }
    this.need(5);
    const v = this.view.getFloat32(this.pos + 1);
    this.pos += 5;
    return v;
  }

  /** Consumes a bool. Call only after checking the kind. */
  readBool(): boolean {
    return this.buf[this.pos++] === 0xc3;
  }

  /** Consumes one whole value of any type, nested ones included, without recursion. */
  skip(): void {
    let pending = 1;
    while (pending > 0) {
      pending--;
      const b = this.peek();
      const kind = KIND_OF[b];
      if (kind === Kind.Map) {
        pending += 2 * this.readMapHeader();
        continue;
      }
      if (kind === Kind.Array) {
        pending += this.readArrayHeader();
        continue;
      }
      this.pos++;
      switch (b) {
        case 0xc4: this.skipSized(1, 0); break;
        case 0xc5: this.skipSized(2, 0); break;
        case 0xc6: this.skipSized(4, 0); break;
        case 0xc7: this.skipSized(1, 1); break; // ext: length, then a type byte, then the data
        case 0xc8: this.skipSized(2, 1); break;
        case 0xc9: this.skipSized(4, 1); break;
        case 0xca: this.skipBytes(4); break;
        case 0xcb: this.skipBytes(8); break;
        case 0xcc: case 0xd0: this.skipBytes(1); break;
        case 0xcd: case 0xd1: this.skipBytes(2); break;
        case 0xce: case 0xd2: this.skipBytes(4); break;
        case 0xcf: case 0xd3: this.skipBytes(8); break;
        case 0xd4: this.skipBytes(2); break;
        case 0xd5: this.skipBytes(3); break;
        case 0xd6: this.skipBytes(5); break;
        case 0xd7: this.skipBytes(9); break;
        case 0xd8: this.skipBytes(17); break;
        case 0xd9: this.skipSized(1, 0); break;
        case 0xda: this.skipSized(2, 0); break;
        case 0xdb: this.skipSized(4, 0); break;
        case 0xc1:
          this.pos--;
          throw new MsgpackSyntaxError(`invalid type byte 0xc1 at byte ${this.pos}`);
        default:
          if ((b & 0xe0) === 0xa0) this.skipBytes(b & 0x1f);
      }
    }
  }

  truncated(): MsgpackSyntaxError {
    return new MsgpackSyntaxError(`unexpected end of data at byte ${this.buf.length}`);
  }

  /** Throws unless `count` more bytes follow the current position. */
  need(count: number): void {
    if (this.pos + count > this.buf.length) throw this.truncated();
  }

  /** Big-endian unsigned integer of `size` bytes right after the current position. */
  private uintAt(size: 1 | 2 | 4): number {
    this.need(size);
    const p = this.pos;
    return size === 1 ? this.buf[p]! : size === 2 ? this.view.getUint16(p) : this.view.getUint32(p);
  }

  /** Consumes a 1-byte marker and a big-endian length of `size` bytes; returns the length. */
  private lengthAfter(size: 2 | 4): number {
    this.pos++;
    const length = this.uintAt(size);
    this.pos += size;
    return length;
  }

  /**
   * A map or array header. Every element takes at least one byte, so a header declaring more
   * elements than the bytes left is refused here: decoders size their arrays by it, and a 24-byte
   * body must not make them allocate for 2^32 - 1 values.
   */
  private containerLength(size: 2 | 4, bytesPerElement: 1 | 2, what: 'map' | 'array'): number {
    const at = this.pos;
    const length = this.lengthAfter(size);
    const remaining = this.buf.length - this.pos;
    if (length * bytesPerElement > remaining) {
      throw new MsgpackSyntaxError(`${what} header at byte ${at} declares ${length} ${what === 'map' ? 'entries' : 'elements'} but only ${remaining} bytes follow`);
    }
    return length;
  }

  /** Skips a length of `size` bytes and then `extra` + length bytes. */
  private skipSized(size: 1 | 2 | 4, extra: number): void {
    const length = this.uintAt(size);
    this.pos += size;
    this.skipBytes(length + extra);
  }

  private skipBytes(count: number): void {
    this.need(count);
    this.pos += count;
  }
}

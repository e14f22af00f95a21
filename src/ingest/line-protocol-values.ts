import type { Column } from '../columnar/column-batch.js';
import type { StringInterner } from '../columnar/string-interner.js';
import { END_TIME_US, MIN_TIME_US, getInt64, setInt64, wordsOf } from '../columnar/time.js';
import { decodeUtf8 } from './msgpack-reader.js';

/**
 * The value side of the line protocol parser (line-protocol.ts): scanning field values and
 * timestamps straight from the bytes, and the growing typed arrays they are stored in. On the
 * accepted path nothing is allocated per value except a dictionary entry for a string new to its
 * column (and a BigInt for integers beyond 2^53); text is decoded only for reject reasons.
 */

/** Value kinds of a field, and column types (UNSET: created by the current line, no value yet). */
export const FLOAT = 0;
export const INTEGER = 1;
export const BOOL = 2;
export const STRING = 3;
export const UNSET = 4;
export const KIND_NAMES = ['float', 'integer', 'boolean', 'string', 'no'] as const;

/** Which escapes `unescapeInto` honours: InfluxDB allows a different set per position. */
export const MEASUREMENT_ESCAPES = 0; // \,  \space  \\
export const KEY_ESCAPES = 1; // \,  \=  \space  \\  (tag keys, tag values, field keys)
export const STRING_ESCAPES = 2; // \"  \\

const TWO_53 = 9007199254740992;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** 10^0 … 10^22: every one is an exact double, which makes `mantissa / 10^k` correctly rounded. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/** Where the scanners leave what they read (one per parser, reused for every value). */
export class ScannedValue {
  kind = FLOAT;
  /** The value (bool: 0/1); NaN when an integer or a timestamp does not fit 2^53, see `big`. */
  num = 0;
  big = 0n;
  /** The reject reason when a scanner returns -1. */
  error = '';
}

/** `text`, JSON-quoted and cut at 64 characters: reasons quote the offending input, briefly. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** End of the unquoted token at `p`: the next `,` or space, or `end`. */
function tokenEnd(buf: Buffer, p: number, end: number): number {
  while (p < end && buf[p] !== 44 && buf[p] !== 32) p++;
  return p;
}

/**
 * Scans a numeric field value at buf[start] (a digit, `-` or `.`): a float (`-1.5`, `1e3`, `.5`,
 * `5.`), an integer `-12i` or an unsigned integer `12u`. Returns the index after it, which is
 * `end` or a `,` or space, or -1 with `out.error` set. Floats read exactly as `Number()` would:
 * up to 15 digits with a power of ten up to 22 take Clinger's fast path (one correctly rounded
 * operation on exact doubles); anything longer goes through `Number()` of the text.
 */
export function scanNumber(buf: Buffer, start: number, end: number, out: ScannedValue): number {
  let p = start;
  const negative = buf[p] === 45;
  if (negative) p++;
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  for (; p < end; p++) {
    const d = buf[p]! - 48;
    if (d < 0 || d > 9) break;
    mantissa = mantissa * 10 + d;
    digits++;
  }
  const dot = p < end && buf[p] === 46;
  if (dot) {
    for (p++; p < end; p++) {
      const d = buf[p]! - 48;
      if (d < 0 || d > 9) break;
      mantissa = mantissa * 10 + d;
      digits++;
      fraction++;
    }
  }
  if (digits === 0) return numberError(buf, start, end, out);
  let exponent = 0;
  const scientific = p < end && (buf[p]! | 0x20) === 101; // e or E
  if (scientific) {
    p++;
    let negativeExponent = false;
    if (p < end && (buf[p] === 43 || buf[p] === 45)) negativeExponent = buf[p++] === 45;
    const exponentStart = p;
    for (; p < end; p++) {
      const d = buf[p]! - 48;
      if (d < 0 || d > 9) break;
      if (exponent < 100000) exponent = exponent * 10 + d;
    }
    if (p === exponentStart) return numberError(buf, start, end, out);
    if (negativeExponent) exponent = -exponent;
  }
  const numberEnd = p;
  if (p < end) {
    const c = buf[p]!;
    if (c === 105 || c === 117) return scanInteger(buf, start, end, numberEnd, negative, dot || scientific, digits, mantissa, out);
    if (c !== 44 && c !== 32) return numberError(buf, start, end, out);
  }
  out.kind = FLOAT;
  const power = exponent - fraction;
  let value: number;
  if (digits <= 15 && power >= -22 && power <= 22) {
    value = power < 0 ? mantissa / POW10[-power]! : mantissa * POW10[power]!;
    if (negative) value = -value;
  } else {
    value = Number(buf.toString('latin1', start, numberEnd));
    if (!Number.isFinite(value)) {
      out.error = `invalid number ${quote(buf.toString('latin1', start, numberEnd))}: out of range`;
      return -1;
    }
  }
  out.num = value;
  return p;
}

/** The `i`/`u` suffixed forms; buf[digitsEnd] is the suffix. */
function scanInteger(
  buf: Buffer,
  start: number,
  end: number,
  digitsEnd: number,
  negative: boolean,
  notInteger: boolean,
  digits: number,
  mantissa: number,
  out: ScannedValue,
): number {
  const unsigned = buf[digitsEnd] === 117;
  const p = digitsEnd + 1;
  if (p < end && buf[p] !== 44 && buf[p] !== 32) return numberError(buf, start, end, out);
  if (notInteger || (unsigned && negative)) return numberError(buf, start, end, out);
  out.kind = INTEGER;
  if (digits <= 15) {
    out.num = negative && mantissa !== 0 ? -mantissa : mantissa;
    return p;
  }
  const big = BigInt(buf.toString('latin1', start, digitsEnd));
  if (unsigned && big > INT64_MAX) {
    out.error = `unsigned value ${big} is out of range (max ${INT64_MAX})`;
    return -1;
  }
  if (big < INT64_MIN || big > INT64_MAX) {
    out.error = `invalid integer ${quote(buf.toString('latin1', start, p))}: out of range`;
    return -1;
  }
  const asNumber = Number(big);
  out.num = Number.isSafeInteger(asNumber) ? asNumber : NaN;
  out.big = big;
  return p;
}

/** The reason for a malformed number token, named after its suffix as InfluxDB users read it. */
function numberError(buf: Buffer, start: number, end: number, out: ScannedValue): -1 {
  const stop = tokenEnd(buf, start, end);
  const text = decodeUtf8(buf, start, stop);
  const last = buf[stop - 1];
  const what = last === 105 ? 'invalid integer' : last === 117 ? 'invalid unsigned integer' : 'invalid number';
  out.error = `${what} ${quote(text)}`;
  return -1;
}

/** Reason for an unquoted value that is neither a number nor starts with t/f: `abc`, `NaN`, `+1`. */
export function invalidNumber(buf: Buffer, start: number, end: number): string {
  return `invalid number ${quote(decodeUtf8(buf, start, tokenEnd(buf, start, end)))}`;
}

/**
 * Scans a boolean at buf[start] (which is t, T, f or F): `t T true True TRUE f F false False
 * FALSE`, InfluxDB's exact list. Returns the index after it or -1 with `out.error` set.
 */
export function scanBool(buf: Buffer, start: number, end: number, out: ScannedValue): number {
  const stop = tokenEnd(buf, start, end);
  const first = buf[start]!;
  const length = stop - start;
  let value = -1;
  if (length === 1) value = first === 116 || first === 84 ? 1 : 0;
  else if (length === 4 && (first === 116 || first === 84)) {
    if (matches(buf, start, 'true') || matches(buf, start, 'True') || matches(buf, start, 'TRUE')) value = 1;
  } else if (length === 5 && (first === 102 || first === 70)) {
    if (matches(buf, start, 'false') || matches(buf, start, 'False') || matches(buf, start, 'FALSE')) value = 0;
  }
  if (value < 0) {
    out.error = `invalid boolean ${quote(decodeUtf8(buf, start, stop))}`;
    return -1;
  }
  out.kind = BOOL;
  out.num = value;
  return stop;
}

function matches(buf: Buffer, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (buf[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * Parses the timestamp at buf[start, end) (the rest of the line): a base-10 signed integer in
 * units of `multiplier` µs, or ns when `multiplier` is 0 (÷1000 truncating toward zero).
 * The result in µs goes to `out.num`, or to `out.big` (with `num` NaN) beyond 2^53; it must lie in
 * [MIN_TIME_US, END_TIME_US). Exact for every int64 input: ns values, the common case, only drop
 * their last three digits, accumulated as a double while that is exact (below 2^53); anything
 * else takes the BigInt path. Returns the reject reason or null.
 */
export function parseTimestamp(buf: Buffer, start: number, end: number, multiplier: number, out: ScannedValue): string | null {
  let p = start;
  const negative = buf[p] === 45;
  if (negative) p++;
  const digits = end - p;
  if (digits === 0) return timestampError(buf, start, end);
  let micros = NaN;
  if (multiplier === 0) {
    // One pass: the digits but the last three are the µs (truncated toward zero).
    const stop = end - 3;
    let whole = 0;
    for (; p < stop; p++) {
      const d = buf[p]! - 48;
      if (d < 0 || d > 9) return timestampError(buf, start, end);
      whole = whole * 10 + d;
    }
    for (; p < end; p++) {
      const d = buf[p]! - 48;
      if (d < 0 || d > 9) return timestampError(buf, start, end);
    }
    if (digits <= 18 || (digits === 19 && whole < TWO_53)) micros = negative && whole !== 0 ? -whole : whole;
  } else {
    let value = 0;
    for (; p < end; p++) {
      const d = buf[p]! - 48;
      if (d < 0 || d > 9) return timestampError(buf, start, end);
      value = value * 10 + d;
    }
    const product = value * multiplier;
    if (digits <= 15 && product < TWO_53) micros = negative && product !== 0 ? -product : product;
  }
  if (Number.isNaN(micros)) return bigTimestamp(buf, start, end, multiplier, out);
  if (micros < MIN_TIME_US || micros >= END_TIME_US) return 'timestamp out of range';
  out.num = micros;
  return null;
}

/** The exact (BigInt) path for long timestamps. */
function bigTimestamp(buf: Buffer, start: number, end: number, multiplier: number, out: ScannedValue): string | null {
  const value = BigInt(buf.toString('latin1', start, end));
  if (value < INT64_MIN || value > INT64_MAX) return 'timestamp out of range';
  const micros = multiplier === 0 ? value / 1000n : value * BigInt(multiplier);
  if (micros < BigInt(MIN_TIME_US) || micros >= BigInt(END_TIME_US)) return 'timestamp out of range';
  const asNumber = Number(micros);
  out.num = Number.isSafeInteger(asNumber) ? asNumber : NaN;
  out.big = micros;
  return null;
}

/** A valid number followed by more text, or an invalid token. */
function timestampError(buf: Buffer, start: number, end: number): string {
  let stop = buf[start] === 45 ? start + 1 : start;
  const digitsStart = stop;
  while (stop < end && buf[stop]! >= 48 && buf[stop]! <= 57) stop++;
  let tokenStop = stop;
  while (tokenStop < end && buf[tokenStop] !== 32 && buf[tokenStop] !== 9) tokenStop++;
  if (tokenStop === stop && stop > digitsStart) {
    let rest = stop;
    while (buf[rest] === 32 || buf[rest] === 9) rest++;
    return `unexpected text after timestamp: ${quote(decodeUtf8(buf, rest, end))}`;
  }
  return `invalid timestamp ${quote(decodeUtf8(buf, start, tokenStop))}`;
}

/**
 * Copies buf[start, end) to out[at…], resolving the escapes of `mode` (a backslash before any
 * other byte stays, with that byte); returns the end of the copy. `out` must have room for
 * end - start bytes.
 */
export function unescapeInto(buf: Buffer, start: number, end: number, out: Buffer, at: number, mode: number): number {
  for (let p = start; p < end; p++) {
    let c = buf[p]!;
    if (c === 92 && p + 1 < end) {
      const next = buf[p + 1]!;
      const escaped =
        next === 92 ||
        (mode === STRING_ESCAPES ? next === 34 : next === 44 || next === 32 || (mode === KEY_ESCAPES && next === 61));
      if (escaped) {
        c = next;
        p++;
      }
    }
    out[at++] = c;
  }
  return at;
}

/**
 * The values of one column of one measurement while a request is parsed. Rows are written at
 * their row index; rows a column skips become NULL (`valid` appears with the first gap). The
 * type is set by the first committed value; INTEGER widens to FLOAT (line-protocol.ts checks
 * every other combination before anything is written).
 */
export class ColumnState {
  type = UNSET;
  /** Rows written, NULLs included. */
  length = 0;
  /** The last line that used this column, and the index of its entry there (duplicates: last wins). */
  stamp = -1;
  staged = -1;
  private capacity = 0;
  private f64: Float64Array | null = null;
  private i64: BigInt64Array | null = null;
  private i64Words: Uint32Array | null = null;
  private u8: Uint8Array | null = null;
  private ids: Uint32Array | null = null;
  private valid: Uint8Array | null = null;
  private readonly dictionary: string[] = [];
  /** Local ids of values whose interner slot another column of the request owns (see StringIds). */
  private shared: Map<number, number> | null = null;
  private overflow: Map<string, number> | null = null;

  constructor(
    /** Unique within the request (the owner mark in StringIds). */
    readonly number: number,
    readonly name: string,
    /** The key bytes lines spell this column with (for the positional guess in the parser). */
    readonly nameBytes: Buffer,
    readonly isTag: boolean,
    readonly folded: string,
  ) {}

  /** Row `row` is next: makes room, NULLs the rows skipped since the last value. */
  private prepare(row: number, capacityHint: number): void {
    if (row >= this.capacity) this.grow(Math.max(row + 1, capacityHint, this.capacity * 2));
    if (this.length < row) this.padTo(row);
  }

  /** NULLs up to `rows` (capacity permitting); values of NULL rows stay 0 (fresh arrays). */
  private padTo(rows: number): void {
    if (this.valid === null) {
      this.valid = new Uint8Array(this.capacity);
      this.valid.fill(1, 0, this.length);
    }
    this.valid.fill(0, this.length, rows);
    this.length = rows;
  }

  private done(row: number): void {
    if (this.valid !== null) this.valid[row] = 1;
    this.length = row + 1;
  }

  setFloat(row: number, value: number, capacityHint: number): void {
    if (this.type === UNSET) this.type = FLOAT;
    else if (this.type === INTEGER) this.widen();
    if (this.length !== row || row >= this.capacity) this.prepare(row, capacityHint);
    this.f64![row] = value;
    this.done(row);
  }

  /** An integer: `value` when it is a safe integer, else NaN and the exact `big`. */
  setInteger(row: number, value: number, big: bigint, capacityHint: number): void {
    if (this.type === FLOAT) {
      this.setFloat(row, Number.isNaN(value) ? Number(big) : value, capacityHint);
      return;
    }
    this.type = INTEGER;
    if (this.length !== row || row >= this.capacity) this.prepare(row, capacityHint);
    if (Number.isNaN(value)) this.i64![row] = big;
    else setInt64(this.i64Words!, row, value);
    this.done(row);
  }

  setBool(row: number, value: number, capacityHint: number): void {
    this.type = BOOL;
    if (this.length !== row || row >= this.capacity) this.prepare(row, capacityHint);
    this.u8![row] = value;
    this.done(row);
  }

  /** A string (tag value or string field) from bytes[start, end), deduplicated via `ids`. */
  setString(row: number, ids: StringIds, bytes: Buffer, start: number, end: number, capacityHint: number): void {
    this.type = STRING;
    if (this.length !== row || row >= this.capacity) this.prepare(row, capacityHint);
    this.ids![row] = ids.idOf(this, bytes, start, end);
    this.done(row);
  }

  /** Appends a value to the dictionary; returns its local id. */
  addValue(value: string): number {
    this.dictionary.push(value);
    return this.dictionary.length - 1;
  }

  /** Local id of interner id `global` when another column owns its slot. */
  sharedId(global: number, value: string): number {
    this.shared ??= new Map();
    let id = this.shared.get(global);
    if (id === undefined) {
      id = this.addValue(value);
      this.shared.set(global, id);
    }
    return id;
  }

  /** The interner is full (it refuses new strings until trimmed): dedupe by value instead. */
  overflowId(value: string): number {
    this.overflow ??= new Map();
    let id = this.overflow.get(value);
    if (id === undefined) {
      id = this.addValue(value);
      this.overflow.set(value, id);
    }
    return id;
  }

  /** Earlier integers become doubles, each correctly rounded (getInt64 rounds once). */
  private widen(): void {
    const floats = new Float64Array(this.capacity);
    const words = this.i64Words;
    if (words !== null) for (let i = 0; i < this.length; i++) floats[i] = getInt64(words, i);
    this.f64 = floats;
    this.i64 = null;
    this.i64Words = null;
    this.type = FLOAT;
  }

  private grow(capacity: number): void {
    const copy = <T extends Float64Array | BigInt64Array | Uint8Array | Uint32Array>(old: T | null, fresh: T): T => {
      if (old !== null) fresh.set(old as never);
      return fresh;
    };
    switch (this.type) {
      case FLOAT:
        this.f64 = copy(this.f64, new Float64Array(capacity));
        break;
      case INTEGER:
        this.i64 = copy(this.i64, new BigInt64Array(capacity));
        this.i64Words = wordsOf(this.i64);
        break;
      case BOOL:
        this.u8 = copy(this.u8, new Uint8Array(capacity));
        break;
      case STRING:
        this.ids = copy(this.ids, new Uint32Array(capacity));
        break;
    }
    if (this.valid !== null) this.valid = copy(this.valid, new Uint8Array(capacity));
    this.capacity = capacity;
  }

  /** The finished column of `rowCount` rows (NULLs to the end). */
  finish(rowCount: number): Column {
    if (rowCount > this.capacity) this.grow(rowCount);
    if (this.length < rowCount) this.padTo(rowCount);
    const valid = this.valid ? this.valid.subarray(0, rowCount) : null;
    const name = this.name;
    switch (this.type) {
      case INTEGER:
        return { name, type: 'int64', values: this.i64!.subarray(0, rowCount), valid };
      case BOOL:
        return { name, type: 'bool', values: this.u8!.subarray(0, rowCount), valid };
      case STRING:
        return { name, type: 'string', ids: this.ids!.subarray(0, rowCount), dictionary: this.dictionary, valid };
      default:
        return { name, type: 'float64', values: this.f64!.subarray(0, rowCount), valid };
    }
  }
}

/**
 * Maps the interner's global string ids to the local dictionary ids of one request's string
 * columns. The interner keeps one int slot per global id, tagged with an epoch; `DictionaryBuilder`
 * uses it for one column at a time, but line protocol fills all string columns line by line. So
 * the request takes a single epoch, and the slot of a global id holds a pair: the column that saw
 * the value first (its owner) and the value's id there. Another column holding the same value
 * (rare: `a=x,b=x`) keeps its id in its own map. A hit costs four array reads and no hashing beyond
 * the interner's; nothing is allocated per column.
 */
export class StringIds {
  private readonly epoch: number;
  /** Per pair: the owning column's number and the value's local id there (plain arrays: no setup cost). */
  private readonly owner: number[] = [];
  private readonly local: number[] = [];

  constructor(private readonly interner: StringInterner) {
    this.epoch = interner.nextEpoch();
  }

  idOf(column: ColumnState, bytes: Buffer, start: number, end: number): number {
    const interner = this.interner;
    const global = interner.intern(bytes, start, end - start);
    if (global < 0) return column.overflowId(interner.decodeBytes(bytes, start, end));
    const pair = interner.localId(global, this.epoch);
    if (pair >= 0) {
      if (this.owner[pair] === column.number) return this.local[pair]!;
      return column.sharedId(global, interner.strings[global]!);
    }
    const id = column.addValue(interner.strings[global]!);
    interner.setLocalId(global, this.epoch, this.owner.length);
    this.owner.push(column.number);
    this.local.push(id);
    return id;
  }
}

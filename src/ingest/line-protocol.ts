import { compareNames, type Column, type ColumnBatch } from '../columnar/column-batch.js';
import type { StringInterner } from '../columnar/string-interner.js';
import { setInt64, wordsOf } from '../columnar/time.js';
import {
  BOOL,
  ColumnState,
  FLOAT,
  INTEGER,
  KEY_ESCAPES,
  KIND_NAMES,
  MEASUREMENT_ESCAPES,
  STRING,
  STRING_ESCAPES,
  ScannedValue,
  UNSET,
  invalidNumber,
  parseTimestamp,
  quote,
  scanBool,
  scanNumber,
  unescapeInto,
} from './line-protocol-values.js';
import { decodeUtf8 } from './msgpack-reader.js';
import { MAX_COLUMN_NAME_LENGTH, isValidMeasurementName } from './names.js';

/**
 * InfluxDB line protocol (arc-spec §6), parsed straight from the request bytes into the shared
 * columnar batch: `measurement[,tag=value…] field=value[,field=value…] [timestamp]` per line.
 * Pure: no I/O, no clock (the caller passes `nowMicros`), no state beyond the caller's interner.
 *
 * Unlike Arc, which drops malformed lines silently and stores anything unparsable as a string,
 * this follows InfluxDB's stricter rules and reports each rejected line with its number and
 * reason; the other lines are kept. A rejected line leaves no trace (no row, no column, no type).
 */

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Accepts ns, us, ms, s and InfluxDB 1.x's n, u, ms, s, m, h; returns null for anything else. */
export function parsePrecision(text: string | undefined): Precision | null {
  switch (text) {
    case undefined:
    case '':
    case 'ns':
    case 'n':
      return 'ns';
    case 'us':
    case 'u':
      return 'us';
    case 'ms':
    case 's':
    case 'm':
    case 'h':
      return text;
    default:
      return null;
  }
}

/** µs per unit; 0 marks ns (divided, not multiplied). */
const MICROS_PER_UNIT: Record<Precision, number> = { ns: 0, us: 1, ms: 1e3, s: 1e6, m: 6e7, h: 3.6e9 };

/** A rejected line: `line` counts physical lines (blank and comment lines too) from 1. */
export interface RejectedLine {
  line: number;
  reason: string;
}

export interface LineProtocolResult {
  /** One per measurement, in the order of their first accepted line; tagColumns = sorted tag column names. */
  batches: ColumnBatch[];
  /** Data lines seen (not blank, not comments). */
  lines: number;
  /** Rows in batches. */
  written: number;
  /** Total rejected lines. */
  rejected: number;
  /** The first `maxReported` rejected lines. */
  rejectedLines: RejectedLine[];
}

export interface ParseOptions {
  precision: Precision;
  /** Time in µs for lines without a timestamp; the same for every line of the request. */
  nowMicros: number;
  /** Long-lived, byte-keyed string table (tag values, string fields); trimmed here per request. */
  interner: StringInterner;
  /** Rejected lines listed in the result (default 100); all are counted. */
  maxReported?: number;
}

/**
 * Parses a line protocol body. Lines split on `\n` (a trailing `\r` and trailing spaces are
 * ignored); blank and `#` lines are skipped. Each measurement becomes one batch: `time` (µs), a
 * VARCHAR column per tag key, a column per field key typed by its first value (integers and floats
 * mixed widen to DOUBLE); a field named like a tag of its line is stored as `<name>_value`;
 * missing values are NULL. The batches own fresh arrays; the body may be reused once this returns.
 */
export function parseLineProtocol(body: Buffer, options: ParseOptions): LineProtocolResult {
  options.interner.trim();
  const parser = new LineProtocolParser(body, options);
  parser.parse();
  return parser.result();
}

const NO_COLUMNS: readonly (ColumnState | null)[] = [];

/** Rows of one measurement while a request is parsed. */
class MeasurementState {
  rowCount = 0;
  capacity = 0;
  time = new BigInt64Array(0);
  timeWords = new Uint32Array(0);
  readonly columns: ColumnState[] = [];
  readonly byName = new Map<string, ColumnState>();
  /** Lower-cased name → name: SQL cannot tell `Value` from `value`. */
  readonly byFolded = new Map<string, string>();
  /** The columns of the previous accepted line, by position: the guess for the next line's keys. */
  guessTags: (ColumnState | null)[] = [];
  guessFields: (ColumnState | null)[] = [];

  constructor(
    readonly name: string,
    readonly nameBytes: Buffer,
    /** Why lines of this measurement are rejected (invalid name), or null. */
    readonly error: string | null,
    private readonly initialCapacity: number,
  ) {}

  /** Room for one more row. */
  reserveRow(): void {
    if (this.rowCount < this.capacity) return;
    const capacity = Math.max(this.initialCapacity, this.capacity * 2);
    const time = new BigInt64Array(capacity);
    time.set(this.time);
    this.time = time;
    this.timeWords = wordsOf(time);
    this.capacity = capacity;
  }

  toBatch(): ColumnBatch {
    const n = this.rowCount;
    const columns: Column[] = [];
    const tags: string[] = [];
    for (const column of this.columns) {
      columns.push(column.finish(n));
      if (column.isTag) tags.push(column.name);
    }
    columns.sort(compareNames);
    tags.sort();
    return { measurement: this.name, rowCount: n, time: this.time.subarray(0, n), columns, tagColumns: tags };
  }
}

class LineProtocolParser {
  private readonly body: Buffer;
  /** Whether the body holds a backslash: only then are tokens copied, unescaped, into `scratch`. */
  private readonly escapes: boolean;
  /** Where staged keys and values point: the body, or `scratch` when the body has escapes. */
  private src: Buffer;
  private scratch: Buffer;
  private scratchUsed = 0;
  private readonly unit: number;
  private readonly now: number;
  private readonly interner: StringInterner;
  private readonly maxReported: number;
  private readonly measurements = new Map<string, MeasurementState>();
  private readonly order: MeasurementState[] = [];
  private last: MeasurementState | null = null;
  private seq = 0;
  private readonly value = new ScannedValue();
  private readonly lineColumns: ColumnState[] = [];
  // The current line, staged: nothing reaches a column before the whole line is valid.
  private capacity = 0;
  private tagKeyStart = new Int32Array(0);
  private tagKeyEnd = new Int32Array(0);
  private tagValueStart = new Int32Array(0);
  private tagValueEnd = new Int32Array(0);
  private fieldKeyStart = new Int32Array(0);
  private fieldKeyEnd = new Int32Array(0);
  private fieldValueStart = new Int32Array(0);
  private fieldValueEnd = new Int32Array(0);
  private fieldKind = new Uint8Array(0);
  private fieldNumber = new Float64Array(0);
  private fieldBig: bigint[] = [];
  private tagColumns: (ColumnState | null)[] = [];
  private fieldColumns: (ColumnState | null)[] = [];
  private timeNumber = 0;
  private timeBig = 0n;
  private lineStart = 0;
  private lines = 0;
  private written = 0;
  private rejected = 0;
  private readonly rejectedLines: RejectedLine[] = [];

  constructor(body: Buffer, options: ParseOptions) {
    this.body = body;
    this.escapes = body.indexOf(92) >= 0;
    this.scratch = Buffer.allocUnsafe(this.escapes ? 1024 : 0);
    this.src = this.escapes ? this.scratch : body;
    this.unit = MICROS_PER_UNIT[options.precision];
    this.now = options.nowMicros;
    this.interner = options.interner;
    this.maxReported = options.maxReported ?? 100;
    this.growStaging(16);
  }

  parse(): void {
    const buf = this.body;
    const n = buf.length;
    let pos = 0;
    let lineNumber = 0;
    while (pos < n) {
      lineNumber++;
      let newline = pos;
      while (newline < n && buf[newline] !== 10) newline++;
      let end = newline;
      while (end > pos && (buf[end - 1] === 32 || buf[end - 1] === 9 || buf[end - 1] === 13)) end--;
      let p = pos;
      while (p < end && (buf[p] === 32 || buf[p] === 9)) p++;
      pos = newline + 1;
      if (p === end || buf[p] === 35) continue;
      this.lines++;
      this.lineStart = p;
      if (this.escapes) this.resetScratch(end - p);
      const reason = this.parseLine(p, end);
      if (reason !== null) this.reject(lineNumber, reason);
    }
  }

  result(): LineProtocolResult {
    return {
      batches: this.order.map((m) => m.toBatch()),
      lines: this.lines,
      written: this.written,
      rejected: this.rejected,
      rejectedLines: this.rejectedLines,
    };
  }

  private reject(line: number, reason: string): void {
    this.rejected++;
    if (this.rejectedLines.length < this.maxReported) this.rejectedLines.push({ line, reason });
  }

  /** Scans one line into the staging arrays, then commits it; returns the reject reason or null. */
  private parseLine(start: number, end: number): string | null {
    const buf = this.body;
    const escapes = this.escapes;
    let p = start;
    for (; p < end; p++) {
      const c = buf[p]!;
      if (c === 44 || c === 32) break;
      if (c === 92 && escapes) p++;
    }
    if (p > end) p = end;
    if (p === start) return 'missing measurement';
    const measurementEnd = p;

    let tags = 0;
    while (p < end && buf[p] === 44) {
      const keyStart = ++p;
      for (; p < end; p++) {
        const c = buf[p]!;
        if (c === 61 || c === 44 || c === 32) break;
        if (c === 92 && escapes) p++;
      }
      if (p > end) p = end;
      if (p === keyStart) return 'missing tag key';
      if (p === end || buf[p] !== 61) return 'missing tag value';
      const keyEnd = p++;
      const valueStart = p;
      for (; p < end; p++) {
        const c = buf[p]!;
        if (c === 44 || c === 32) break;
        if (c === 61) return `invalid tag value ${quote(decodeUtf8(buf, valueStart, tokenStop(buf, p, end)))}: unescaped "="`;
        if (c === 92 && escapes) p++;
      }
      if (p > end) p = end;
      if (p === valueStart) return 'missing tag value';
      if (tags === this.capacity) this.growStaging(tags * 2);
      this.stageTag(tags++, keyStart, keyEnd, valueStart, p);
    }
    if (p === end) return 'missing field set';
    while (p < end && (buf[p] === 32 || buf[p] === 9)) p++;
    if (p === end) return 'missing field set';

    let fields = 0;
    const value = this.value;
    for (;;) {
      const keyStart = p;
      for (; p < end; p++) {
        const c = buf[p]!;
        if (c === 61 || c === 44 || c === 32) break;
        if (c === 92 && escapes) p++;
      }
      if (p > end) p = end;
      if (p === keyStart) return 'missing field key';
      if (p === end || buf[p] !== 61) return 'missing field value';
      const keyEnd = p++;
      if (p === end) return 'missing field value';
      const c = buf[p]!;
      if (c === 44 || c === 32) return 'missing field value';
      if (fields === this.capacity) this.growStaging(fields * 2);
      if (c === 34) {
        let q = p + 1;
        if (escapes) {
          for (; q < end; q++) {
            const d = buf[q]!;
            if (d === 34) break;
            if (d === 92 && q + 1 < end && (buf[q + 1] === 34 || buf[q + 1] === 92)) q++;
          }
        } else {
          while (q < end && buf[q] !== 34) q++;
        }
        if (q >= end) return 'unterminated string';
        this.fieldKind[fields] = STRING;
        this.stageField(fields, keyStart, keyEnd, p + 1, q);
        p = q + 1;
        if (p < end && buf[p] !== 44 && buf[p] !== 32) {
          return `unexpected text after string: ${quote(decodeUtf8(buf, p, tokenStop(buf, p, end)))}`;
        }
      } else {
        if ((c >= 48 && c <= 57) || c === 45 || c === 46) p = scanNumber(buf, p, end, value);
        else if (c === 116 || c === 102 || c === 84 || c === 70) p = scanBool(buf, p, end, value);
        else return invalidNumber(buf, p, end);
        if (p < 0) return value.error;
        this.fieldKind[fields] = value.kind;
        this.fieldNumber[fields] = value.num;
        if (Number.isNaN(value.num)) this.fieldBig[fields] = value.big;
        this.stageField(fields, keyStart, keyEnd, 0, 0);
      }
      fields++;
      if (p === end) break;
      if (buf[p] === 44) {
        p++;
        continue;
      }
      while (p < end && (buf[p] === 32 || buf[p] === 9)) p++;
      break;
    }

    if (p < end) {
      const reason = parseTimestamp(buf, p, end, this.unit, value);
      if (reason !== null) return reason;
      this.timeNumber = value.num;
      this.timeBig = value.big;
    } else {
      this.timeNumber = this.now;
    }
    return this.commit(start, measurementEnd, tags, fields);
  }

  private stageTag(i: number, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): void {
    if (this.escapes) {
      keyEnd = this.unescape(keyStart, keyEnd, KEY_ESCAPES);
      keyStart = keyEnd - (this.lastCopyLength);
      valueEnd = this.unescape(valueStart, valueEnd, KEY_ESCAPES);
      valueStart = valueEnd - this.lastCopyLength;
    }
    this.tagKeyStart[i] = keyStart;
    this.tagKeyEnd[i] = keyEnd;
    this.tagValueStart[i] = valueStart;
    this.tagValueEnd[i] = valueEnd;
  }

  /** A field's key, and for strings its content (else valueStart = valueEnd = 0). */
  private stageField(i: number, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): void {
    if (this.escapes) {
      keyEnd = this.unescape(keyStart, keyEnd, KEY_ESCAPES);
      keyStart = keyEnd - this.lastCopyLength;
      if (valueEnd > valueStart) {
        valueEnd = this.unescape(valueStart, valueEnd, STRING_ESCAPES);
        valueStart = valueEnd - this.lastCopyLength;
      }
    }
    this.fieldKeyStart[i] = keyStart;
    this.fieldKeyEnd[i] = keyEnd;
    this.fieldValueStart[i] = valueStart;
    this.fieldValueEnd[i] = valueEnd;
  }

  private lastCopyLength = 0;

  /** Copies body[start, end) unescaped to the scratch buffer; returns the end of the copy there. */
  private unescape(start: number, end: number, mode: number): number {
    const at = this.scratchUsed;
    this.scratchUsed = unescapeInto(this.body, start, end, this.scratch, at, mode);
    this.lastCopyLength = this.scratchUsed - at;
    return this.scratchUsed;
  }

  /** A line's unescaped tokens never outgrow the line. */
  private resetScratch(lineLength: number): void {
    this.scratchUsed = 0;
    if (this.scratch.length < lineLength) {
      this.scratch = Buffer.allocUnsafe(Math.max(lineLength, this.scratch.length * 2));
      this.src = this.scratch;
    }
  }

  /**
   * Resolves the staged line against its measurement (columns, types, names) and, when nothing
   * conflicts, writes it as a row. New columns are registered only here, after every check.
   */
  private commit(measurementStart: number, measurementEnd: number, tags: number, fields: number): string | null {
    let nameStart = measurementStart;
    let nameEnd = measurementEnd;
    if (this.escapes) {
      nameEnd = this.unescape(measurementStart, measurementEnd, MEASUREMENT_ESCAPES);
      nameStart = nameEnd - this.lastCopyLength;
    }
    const src = this.src;
    let m = this.last;
    if (m === null || !sameBytes(m.nameBytes, src, nameStart, nameEnd)) {
      m = this.measurementOf(nameStart, nameEnd);
      this.last = m;
    }
    if (m.error !== null) return m.error;
    const seq = ++this.seq;
    this.lineColumns.length = 0;

    const tagColumns = this.tagColumns;
    const guessTags = m.guessTags;
    for (let i = 0; i < tags; i++) {
      const keyStart = this.tagKeyStart[i]!;
      const keyEnd = this.tagKeyEnd[i]!;
      let column = i < guessTags.length ? guessTags[i]! : null;
      if (column === null || !sameBytes(column.nameBytes, src, keyStart, keyEnd)) {
        const found = this.findColumn(m, decodeUtf8(src, keyStart, keyEnd), true, keyStart, keyEnd);
        if (typeof found === 'string') return found;
        column = found;
      }
      if (column.stamp === seq) tagColumns[column.staged] = null; // duplicate tag: the last wins
      column.stamp = seq;
      column.staged = i;
      tagColumns[i] = column;
    }

    const fieldColumns = this.fieldColumns;
    const guessFields = m.guessFields;
    for (let i = 0; i < fields; i++) {
      const keyStart = this.fieldKeyStart[i]!;
      const keyEnd = this.fieldKeyEnd[i]!;
      let column = i < guessFields.length ? guessFields[i]! : null;
      if (column === null || !sameBytes(column.nameBytes, src, keyStart, keyEnd)) {
        const found = this.fieldColumn(m, keyStart, keyEnd, seq);
        if (typeof found === 'string') return found;
        column = found;
      }
      if (column.stamp === seq) fieldColumns[column.staged] = null; // duplicate field: the last wins
      column.stamp = seq;
      column.staged = i;
      fieldColumns[i] = column;
    }
    for (let i = 0; i < fields; i++) {
      const column = fieldColumns[i]!;
      if (column === null) continue;
      const kind = this.fieldKind[i]!;
      const type = column.type;
      if (type !== kind && type !== UNSET && !(type <= INTEGER && kind <= INTEGER)) {
        return `type conflict in field ${quote(column.name)}: ${KIND_NAMES[kind]} value, but earlier lines gave ${KIND_NAMES[type]}`;
      }
    }

    // Valid: write the row.
    if (m.rowCount === 0) this.order.push(m);
    m.reserveRow();
    const row = m.rowCount;
    const capacity = m.capacity;
    if (Number.isNaN(this.timeNumber)) m.time[row] = this.timeBig;
    else setInt64(m.timeWords, row, this.timeNumber);
    const interner = this.interner;
    for (let i = 0; i < tags; i++) {
      const column = tagColumns[i]!;
      if (column !== null) column.setString(row, interner, src, this.tagValueStart[i]!, this.tagValueEnd[i]!, capacity);
    }
    for (let i = 0; i < fields; i++) {
      const column = fieldColumns[i]!;
      if (column === null) continue;
      switch (this.fieldKind[i]) {
        case FLOAT:
          column.setFloat(row, this.fieldNumber[i]!, capacity);
          break;
        case INTEGER:
          column.setInteger(row, this.fieldNumber[i]!, this.fieldBig[i]!, capacity);
          break;
        case BOOL:
          column.setBool(row, this.fieldNumber[i]!, capacity);
          break;
        default:
          column.setString(row, interner, src, this.fieldValueStart[i]!, this.fieldValueEnd[i]!, capacity);
      }
    }
    m.rowCount = row + 1;
    this.written++;
    for (const column of this.lineColumns) {
      m.columns.push(column);
      m.byName.set(column.name, column);
      m.byFolded.set(column.folded, column.name);
    }
    if (guessTags.length < tags || guessFields.length < fields) this.growGuesses(m, tags, fields);
    for (let i = 0; i < tags; i++) m.guessTags[i] = tagColumns[i]!;
    for (let i = 0; i < fields; i++) m.guessFields[i] = fieldColumns[i]!;
    return null;
  }

  private growGuesses(m: MeasurementState, tags: number, fields: number): void {
    while (m.guessTags.length < tags) m.guessTags.push(null);
    while (m.guessFields.length < fields) m.guessFields.push(null);
  }

  /** The column of a field key; a key naming a tag of this line is stored as `<key>_value`. */
  private fieldColumn(m: MeasurementState, keyStart: number, keyEnd: number, seq: number): ColumnState | string {
    const key = decodeUtf8(this.src, keyStart, keyEnd);
    const existing = m.byName.get(key) ?? this.lineColumn(key);
    if (existing !== undefined && existing.isTag) {
      if (existing.stamp !== seq) return `type conflict in field ${quote(key)}: earlier lines have a tag of that name`;
      return this.findColumn(m, `${key}_value`, false, -1, -1);
    }
    return existing ?? this.findColumn(m, key, false, keyStart, keyEnd);
  }

  /**
   * The column `name` of the measurement or of this line, else a new one (registered at commit).
   * keyStart/keyEnd: the key's bytes in `src`, which later lines are compared with (-1: use `name`).
   */
  private findColumn(m: MeasurementState, name: string, isTag: boolean, keyStart: number, keyEnd: number): ColumnState | string {
    const what = isTag ? 'tag' : 'field';
    const existing = m.byName.get(name) ?? this.lineColumn(name);
    if (existing !== undefined) {
      if (existing.isTag === isTag) return existing;
      return `type conflict in ${what} ${quote(name)}: earlier lines have a ${isTag ? 'field' : 'tag'} of that name`;
    }
    const folded = name.toLowerCase();
    if (folded === 'time') return `${what} ${quote(name)} collides with the time column`;
    if (name.length > MAX_COLUMN_NAME_LENGTH) return `${what} name ${quote(name)} is longer than ${MAX_COLUMN_NAME_LENGTH} characters`;
    let other = m.byFolded.get(folded);
    if (other === undefined) for (const column of this.lineColumns) if (column.folded === folded) other = column.name;
    if (other !== undefined) return `columns ${quote(other)} and ${quote(name)} differ only in case`;
    const bytes = keyStart >= 0 ? Buffer.from(this.src.subarray(keyStart, keyEnd)) : Buffer.from(name, 'utf8');
    const column = new ColumnState(name, bytes, isTag, folded);
    this.lineColumns.push(column);
    return column;
  }

  private lineColumn(name: string): ColumnState | undefined {
    for (const column of this.lineColumns) if (column.name === name) return column;
    return undefined;
  }

  private measurementOf(start: number, end: number): MeasurementState {
    const name = decodeUtf8(this.src, start, end);
    let m = this.measurements.get(name);
    if (m === undefined) {
      const error = isValidMeasurementName(name) ? null : `invalid measurement name ${quote(name)}`;
      // First guess at the rows: one per 64 bytes of what is left of the body, within [16, 4096].
      const capacity = Math.min(4096, Math.max(16, (this.body.length - this.lineStart) >> 6));
      m = new MeasurementState(name, Buffer.from(this.src.subarray(start, end)), error, capacity);
      this.measurements.set(name, m);
    }
    return m;
  }

  private growStaging(capacity: number): void {
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(old: T, fresh: T): T => {
      fresh.set(old as never);
      return fresh;
    };
    this.tagKeyStart = grow(this.tagKeyStart, new Int32Array(capacity));
    this.tagKeyEnd = grow(this.tagKeyEnd, new Int32Array(capacity));
    this.tagValueStart = grow(this.tagValueStart, new Int32Array(capacity));
    this.tagValueEnd = grow(this.tagValueEnd, new Int32Array(capacity));
    this.fieldKeyStart = grow(this.fieldKeyStart, new Int32Array(capacity));
    this.fieldKeyEnd = grow(this.fieldKeyEnd, new Int32Array(capacity));
    this.fieldValueStart = grow(this.fieldValueStart, new Int32Array(capacity));
    this.fieldValueEnd = grow(this.fieldValueEnd, new Int32Array(capacity));
    this.fieldKind = grow(this.fieldKind, new Uint8Array(capacity));
    this.fieldNumber = grow(this.fieldNumber, new Float64Array(capacity));
    while (this.fieldBig.length < capacity) this.fieldBig.push(0n);
    while (this.tagColumns.length < capacity) this.tagColumns.push(null);
    while (this.fieldColumns.length < capacity) this.fieldColumns.push(null);
    this.capacity = capacity;
  }
}

/** End of the token at `p` (the next `,` or space), for quoting it in a reason. */
function tokenStop(buf: Buffer, p: number, end: number): number {
  while (p < end && buf[p] !== 44 && buf[p] !== 32) p++;
  return p;
}

function sameBytes(name: Buffer, src: Buffer, start: number, end: number): boolean {
  if (name.length !== end - start) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== src[start + i]) return false;
  return true;
}

void NO_COLUMNS;

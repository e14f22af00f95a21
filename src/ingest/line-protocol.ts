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
  StringIds,
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

const NO_TIME = new BigInt64Array(0);
const NO_WORDS = new Uint32Array(0);

/** Rows of one measurement while a request is parsed. */
class MeasurementState {
  rowCount = 0;
  capacity = 0;
  time: BigInt64Array = NO_TIME;
  timeWords: Uint32Array = NO_WORDS;
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
  /** Length of the last `unescape` copy. */
  private lastCopyLength = 0;
  private readonly unit: number;
  private readonly now: number;
  private readonly maxReported: number;
  private readonly measurements = new Map<string, MeasurementState>();
  private readonly order: MeasurementState[] = [];
  /** Every measurement seen, first seen first: the first 16 are looked up by bytes, not by name. */
  private readonly measurementList: MeasurementState[] = [];
  private last: MeasurementState | null = null;
  private seq = 0;
  private readonly value = new ScannedValue();
  private readonly ids: StringIds;
  private columnCount = 0;
  /** Columns created by the current line (the first `lineColumnCount`), registered at commit. */
  private readonly lineColumns: ColumnState[] = [];
  private lineColumnCount = 0;
  // The current line, staged: nothing reaches a column before the whole line is valid. Plain
  // arrays, not typed ones: they live on the JS heap, which keeps a small request cheap to set up.
  private capacity = 0;
  private readonly tagKeyStart: number[] = [];
  private readonly tagKeyEnd: number[] = [];
  private readonly tagValueStart: number[] = [];
  private readonly tagValueEnd: number[] = [];
  private readonly fieldKeyStart: number[] = [];
  private readonly fieldKeyEnd: number[] = [];
  private readonly fieldValueStart: number[] = [];
  private readonly fieldValueEnd: number[] = [];
  private readonly fieldKind: number[] = [];
  private readonly fieldNumber: number[] = [];
  private readonly fieldBig: bigint[] = [];
  private readonly tagColumns: (ColumnState | null)[] = [];
  private readonly fieldColumns: (ColumnState | null)[] = [];
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
    this.scratch = this.escapes ? Buffer.allocUnsafe(1024) : body;
    this.src = this.escapes ? this.scratch : body;
    this.unit = MICROS_PER_UNIT[options.precision];
    this.now = Math.trunc(options.nowMicros);
    this.ids = new StringIds(options.interner);
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
      let newline = buf.indexOf(10, pos);
      if (newline < 0) newline = n;
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
    // Without escapes, the names of the previous line are compared in place of scanning for
    // delimiters: a match followed by the right delimiter is the same key (names then hold no
    // `,` `=` or space). Anything else takes the scanning path and is resolved in `commit`.
    const fast = !escapes;
    let p = start;
    let m = this.last;
    if (m === null || !fast || !matchAt(buf, start, end, m.nameBytes) || !isCommaOrSpace(buf[start + m.nameBytes.length]!)) {
      for (; p < end; p++) {
        const c = buf[p]!;
        if (c === 44 || c === 32) break;
        if (c === 92 && escapes) p++;
      }
      if (p > end) p = end;
      if (p === start) return 'missing measurement';
      m = this.measurementAt(start, p);
      this.last = m;
    } else {
      p = start + m.nameBytes.length;
    }
    if (m.error !== null) return m.error;

    let tags = 0;
    const guessTags = m.guessTags;
    const tagColumns = this.tagColumns;
    while (p < end && buf[p] === 44) {
      const keyStart = ++p;
      if (tags === this.capacity) this.growStaging(tags * 2);
      const guess = fast && tags < guessTags.length ? guessTags[tags] ?? null : null;
      if (guess !== null && matchAt(buf, keyStart, end, guess.nameBytes) && buf[keyStart + guess.nameBytes.length] === 61) {
        p = keyStart + guess.nameBytes.length;
        tagColumns[tags] = guess;
      } else {
        for (; p < end; p++) {
          const c = buf[p]!;
          if (c === 61 || c === 44 || c === 32) break;
          if (c === 92 && escapes) p++;
        }
        if (p > end) p = end;
        if (p === keyStart) return 'missing tag key';
        if (p === end || buf[p] !== 61) return 'missing tag value';
        tagColumns[tags] = null;
      }
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
      this.stageTag(tags++, keyStart, keyEnd, valueStart, p);
    }
    if (p === end) return 'missing field set';
    while (p < end && (buf[p] === 32 || buf[p] === 9)) p++;
    if (p === end) return 'missing field set';

    let fields = 0;
    const value = this.value;
    const guessFields = m.guessFields;
    const fieldColumns = this.fieldColumns;
    for (;;) {
      const keyStart = p;
      if (fields === this.capacity) this.growStaging(fields * 2);
      const guess = fast && fields < guessFields.length ? guessFields[fields] ?? null : null;
      if (guess !== null && matchAt(buf, keyStart, end, guess.nameBytes) && buf[keyStart + guess.nameBytes.length] === 61) {
        p = keyStart + guess.nameBytes.length;
        fieldColumns[fields] = guess;
      } else {
        for (; p < end; p++) {
          const c = buf[p]!;
          if (c === 61 || c === 44 || c === 32) break;
          if (c === 92 && escapes) p++;
        }
        if (p > end) p = end;
        if (p === keyStart) return 'missing field key';
        if (p === end || buf[p] !== 61) return 'missing field value';
        fieldColumns[fields] = null;
      }
      const keyEnd = p++;
      if (p === end) return 'missing field value';
      const c = buf[p]!;
      if (c === 44 || c === 32) return 'missing field value';
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
    return this.commit(m, tags, fields);
  }

  private stageTag(i: number, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): void {
    if (this.escapes) {
      keyEnd = this.unescape(keyStart, keyEnd, KEY_ESCAPES);
      keyStart = keyEnd - this.lastCopyLength;
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
   * Entries of tagColumns/fieldColumns already set by `parseLine` were matched by their bytes.
   */
  private commit(m: MeasurementState, tags: number, fields: number): string | null {
    const src = this.src;
    const seq = ++this.seq;
    this.lineColumnCount = 0;

    const tagColumns = this.tagColumns;
    const guessTags = m.guessTags;
    for (let i = 0; i < tags; i++) {
      let column = tagColumns[i] ?? null;
      if (column === null) {
        const keyStart = this.tagKeyStart[i]!;
        const keyEnd = this.tagKeyEnd[i]!;
        column = i < guessTags.length ? guessTags[i] ?? null : null;
        if (column === null || !sameBytes(column.nameBytes, src, keyStart, keyEnd)) {
          const found = this.findColumn(m, decodeUtf8(src, keyStart, keyEnd), true, keyStart, keyEnd);
          if (typeof found === 'string') return found;
          column = found;
        }
      }
      if (column.stamp === seq) tagColumns[column.staged] = null; // duplicate tag: the last wins
      column.stamp = seq;
      column.staged = i;
      tagColumns[i] = column;
    }

    const fieldColumns = this.fieldColumns;
    const guessFields = m.guessFields;
    for (let i = 0; i < fields; i++) {
      let column = fieldColumns[i] ?? null;
      if (column === null) {
        const keyStart = this.fieldKeyStart[i]!;
        const keyEnd = this.fieldKeyEnd[i]!;
        column = i < guessFields.length ? guessFields[i] ?? null : null;
        if (column === null || !sameBytes(column.nameBytes, src, keyStart, keyEnd)) {
          const found = this.fieldColumn(m, keyStart, keyEnd, seq);
          if (typeof found === 'string') return found;
          column = found;
        }
      }
      if (column.stamp === seq) fieldColumns[column.staged] = null; // duplicate field: the last wins
      column.stamp = seq;
      column.staged = i;
      fieldColumns[i] = column;
    }
    for (let i = 0; i < fields; i++) {
      const column = fieldColumns[i] ?? null;
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
    const ids = this.ids;
    for (let i = 0; i < tags; i++) {
      const column = tagColumns[i] ?? null;
      if (column !== null) column.setString(row, ids, src, this.tagValueStart[i]!, this.tagValueEnd[i]!, capacity);
    }
    for (let i = 0; i < fields; i++) {
      const column = fieldColumns[i] ?? null;
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
          column.setString(row, ids, src, this.fieldValueStart[i]!, this.fieldValueEnd[i]!, capacity);
      }
    }
    m.rowCount = row + 1;
    this.written++;
    for (let i = 0; i < this.lineColumnCount; i++) {
      const column = this.lineColumns[i]!;
      m.columns.push(column);
      m.byName.set(column.name, column);
      m.byFolded.set(column.folded, column.name);
    }
    if (guessTags.length < tags || guessFields.length < fields) this.growGuesses(m, tags, fields);
    for (let i = 0; i < tags; i++) m.guessTags[i] = tagColumns[i] ?? null;
    for (let i = 0; i < fields; i++) m.guessFields[i] = fieldColumns[i] ?? null;
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
    for (let i = 0; other === undefined && i < this.lineColumnCount; i++) {
      if (this.lineColumns[i]!.folded === folded) other = this.lineColumns[i]!.name;
    }
    if (other !== undefined) return `columns ${quote(other)} and ${quote(name)} differ only in case`;
    const bytes = keyStart >= 0 ? Buffer.from(this.src.subarray(keyStart, keyEnd)) : Buffer.from(name, 'utf8');
    const column = new ColumnState(this.columnCount++, name, bytes, isTag, folded);
    this.lineColumns[this.lineColumnCount++] = column;
    return column;
  }

  private lineColumn(name: string): ColumnState | undefined {
    for (let i = 0; i < this.lineColumnCount; i++) if (this.lineColumns[i]!.name === name) return this.lineColumns[i];
    return undefined;
  }

  /** The measurement named by body[start, end) (escapes resolved); created on first sight. */
  private measurementAt(start: number, end: number): MeasurementState {
    if (this.escapes) {
      end = this.unescape(start, end, MEASUREMENT_ESCAPES);
      start = end - this.lastCopyLength;
    }
    const src = this.src;
    const list = this.measurementList;
    for (let i = 0; i < list.length && i < 16; i++) if (sameBytes(list[i]!.nameBytes, src, start, end)) return list[i]!;
    const name = decodeUtf8(src, start, end);
    let m = this.measurements.get(name);
    if (m === undefined) {
      const error = isValidMeasurementName(name) ? null : `invalid measurement name ${quote(name)}`;
      // First guess at the rows: one per 64 bytes of what is left of the body, within [16, 4096].
      const capacity = Math.min(4096, Math.max(16, (this.body.length - this.lineStart) >> 6));
      m = new MeasurementState(name, Buffer.from(src.subarray(start, end)), error, capacity);
      this.measurements.set(name, m);
      this.measurementList.push(m);
    }
    return m;
  }

  /** Room for `capacity` tags and fields in the staging arrays (filled, so they stay packed). */
  private growStaging(capacity: number): void {
    for (let i = this.capacity; i < capacity; i++) {
      this.tagKeyStart.push(0);
      this.tagKeyEnd.push(0);
      this.tagValueStart.push(0);
      this.tagValueEnd.push(0);
      this.fieldKeyStart.push(0);
      this.fieldKeyEnd.push(0);
      this.fieldValueStart.push(0);
      this.fieldValueEnd.push(0);
      this.fieldKind.push(0);
      this.fieldNumber.push(0.5); // a double from the start: the array keeps one elements kind
      this.fieldBig.push(0n);
      this.tagColumns.push(null);
      this.fieldColumns.push(null);
    }
    this.capacity = capacity;
  }
}

/** End of the token at `p` (the next `,` or space), for quoting it in a reason. */
function tokenStop(buf: Buffer, p: number, end: number): number {
  while (p < end && buf[p] !== 44 && buf[p] !== 32) p++;
  return p;
}

/** Whether `name` is at buf[at…], within `end`, with at least one byte after it. */
function matchAt(buf: Buffer, at: number, end: number, name: Buffer): boolean {
  const length = name.length;
  if (at + length >= end) return false;
  for (let i = 0; i < length; i++) if (buf[at + i] !== name[i]) return false;
  return true;
}

function isCommaOrSpace(c: number): boolean {
  return c === 44 || c === 32;
}

function sameBytes(name: Buffer, src: Buffer, start: number, end: number): boolean {
  if (name.length !== end - start) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== src[start + i]) return false;
  return true;
}

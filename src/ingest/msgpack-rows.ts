import { compareNames, type Column } from '../columnar/column-batch.js';
import { detectUnit, setMicros, toMicros, wordsOf } from '../columnar/time.js';
import { ColumnBuilder, TypeConflictError } from './column-builder.js';
import { ItemError, type DecodedBatch } from './msgpack-item.js';
import { Kind, MsgpackReader, typeName } from './msgpack-reader.js';
import { columnNamesProblem } from './names.js';

/** Where the values of a row item's keys start in the payload (-1 = absent). */
export interface RowFieldPositions {
  t: number;
  h: number;
  fields: number;
  f: number;
  tags: number;
}

/**
 * Row items (arc-spec §5, "LEGACY"): `{m, t?, h?, fields | f, tags?}`. Rows of one measurement
 * are gathered into one batch: `time`, a VARCHAR column per tag, a column per field; a field named
 * like a tag of its row is stored as `<name>_value`; absent values are NULL. Arc always adds a
 * `host` tag from `h` (or "unknown"), overriding `tags.host`; arc-ts does the same.
 */
export class RowItemCollector {
  private readonly groups = new Map<string, RowGroup>();

  constructor(
    private readonly reader: MsgpackReader,
    private readonly nowMicros: () => number,
  ) {}

  add(item: number, measurement: string, at: RowFieldPositions): void {
    const reader = this.reader;
    const saved = reader.pos;
    try {
      const time = this.readTime(at.t);
      const host = this.readHost(at.h);
      const tags = this.readTags(at.tags);
      tags.set('host', host);
      let group = this.groups.get(measurement);
      if (group === undefined) {
        group = new RowGroup(item);
        this.groups.set(measurement, group);
      }
      const row = group.rowCount;
      group.appendTime(time);
      for (const [name, value] of tags) {
        if (name === 'time') throw new ItemError("tag 'time' collides with the time column", { column: 'time' });
        group.builder(name, true).appendString(value);
      }
      this.appendFields(group, tags, at);
      group.endRow(row + 1);
    } catch (err) {
      if (err instanceof TypeConflictError) err.row = -1; // the item index already pins the row
      throw err;
    } finally {
      reader.pos = saved;
    }
  }

  finish(): DecodedBatch[] {
    const out: DecodedBatch[] = [];
    for (const [measurement, group] of this.groups) out.push(group.toBatch(measurement));
    return out;
  }

  private readTime(at: number): number | bigint {
    const reader = this.reader;
    if (at < 0) return this.nowMicros();
    reader.pos = at;
    const byte = reader.peek();
    const kind = reader.kind();
    let value: number | bigint;
    if (kind === Kind.Nil) return this.nowMicros();
    if (kind === Kind.Int || kind === Kind.Uint) {
      const n = reader.readInteger();
      value = Number.isNaN(n) ? reader.bigValue : n;
    } else if (kind === Kind.Float) {
      const f = reader.readFloat();
      if (!Number.isFinite(f)) throw new ItemError('invalid timestamp: not a finite number');
      value = Math.trunc(f);
    } else {
      throw new ItemError(`invalid timestamp type: ${typeName(byte)}`);
    }
    const unit = detectUnit(Number(value));
    const micros = toMicros(value, unit);
    if (micros === null) throw new ItemError(`timestamp ${value} is outside years 1 to 9999 (read as ${unit})`);
    return micros;
  }

  /** `h`: a string is the host, an integer n becomes "host_n", anything else "unknown". */
  private readHost(at: number): string {
    const reader = this.reader;
    if (at < 0) return 'unknown';
    reader.pos = at;
    const kind = reader.kind();
    if (kind === Kind.Str) return reader.readString()!;
    if (kind === Kind.Int || kind === Kind.Uint) {
      const n = reader.readInteger();
      return `host_${Number.isNaN(n) ? reader.bigValue : n}`;
    }
    return 'unknown';
  }

  private readTags(at: number): Map<string, string> {
    const reader = this.reader;
    const tags = new Map<string, string>();
    if (at < 0) return tags;
    reader.pos = at;
    if (reader.kind() === Kind.Nil) return tags;
    const entries = reader.readMapHeader();
    if (entries < 0) throw new ItemError(`'tags' must be a map, got ${typeName(reader.peek())}`);
    for (let i = 0; i < entries; i++) {
      const name = this.readKey('tags');
      const byte = reader.peek();
      const value = scalarToText(reader);
      if (value === undefined) throw new ItemError(`tag '${name}' has a value of unsupported type ${typeName(byte)}`, { column: name });
      if (value !== null) tags.set(name, value);
    }
    return tags;
  }

  private appendFields(group: RowGroup, tags: Map<string, string>, at: RowFieldPositions): void {
    const reader = this.reader;
    const fieldName = (name: string) => (tags.has(name) ? `${name}_value` : name);
    if (at.fields >= 0) {
      reader.pos = at.fields;
      const entries = reader.readMapHeader();
      if (entries >= 0) {
        for (let i = 0; i < entries; i++) this.appendField(group, fieldName(this.readKey('fields')));
        return;
      }
      if (reader.kind() !== Kind.Nil) throw new ItemError(`'fields' must be a map, got ${typeName(reader.peek())}`);
    }
    if (at.f >= 0) {
      reader.pos = at.f;
      const length = reader.readArrayHeader();
      if (length < 0) throw new ItemError(`'f' must be an array, got ${typeName(reader.peek())}`);
      for (let i = 0; i < length; i++) this.appendField(group, fieldName(`field_${i}`));
      return;
    }
    throw new ItemError("missing required field 'fields' or 'f'");
  }

  private appendField(group: RowGroup, name: string): void {
    if (name === 'time') throw new ItemError("field 'time' collides with the time column", { column: 'time' });
    group.builder(name, false).appendFrom(this.reader);
  }

  private readKey(container: string): string {
    const byte = this.reader.peek();
    const key = this.reader.readString();
    if (key === null) throw new ItemError(`keys of '${container}' must be strings, got ${typeName(byte)}`);
    return key;
  }
}

/** Rows of one measurement while they are being collected. */
class RowGroup {
  rowCount = 0;
  private time = new BigInt64Array(16);
  private timeWords = wordsOf(this.time);
  private readonly builders = new Map<string, ColumnBuilder>();
  private readonly tagNames = new Set<string>();

  constructor(readonly firstItem: number) {}

  appendTime(micros: number | bigint): void {
    if (this.rowCount === this.time.length) {
      const grown = new BigInt64Array(this.time.length * 2);
      grown.set(this.time);
      this.time = grown;
      this.timeWords = wordsOf(grown);
    }
    setMicros(this.time, this.timeWords, this.rowCount, micros);
  }

  /** The builder of a column, back-filled with NULLs for the rows before its first value. */
  builder(name: string, isTag: boolean): ColumnBuilder {
    let builder = this.builders.get(name);
    if (builder === undefined) {
      builder = new ColumnBuilder(name, 16, null);
      for (let i = 0; i < this.rowCount; i++) builder.appendNull();
      this.builders.set(name, builder);
    }
    if (isTag) this.tagNames.add(name);
    if (builder.length > this.rowCount) throw new ItemError(`key '${name}' appears twice in one row`, { column: name });
    return builder;
  }

  endRow(rowCount: number): void {
    this.rowCount = rowCount;
    for (const builder of this.builders.values()) {
      if (builder.length < rowCount) builder.appendNull();
    }
  }

  toBatch(measurement: string): DecodedBatch {
    const columns: Column[] = [];
    for (const builder of this.builders.values()) columns.push(builder.finish());
    columns.sort(compareNames);
    const problem = columnNamesProblem(['time', ...this.builders.keys()]);
    if (problem) throw new ItemError(problem);
    return {
      item: this.firstItem,
      batch: {
        measurement,
        rowCount: this.rowCount,
        time: this.time.subarray(0, this.rowCount),
        columns,
        tagColumns: [...this.tagNames].sort(),
      },
    };
  }
}

/**
 * A tag value as text, like Go's `fmt %v` that Arc uses: 5 → "5", 1.5 → "1.5", 1e6 → "1e+06",
 * true → "true". Returns null for nil (the tag is then absent) and undefined for maps, arrays,
 * binary and extension values.
 */
function scalarToText(reader: MsgpackReader): string | null | undefined {
  switch (reader.kind()) {
    case Kind.Str:
      return reader.readString()!;
    case Kind.Int:
    case Kind.Uint: {
      const n = reader.readInteger();
      return String(Number.isNaN(n) ? reader.bigValue : n);
    }
    case Kind.Float:
      return formatGoFloat(reader.readFloat());
    case Kind.Bool:
      return reader.readBool() ? 'true' : 'false';
    case Kind.Nil:
      reader.pos++;
      return null;
    default:
      return undefined;
  }
}

/**
 * Go's strconv.FormatFloat(v, 'g', -1, 64), which `fmt %v` uses: the shortest digits that read
 * back as the same double, in exponent form when the decimal exponent is < -4 or >= 6.
 */
export function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return String(value);
}

import { compareNames, type Column } from '../columnar/column-batch.js';
import type { StringInterner } from '../columnar/string-interner.js';
import { END_TIME_US, detectUnit, setMicros, toMicros, wordsOf, type TimeUnit } from '../columnar/time.js';
import { ArcError } from '../errors.js';
import { ColumnBuilder, TypeConflictError } from './column-builder.js';
import { Kind, MsgpackReader, MsgpackSyntaxError, typeName } from './msgpack-reader.js';
import { ItemError, type DecodedBatch } from './msgpack-item.js';
import { RowItemCollector, type RowFieldPositions } from './msgpack-rows.js';
import { columnNamesProblem } from './names.js';

export type { DecodedBatch } from './msgpack-item.js';

export interface DecodedPayload {
  batches: DecodedBatch[];
  /** True for `batch` wrappers and top-level arrays: errors then name the item index. */
  multiItem: boolean;
  /** Rows across all batches. */
  rowCount: number;
}

export interface DecodeContext {
  interner: StringInterner;
  /** Server time in µs, for items without a time. */
  nowMicros(): number;
}

const PREFIX = 'Invalid MessagePack payload: ';

/**
 * Decodes an Arc MessagePack write (arc-spec §5): a columnar item `{m, columns}`, a row item
 * `{m, t?, h?, fields|f, tags?}`, a `{batch: [...]}` wrapper or a top-level array of items.
 * All or nothing: the first invalid item throws an ArcError naming its index, and nothing of the
 * payload is returned. Measurement and database names are checked by the caller, in Arc's order.
 */
export function decodeMsgpackPayload(body: Buffer, context: DecodeContext): DecodedPayload {
  context.interner.trim();
  const decoder = new PayloadDecoder(new MsgpackReader(body), context);
  return decoder.decode();
}

class PayloadDecoder {
  private item = 0;
  private multiItem = false;
  private readonly batches: DecodedBatch[] = [];
  private readonly rows: RowItemCollector;

  constructor(
    private readonly reader: MsgpackReader,
    private readonly context: DecodeContext,
  ) {
    this.rows = new RowItemCollector(reader, context.nowMicros);
  }

  decode(): DecodedPayload {
    const reader = this.reader;
    try {
      const byte = reader.peek();
      if (reader.kind() === Kind.Map) {
        this.decodeItem(true);
      } else if (reader.kind() === Kind.Array) {
        this.multiItem = true;
        this.decodeItems(reader.readArrayHeader());
      } else {
        reader.skip(); // malformed or trailing bytes are reported before the unsupported type, as Arc does
        if (reader.atEnd) throw new ArcError('ARC_ERR_BAD_MSGPACK', `${PREFIX}unsupported msgpack payload type: ${typeName(byte)}`);
      }
      if (!reader.atEnd) throw new MsgpackSyntaxError(`${reader.buf.length - reader.pos} unexpected bytes after the payload`);
      for (const decoded of this.rows.finish()) this.batches.push(decoded);
    } catch (err) {
      throw this.toArcError(err);
    }
    let rowCount = 0;
    for (const { batch } of this.batches) rowCount += batch.rowCount;
    return { batches: this.batches, multiItem: this.multiItem, rowCount };
  }

  private decodeItems(count: number): void {
    for (let index = 0; index < count; index++) {
      this.item = index;
      const byte = this.reader.peek();
      const kind = this.reader.kind();
      if (kind === Kind.Invalid) this.reader.skip(); // throws the syntax error
      if (kind !== Kind.Map) throw new ItemError(`expected a map, got ${typeName(byte)}`);
      this.decodeItem(false);
    }
  }

  /** Decodes the map at the cursor as one item, or as a `batch` wrapper when that is allowed. */
  private decodeItem(topLevel: boolean): void {
    const reader = this.reader;
    const entries = reader.readMapHeader();
    let measurementAt = -1;
    let columns: ParsedColumns | null = null;
    let columnsAt = -1;
    let batchSeen = false;
    let tagKeysAt = -1;
    const rowFields: RowFieldPositions = { t: -1, h: -1, fields: -1, f: -1, tags: -1 };
    for (let entry = 0; entry < entries; entry++) {
      const key = reader.readString();
      if (key === null) {
        reader.skip();
        reader.skip();
        continue;
      }
      if (key === 'batch' && topLevel && reader.kind() === Kind.Array) {
        // arc-spec §5: `batch` wins over `columns`/`m` in the same map.
        this.multiItem = true;
        batchSeen = true;
        columns = null;
        this.decodeItems(reader.readArrayHeader());
        continue;
      }
      if (batchSeen) {
        reader.skip();
        continue;
      }
      switch (key) {
        case 'm':
          measurementAt = reader.pos;
          reader.skip();
          break;
        case 'columns':
          columnsAt = reader.pos;
          columns = reader.kind() === Kind.Map ? this.parseColumns() : (reader.skip(), null);
          break;
        case 'tag_keys':
          tagKeysAt = reader.pos;
          reader.skip();
          break;
        case 't':
        case 'h':
        case 'fields':
        case 'f':
        case 'tags':
          rowFields[key] = reader.pos;
          reader.skip();
          break;
        default:
          reader.skip();
      }
    }
    if (batchSeen) return;
    if (topLevel) this.item = 0;
    const measurement = this.readMeasurement(measurementAt);
    if (columns !== null) {
      if (columns.rowCount > 0) {
        this.batches.push({
          item: this.item,
          batch: { measurement, rowCount: columns.rowCount, time: columns.time, columns: columns.columns, tagColumns: this.readTagKeys(tagKeysAt, columns.columns) },
        });
      }
    } else if (columnsAt >= 0) {
      throw new ItemError(`'columns' must be a map of column name to array, got ${typeName(reader.buf[columnsAt]!)}`);
    } else {
      this.rows.add(this.item, measurement, rowFields);
    }
  }

  /**
   * `tag_keys` of a columnar item (Arc PR #905): the columns that are tags, recorded sorted in the
   * files' `arc:tags` so compaction deduplicates on them. Names must be strings of [A-Za-z0-9_-];
   * `time` is refused; names that are not columns of this payload are dropped.
   */
  private readTagKeys(at: number, columns: readonly Column[]): string[] | null {
    if (at < 0) return null;
    const reader = this.reader;
    const saved = reader.pos;
    reader.pos = at;
    try {
      if (reader.kind() === Kind.Nil) return null;
      if (reader.kind() !== Kind.Array) throw new ItemError(`'tag_keys' must be an array of column names, got ${typeName(reader.peek())}`);
      const count = reader.readArrayHeader();
      const names = new Set(columns.map((c) => c.name));
      const tags = new Set<string>();
      for (let i = 0; i < count; i++) {
        const name = reader.kind() === Kind.Str ? reader.readString() : null;
        if (name === null) throw new ItemError(`'tag_keys' entry ${i} must be a string, got ${typeName(reader.peek())}`);
        if (name === 'time') throw new ItemError("'tag_keys' must not name 'time': it is the time column, not a tag", { column: 'time' });
        if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new ItemError(`'tag_keys' entry ${JSON.stringify(name)} is not a valid tag name (letters, digits, '_' and '-' only)`, { column: name });
        if (names.has(name)) tags.add(name);
      }
      return tags.size > 0 ? [...tags].sort() : null;
    } finally {
      reader.pos = saved;
    }
  }

  /** `m`: a string as-is, an integer as `measurement_<n>` (arc-spec §5). */
  private readMeasurement(at: number): string {
    const reader = this.reader;
    if (at < 0) throw new ItemError("missing required field 'm' (measurement)");
    const saved = reader.pos;
    reader.pos = at;
    try {
      const kind = reader.kind();
      if (kind === Kind.Str) return reader.readString()!;
      if (kind === Kind.Int || kind === Kind.Uint) {
        const value = reader.readInteger();
        return `measurement_${Number.isNaN(value) ? reader.bigValue : value}`;
      }
      if (kind === Kind.Nil) throw new ItemError("missing required field 'm' (measurement)");
      throw new ItemError(`invalid measurement type: ${typeName(reader.peek())}`);
    } finally {
      reader.pos = saved;
    }
  }

  private parseColumns(): ParsedColumns {
    const reader = this.reader;
    const entries = reader.readMapHeader();
    if (entries === 0) throw new ItemError("columnar format requires non-empty 'columns' dict");
    let rowCount = -1;
    let time: BigInt64Array | null = null;
    const byName = new Map<string, Column>();
    for (let entry = 0; entry < entries; entry++) {
      const keyByte = reader.peek();
      const name = reader.readString();
      if (name === null) throw new ItemError(`column names must be strings, got ${typeName(keyByte)}`);
      const valueByte = reader.peek();
      const length = reader.readArrayHeader();
      if (length < 0) throw new ItemError(`column '${name}' must be an array, got ${typeName(valueByte)}`, { column: name });
      if (rowCount < 0) rowCount = length;
      else if (length !== rowCount) {
        throw new ItemError(`columnar format: array length mismatch (expected ${rowCount}, got ${length} for '${name}')`, { column: name });
      }
      if (name === 'time') {
        time = this.parseTime(length);
      } else {
        byName.set(name, this.parseColumn(name, length));
      }
    }
    const problem = columnNamesProblem(time ? ['time', ...byName.keys()] : [...byName.keys()]);
    if (problem) throw new ItemError(problem);
    if (time === null) time = this.constantTime(rowCount);
    return { rowCount, time, columns: [...byName.values()].sort(compareNames) };
  }

  private parseColumn(name: string, length: number): Column {
    const reader = this.reader;
    const builder = new ColumnBuilder(name, length, this.context.interner);
    let remaining = length;
    while (remaining > 0) {
      let taken = builder.appendFloat64Run(reader, remaining);
      if (taken === 0) taken = builder.appendStringRun(reader, remaining);
      if (taken === 0) {
        builder.appendFrom(reader);
        taken = 1;
      }
      remaining -= taken;
    }
    return builder.finish();
  }

  /**
   * The `time` column. Arc detects the unit from element 0 and applies it to every element
   * (arc-spec §5); integers and floats (truncated) are accepted, anything else is an error.
   */
  private parseTime(length: number): BigInt64Array {
    const reader = this.reader;
    const time = new BigInt64Array(length);
    const words = wordsOf(time);
    let unit: TimeUnit = 'us';
    const buf = reader.buf;
    for (let i = 0; i < length; i++) {
      const byte = reader.peek();
      // Fast path: µs as uint64 below 2^53, the shape of Arc's SDKs and the benchmark.
      if (byte === 0xcf && unit === 'us' && i > 0 && reader.pos + 9 <= buf.length) {
        const p = reader.pos;
        const high = (buf[p + 1]! << 24 >>> 0) + (buf[p + 2]! << 16) + (buf[p + 3]! << 8) + buf[p + 4]!;
        const low = (buf[p + 5]! << 24 >>> 0) + (buf[p + 6]! << 16) + (buf[p + 7]! << 8) + buf[p + 8]!;
        if (high < 0x200000 && high * 4294967296 + low < END_TIME_US) {
          words[2 * i] = low;
          words[2 * i + 1] = high;
          reader.pos = p + 9;
          continue;
        }
      }
      const kind = reader.kind();
      let value: number | bigint;
      if (kind === Kind.Int || kind === Kind.Uint) {
        const n = reader.readInteger();
        value = Number.isNaN(n) ? reader.bigValue : n;
      } else if (kind === Kind.Float) {
        const f = reader.readFloat();
        if (!Number.isFinite(f)) throw new ItemError(`failed to normalize timestamps: timestamp at index ${i} is not a finite number`);
        value = Math.trunc(f);
      } else {
        throw new ItemError(
          i === 0
            ? `failed to normalize timestamps: invalid timestamp type in columnar format: ${typeName(byte)}`
            : `failed to normalize timestamps: invalid timestamp type at index ${i}: ${typeName(byte)}`,
        );
      }
      if (i === 0) unit = detectUnit(Number(value));
      const micros = toMicros(value, unit);
      if (micros === null) {
        throw new ItemError(`failed to normalize timestamps: timestamp ${value} at index ${i} is outside years 1 to 9999 (read as ${unit})`);
      }
      setMicros(time, words, i, micros);
    }
    return time;
  }

  private constantTime(rowCount: number): BigInt64Array {
    const time = new BigInt64Array(rowCount);
    if (rowCount > 0) time.fill(BigInt(this.context.nowMicros()));
    return time;
  }

  private toArcError(err: unknown): ArcError {
    if (err instanceof ArcError) return err;
    const where = this.multiItem ? `item ${this.item}: ` : '';
    if (err instanceof MsgpackSyntaxError) {
      return new ArcError('ARC_ERR_BAD_MSGPACK', `${PREFIX}failed to unmarshal msgpack: ${err.message}`);
    }
    if (err instanceof TypeConflictError) {
      const at = err.row >= 0 ? ` (row ${err.row})` : '';
      return new ArcError('ARC_ERR_TYPE_CONFLICT', `${PREFIX}${where}${err.message}${at}`, {
        item: this.item,
        column: err.column,
        ...(err.row >= 0 ? { row: err.row } : {}),
      });
    }
    if (err instanceof ItemError) {
      return new ArcError('ARC_ERR_INVALID_ITEM', `${PREFIX}${where}${err.message}`, { item: this.item, ...err.details });
    }
    throw err;
  }
}

interface ParsedColumns {
  rowCount: number;
  time: BigInt64Array;
  columns: Column[];
}

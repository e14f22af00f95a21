import { gzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import zstd from 'zstd-napi';

export type BenchMode = 'columnar' | 'row' | 'lp';
export type BenchCompression = 'none' | 'gzip' | 'zstd';

export interface Payload {
  body: Buffer;
  records: number;
  /** Records per measurement, for --verify. */
  perMeasurement: Record<string, number>;
  /**
   * `--unique`: rewrites the body in place before each send so that no two sent records share a
   * time and no value tuple repeats (each send gets the next `sequence`). Absent otherwise.
   */
  refresh?: (sequence: number, body: Buffer) => void;
}

/** Arc's IoT benchmark shape: one of four measurements, one of 1000 hosts, three float fields. */
export const MEASUREMENTS = ['cpu', 'mem', 'disk', 'net'] as const;
const HOSTS = Array.from({ length: 1000 }, (_, i) => `server${String(i).padStart(3, '0')}`);

/** A small deterministic PRNG, so two runs send the same data. */
export class Random {
  constructor(private state: number) {}
  next(): number {
    let s = this.state;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.state = s;
    return (s >>> 0) / 4294967296;
  }
}

/**
 * Builds one request body of `batchSize` records. Times are the current time in µs (ns for line
 * protocol), one µs apart, so repeated payloads stay within the current hour.
 */
export function makePayload(mode: BenchMode, compression: BenchCompression, batchSize: number, random: Random, unique?: UniqueTimes): Payload {
  const measurement = MEASUREMENTS[Math.floor(random.next() * MEASUREMENTS.length)]!;
  const nowMicros = Date.now() * 1000;
  let body: Buffer;
  switch (mode) {
    case 'columnar':
      body = columnarPayload(measurement, batchSize, nowMicros, 1, random);
      break;
    case 'row':
      body = rows(measurement, batchSize, nowMicros, random);
      break;
    case 'lp':
      body = lineProtocol(measurement, batchSize, nowMicros, random);
      break;
  }
  if (unique) {
    if (mode !== 'columnar' || compression !== 'none') throw new Error('--unique needs --mode columnar and --compress none');
    return uniqueColumnar(measurement, batchSize, random, unique);
  }
  if (compression === 'gzip') body = gzipSync(body, { level: 1 });
  else if (compression === 'zstd') body = zstd.compress(body, { compressionLevel: 1 });
  return { body, records: batchSize, perMeasurement: { [measurement]: batchSize } };
}

/** `--unique`: send number k carries times `startMicros + k·batchSize + i` (1 µs apart, none repeated). */
export interface UniqueTimes {
  startMicros: number;
}

/**
 * A columnar payload whose times and float values are patched per send: times come from a clock that
 * never repeats; the two lowest mantissa bytes of every float take the send number, so a value
 * tuple recurs only after 65,536 passes over the pregenerated payloads (realistic, non-repeating
 * data for compaction and dedup benchmarks, at the cost of 4 byte stores per value).
 */
function uniqueColumnar(measurement: string, n: number, random: Random, unique: UniqueTimes): Payload {
  // Declares `host` a tag (`tag_keys`), as a Telegraf-like client would: compaction then sorts and
  // deduplicates by it, which is what a realistic benchmark of compaction has to exercise.
  const body = columnarPayload(measurement, n, 0, 1, random, ['host']);
  // Layout of columnarPayload: fixed-size uint64/float64 cells, found by scanning for the headers.
  const timeAt = body.indexOf(Buffer.from([0xa4, ...Buffer.from('time')])) + 5 + arrayHeaderBytes(n);
  const floatStarts = ['value', 'cpu_idle', 'cpu_user'].map((field) => body.indexOf(Buffer.from([0xa0 | field.length, ...Buffer.from(field)])) + 1 + field.length + arrayHeaderBytes(n));
  const refresh = (sequence: number, body: Buffer) => {
    let time = BigInt(unique.startMicros + sequence * n);
    for (let i = 0, at = timeAt + 1; i < n; i++, at += 9, time++) body.writeBigUInt64BE(time, at);
    const low = sequence & 0xff;
    const high = (sequence >>> 8) & 0xff;
    for (const start of floatStarts) {
      for (let i = 0, at = start + 7; i < n; i++, at += 9) {
        body[at] = high;
        body[at + 1] = low;
      }
    }
  };
  return { body, records: n, perMeasurement: { [measurement]: n }, refresh };
}

function arrayHeaderBytes(n: number): number {
  return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

/**
 * `{m, columns: {time, host, value, cpu_idle, cpu_user}}`, floats as float64, time as uint64 µs:
 * `n` rows from `startMicros`, `stepMicros` apart.
 */
export function columnarPayload(measurement: string, n: number, startMicros: number, stepMicros: number, random: Random, tagKeys: readonly string[] = []): Buffer {
  const writer = new MsgpackWriter(64 + n * (9 + 11 + 27));
  writer.mapHeader(tagKeys.length > 0 ? 3 : 2);
  writer.str('m');
  writer.str(measurement);
  if (tagKeys.length > 0) {
    writer.str('tag_keys');
    writer.arrayHeader(tagKeys.length);
    for (const key of tagKeys) writer.str(key);
  }
  writer.str('columns');
  writer.mapHeader(5);
  writer.str('time');
  writer.arrayHeader(n);
  for (let i = 0; i < n; i++) writer.uint64(startMicros + i * stepMicros);
  writer.str('host');
  writer.arrayHeader(n);
  for (let i = 0; i < n; i++) writer.str(HOSTS[Math.floor(random.next() * HOSTS.length)]!);
  for (const field of ['value', 'cpu_idle', 'cpu_user']) {
    writer.str(field);
    writer.arrayHeader(n);
    for (let i = 0; i < n; i++) writer.float64(Math.round(random.next() * 1e6) / 1e4);
  }
  return writer.finish();
}

const packer = new Packr({ useRecords: false, variableMapSize: true });

/** An array of row items `{m, t, h, fields}` (Arc's legacy row format). */
function rows(measurement: string, n: number, nowMicros: number, random: Random): Buffer {
  const items = [];
  for (let i = 0; i < n; i++) {
    items.push({
      m: measurement,
      t: nowMicros + i,
      h: HOSTS[Math.floor(random.next() * HOSTS.length)]!,
      fields: { value: random.next() * 100 + 0.5, cpu_idle: random.next() * 100 + 0.5, cpu_user: random.next() * 100 + 0.5 },
    });
  }
  return packer.pack(items);
}

/** `cpu,host=serverNNN value=…,cpu_idle=…,cpu_user=… <ns>` lines. */
function lineProtocol(measurement: string, n: number, nowMicros: number, random: Random): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const host = HOSTS[Math.floor(random.next() * HOSTS.length)]!;
    const fields = [random.next(), random.next(), random.next()].map((x) => (Math.round(x * 1e6) / 1e4).toString());
    lines.push(`${measurement},host=${host} value=${fields[0]},cpu_idle=${fields[1]},cpu_user=${fields[2]} ${nowMicros + i}000`);
  }
  return Buffer.from(lines.join('\n') + '\n');
}

/** Just enough MessagePack writing for exact wire types. */
export class MsgpackWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  mapHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x80 | n;
    else {
      this.buf[this.pos++] = 0xdf;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else if (n < 65536) {
      this.buf[this.pos++] = 0xdc;
      this.buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdd;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }

  str(value: string): void {
    const length = Buffer.byteLength(value);
    this.ensure(length + 5);
    if (length < 32) this.buf[this.pos++] = 0xa0 | length;
    else if (length < 256) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = length;
    } else {
      this.buf[this.pos++] = 0xda;
      this.buf.writeUInt16BE(length, this.pos);
      this.pos += 2;
    }
    this.pos += this.buf.write(value, this.pos);
  }

  uint64(value: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcf;
    this.buf.writeBigUInt64BE(BigInt(value), this.pos);
    this.pos += 8;
  }

  float64(value: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(value, this.pos);
    this.pos += 8;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

/**
 * Parquet value encodings used by the flush writer: PLAIN for numbers, the RLE / bit-packing
 * hybrid for definition levels and dictionary indices. Everything appends to a reusable ByteSink,
 * so a flush allocates almost nothing but its output.
 */
export class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(capacity = 1 << 16) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  reset(): void {
    this.pos = 0;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  byte(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  uint32le(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  varint(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  append(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

export function bitWidthOf(maxValue: number): number {
  return maxValue === 0 ? 0 : 32 - Math.clz32(maxValue);
}

/**
 * Appends `count` values (each < 2^bitWidth, bitWidth ≤ 24) in the RLE / bit-packing hybrid:
 * runs of 8 or more equal values as RLE runs, the rest bit-packed in groups of 8 (LSB first).
 * `valueAt(i)` returns value i; it lets callers encode NULL-skipping views without a copy.
 */
export function encodeHybrid(sink: ByteSink, count: number, bitWidth: number, valueAt: (i: number) => number): void {
  const byteWidth = (bitWidth + 7) >> 3;
  let i = 0;
  while (i < count) {
    const value = valueAt(i);
    let run = 1;
    while (i + run < count && valueAt(i + run) === value) run++;
    if (run >= 8) {
      sink.varint(run << 1);
      sink.ensure(byteWidth);
      for (let b = 0; b < byteWidth; b++) sink.buf[sink.pos++] = (value >>> (8 * b)) & 0xff;
      i += run;
      continue;
    }
    // Bit-packed groups of 8 until a run of 8 equal values starts at a group boundary.
    const start = i;
    let groups = 0;
    do {
      i += 8;
      groups++;
    } while (i < count && !startsRun(count, i, valueAt));
    sink.varint((groups << 1) | 1);
    packGroups(sink, start, Math.min(i, count), groups, bitWidth, valueAt);
  }
}

function startsRun(count: number, i: number, valueAt: (i: number) => number): boolean {
  if (i + 8 > count) return false;
  const value = valueAt(i);
  for (let k = 1; k < 8; k++) if (valueAt(i + k) !== value) return false;
  return true;
}

/** Bit-packs values [start, end), padded with zeros to `groups` × 8 values. */
function packGroups(sink: ByteSink, start: number, end: number, groups: number, bitWidth: number, valueAt: (i: number) => number): void {
  const bytes = groups * bitWidth;
  sink.ensure(bytes);
  const buf = sink.buf;
  let pos = sink.pos;
  let acc = 0;
  let bits = 0;
  const total = groups * 8;
  for (let k = 0; k < total; k++) {
    const index = start + k;
    const value = index < end ? valueAt(index) : 0;
    acc |= value << bits; // bits < 8 and bitWidth ≤ 24 keep this within 32 bits
    bits += bitWidth;
    while (bits >= 8) {
      buf[pos++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  sink.pos = pos;
}

/**
 * Definition levels of an OPTIONAL column (max level 1) for rows [start, end), as a data page V1
 * wants them: a 4-byte little-endian length, then the hybrid encoding with bit width 1.
 */
export function encodeDefinitionLevels(sink: ByteSink, valid: Uint8Array | null, start: number, end: number): void {
  const lengthAt = sink.pos;
  sink.uint32le(0);
  const count = end - start;
  if (valid === null) {
    sink.varint(count << 1);
    sink.byte(1);
  } else {
    encodeHybrid(sink, count, 1, (i) => valid[start + i]!);
  }
  sink.buf.writeUInt32LE(sink.pos - lengthAt - 4, lengthAt);
}

/** PLAIN 8-byte values of rows [start, end) that are not NULL. */
export function encodePlain8(sink: ByteSink, values: BigInt64Array | Float64Array, valid: Uint8Array | null, start: number, end: number): void {
  const source = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (valid === null) {
    sink.append(source.subarray(start * 8, end * 8));
    return;
  }
  sink.ensure((end - start) * 8);
  for (let i = start; i < end; i++) {
    if (!valid[i]) continue;
    sink.buf.set(source.subarray(i * 8, i * 8 + 8), sink.pos);
    sink.pos += 8;
  }
}

/** PLAIN booleans: one bit per non-NULL value, LSB first. */
export function encodePlainBool(sink: ByteSink, values: Uint8Array, valid: Uint8Array | null, start: number, end: number): void {
  sink.ensure(((end - start) >> 3) + 1);
  let acc = 0;
  let bits = 0;
  for (let i = start; i < end; i++) {
    if (valid !== null && !valid[i]) continue;
    if (values[i]) acc |= 1 << bits;
    if (++bits === 8) {
      sink.buf[sink.pos++] = acc;
      acc = 0;
      bits = 0;
    }
  }
  if (bits > 0) sink.buf[sink.pos++] = acc;
}

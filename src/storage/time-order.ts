import type { Column, ColumnBatch } from '../columnar/column-batch.js';

const TWO_32 = 4294967296;
const HOUR_US = 3_600_000_000;
const HOUR_US_BIG = 3_600_000_000n;

/**
 * Stable permutation that orders `time[0, n)` ascending, or null when it already is. LSD radix
 * sort on the exact 64-bit offsets from the minimum, 12 bits a pass, so a buffer that spans
 * seconds of µs costs two linear passes and no comparisons; ties keep arrival order.
 */
export function sortPermutation(time: BigInt64Array, n: number): Uint32Array | null {
  const words = new Uint32Array(time.buffer, time.byteOffset, n * 2);
  let sorted = true;
  let minHigh = words[1]! | 0;
  let minLow = words[0]!;
  let maxHigh = minHigh;
  let maxLow = minLow;
  for (let i = 1; i < n; i++) {
    const high = words[2 * i + 1]! | 0;
    const low = words[2 * i]!;
    const prevHigh = words[2 * i - 1]! | 0;
    if (high < prevHigh || (high === prevHigh && low < words[2 * i - 2]!)) sorted = false;
    if (high < minHigh || (high === minHigh && low < minLow)) {
      minHigh = high;
      minLow = low;
    }
    if (high > maxHigh || (high === maxHigh && low > maxLow)) {
      maxHigh = high;
      maxLow = low;
    }
  }
  if (sorted) return null;

  // Offsets from the minimum as (high, low) words; their largest values decide the passes.
  const keyLow = new Uint32Array(n);
  const keyHigh = new Uint32Array(n);
  let maxKeyLow = 0;
  let maxKeyHigh = 0;
  for (let i = 0; i < n; i++) {
    let low = words[2 * i]! - minLow;
    let high = (words[2 * i + 1]! | 0) - minHigh;
    if (low < 0) {
      low += TWO_32;
      high -= 1;
    }
    keyLow[i] = low;
    keyHigh[i] = high;
    if (high > maxKeyHigh) maxKeyHigh = high;
    if (low > maxKeyLow) maxKeyLow = low;
  }
  const lowBits = maxKeyHigh > 0 ? 32 : bitLength(maxKeyLow);
  const highBits = bitLength(maxKeyHigh);

  let order = new Uint32Array(n);
  let next = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const counts = new Uint32Array(1 << DIGIT_BITS);
  const pass = (keys: Uint32Array, shift: number) => {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keys[order[i]!]! >>> shift) & DIGIT_MASK]!++;
    let total = 0;
    for (let d = 0; d < counts.length; d++) {
      const c = counts[d]!;
      counts[d] = total;
      total += c;
    }
    for (let i = 0; i < n; i++) {
      const row = order[i]!;
      next[counts[(keys[row]! >>> shift) & DIGIT_MASK]!++] = row;
    }
    [order, next] = [next, order];
  };
  for (let shift = 0; shift < lowBits; shift += DIGIT_BITS) pass(keyLow, shift);
  for (let shift = 0; shift < highBits; shift += DIGIT_BITS) pass(keyHigh, shift);
  return order;
}

const DIGIT_BITS = 12;
const DIGIT_MASK = (1 << DIGIT_BITS) - 1;

function bitLength(value: number): number {
  return value === 0 ? 0 : 32 - Math.clz32(value);
}

/** A copy of rows [0, n) of `batch` in the order of `permutation`. */
export function reorder(batch: ColumnBatch, permutation: Uint32Array): ColumnBatch {
  const n = permutation.length;
  const time = new BigInt64Array(n);
  gather(new Uint32Array(time.buffer), new Uint32Array(batch.time.buffer, batch.time.byteOffset, n * 2), permutation, 2);
  const columns = batch.columns.map((column): Column => {
    const valid = column.valid ? gatherBytes(column.valid, permutation) : null;
    switch (column.type) {
      case 'int64':
      case 'float64': {
        const out = column.type === 'int64' ? new BigInt64Array(n) : new Float64Array(n);
        gather(new Uint32Array(out.buffer), new Uint32Array(column.values.buffer, column.values.byteOffset, n * 2), permutation, 2);
        return { ...column, values: out as never, valid };
      }
      case 'bool':
        return { ...column, values: gatherBytes(column.values, permutation), valid };
      case 'string': {
        const ids = new Uint32Array(n);
        gather(ids, column.ids, permutation, 1);
        return { ...column, ids, valid };
      }
    }
  });
  return { ...batch, rowCount: n, time, columns };
}

function gather(out: Uint32Array, source: Uint32Array, permutation: Uint32Array, width: 1 | 2): void {
  if (width === 1) {
    for (let i = 0; i < permutation.length; i++) out[i] = source[permutation[i]!]!;
    return;
  }
  for (let i = 0; i < permutation.length; i++) {
    const from = 2 * permutation[i]!;
    out[2 * i] = source[from]!;
    out[2 * i + 1] = source[from + 1]!;
  }
}

function gatherBytes(source: Uint8Array, permutation: Uint32Array): Uint8Array {
  const out = new Uint8Array(permutation.length);
  for (let i = 0; i < permutation.length; i++) out[i] = source[permutation[i]!]!;
  return out;
}

/** Rows [start, end) of a sorted batch whose times fall in the UTC hour starting at `hourStartMicros`. */
export interface HourRange {
  start: number;
  end: number;
  hourStartMicros: number;
}

/** Splits sorted times into UTC hours (floor division, so pre-1970 rows land in their own hour). */
export function hourRanges(time: BigInt64Array, n: number): HourRange[] {
  const ranges: HourRange[] = [];
  const words = new Uint32Array(time.buffer, time.byteOffset, n * 2);
  let start = 0;
  while (start < n) {
    const hour = hourStart(words, time, start);
    const nextHour = hour + HOUR_US;
    let end = start + 1;
    // Within ±2^53 µs the comparison on numbers is exact; beyond it compare as bigints.
    if (Math.abs(nextHour) <= Number.MAX_SAFE_INTEGER) {
      while (end < n && asNumber(words, end) < nextHour) end++;
    } else {
      const limit = BigInt(hour) + HOUR_US_BIG;
      while (end < n && time[end]! < limit) end++;
    }
    ranges.push({ start, end, hourStartMicros: hour });
    start = end;
  }
  return ranges;
}

function asNumber(words: Uint32Array, i: number): number {
  return (words[2 * i + 1]! | 0) * TWO_32 + words[2 * i]!;
}

/** Exact floor of the row's time to its hour, in µs (an exact double: a multiple of 3.6e9 below 2^63). */
function hourStart(words: Uint32Array, time: BigInt64Array, row: number): number {
  const value = asNumber(words, row);
  if (Math.abs(value) <= Number.MAX_SAFE_INTEGER) {
    let hours = Math.floor(value / HOUR_US);
    if (hours * HOUR_US > value) hours--;
    else if ((hours + 1) * HOUR_US <= value) hours++;
    return hours * HOUR_US;
  }
  const big = time[row]!;
  let hours = big / HOUR_US_BIG;
  if (big < 0n && hours * HOUR_US_BIG !== big) hours -= 1n;
  return Number(hours * HOUR_US_BIG);
}

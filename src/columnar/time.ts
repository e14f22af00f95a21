/**
 * Time in arc-ts is int64 microseconds since the Unix epoch, UTC (arc-spec §5, §7). Values are
 * written into BigInt64Arrays through a Uint32Array view of the same memory, so the hot paths never
 * allocate a BigInt. The host must be little-endian (checked at start-up).
 */
export type TimeUnit = 's' | 'ms' | 'us' | 'ns';

/**
 * [0001-01-01T00:00:00Z, 10000-01-01T00:00:00Z): the years a YYYY partition directory can name.
 * Both bounds are exact doubles.
 */
export const MIN_TIME_US = -62135596800_000000;
export const END_TIME_US = 253402300800_000000;
const MIN_TIME_BIG = BigInt(MIN_TIME_US);
const END_TIME_BIG = BigInt(END_TIME_US);

const TWO_32 = 4294967296;

/** Arc's unit detection from a value (arc-spec §5): < 1e10 s, < 1e13 ms, < 1e16 µs, else ns. */
export function detectUnit(value: number): TimeUnit {
  if (value < 1e10) return 's';
  if (value < 1e13) return 'ms';
  if (value < 1e16) return 'us';
  return 'ns';
}

const MULTIPLIER: Record<Exclude<TimeUnit, 'ns'>, number> = { s: 1_000_000, ms: 1_000, us: 1 };

/**
 * Converts an integer time value in `unit` to microseconds; ns truncate toward zero.
 * Returns null when the result falls outside [MIN_TIME_US, END_TIME_US).
 * `value` is a number when it is a safe integer (or came from a float), a bigint otherwise; the
 * result is a bigint only when it is exact as a bigint and not as a number.
 */
export function toMicros(value: number | bigint, unit: TimeUnit): number | bigint | null {
  if (typeof value === 'number') {
    // Within each unit's detection range the product is exactly representable (s: < 2^34 × 15625 × 2^6).
    const micros = unit === 'ns' ? Math.trunc(value / 1000) : value * MULTIPLIER[unit];
    return micros >= MIN_TIME_US && micros < END_TIME_US ? micros : null;
  }
  const exact = unit === 'ns' ? value / 1000n : value * BigInt(MULTIPLIER[unit]);
  if (exact < MIN_TIME_BIG || exact >= END_TIME_BIG) return null;
  const asNumber = Number(exact);
  return Number.isSafeInteger(asNumber) ? asNumber : exact;
}

/** Stores a value returned by `toMicros` as element `index`. */
export function setMicros(array: BigInt64Array, words: Uint32Array, index: number, micros: number | bigint): void {
  if (typeof micros === 'number') setInt64(words, index, micros);
  else array[index] = micros;
}

/** Writes the integer-valued double `value` as int64 element `index` of the Uint32 view. */
export function setInt64(words: Uint32Array, index: number, value: number): void {
  const high = Math.floor(value / TWO_32);
  words[2 * index] = value - high * TWO_32;
  words[2 * index + 1] = high;
}

/** Reads int64 element `index` as a number (exact up to 2^53). */
export function getInt64(words: Uint32Array, index: number): number {
  return (words[2 * index + 1]! | 0) * TWO_32 + words[2 * index]!;
}

export function wordsOf(array: BigInt64Array): Uint32Array {
  return new Uint32Array(array.buffer, array.byteOffset, array.length * 2);
}

/** Server time in microseconds. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

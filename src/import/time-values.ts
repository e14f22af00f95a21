import { detectUnit, toMicros, type TimeUnit } from '../columnar/time.js';

/** The `time_format` import parameter: a fixed epoch unit, or '' to detect it. */
export type TimeFormat = '' | 'epoch_s' | 'epoch_ms' | 'epoch_us' | 'epoch_ns';

export const TIME_FORMATS: readonly TimeFormat[] = ['epoch_s', 'epoch_ms', 'epoch_us', 'epoch_ns'];

export function parseTimeFormat(text: string | null): TimeFormat | null {
  if (text === null || text === '') return '';
  return (TIME_FORMATS as readonly string[]).includes(text) ? (text as TimeFormat) : null;
}

/** A time value read, or why it could not be. */
export type TimeResult = { ok: true; micros: number | bigint } | { ok: false; reason: string };

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/;
/** RFC 3339 / ISO 8601: a date, optionally a time with seconds and fraction, optionally a zone. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/**
 * Turns time texts of one file into µs since the epoch. With a fixed format every value is an
 * epoch number in that unit (a fraction is allowed). When detecting, numbers take the unit Arc's
 * rule gives the first number of the file (< 1e10 s, < 1e13 ms, < 1e16 µs, else ns) — one unit per
 * file, as one unit per MessagePack batch — and texts are read as RFC 3339 / ISO 8601 (no zone = UTC).
 */
export class TimeReader {
  private unit: TimeUnit | null;

  constructor(readonly format: TimeFormat) {
    this.unit = format === '' ? null : (format.slice(6) as TimeUnit);
  }

  /** The unit numbers are read in: fixed, detected from the first one, or null before any number. */
  get numberUnit(): TimeUnit | null {
    return this.unit;
  }

  readText(text: string): TimeResult {
    if (text === '') return { ok: false, reason: 'the time is empty' };
    if (INTEGER.test(text)) return this.readInteger(text.length <= 15 ? Number(text) : BigInt(text));
    if (DECIMAL.test(text)) return this.readNumber(Number(text), text);
    if (this.format !== '') return { ok: false, reason: `time ${JSON.stringify(text)} is not a number (time_format=${this.format})` };
    return readIso(text);
  }

  /** An integer time value (Parquet integer columns; CSV integers). */
  readInteger(value: number | bigint): TimeResult {
    if (this.unit === null) this.unit = detectUnit(Number(value));
    const micros = toMicros(value, this.unit);
    if (micros === null) return { ok: false, reason: `time ${value} is outside years 1 to 9999 (read as ${this.unit})` };
    return { ok: true, micros };
  }

  private readNumber(value: number, text: string): TimeResult {
    if (!Number.isFinite(value)) return { ok: false, reason: `time ${JSON.stringify(text)} is not a finite number` };
    if (this.unit === null) this.unit = detectUnit(value);
    const perUnit = { s: 1e6, ms: 1e3, us: 1, ns: 1e-3 }[this.unit];
    return this.readIntegerMicros(Math.trunc(value * perUnit), text);
  }

  private readIntegerMicros(micros: number, text: string): TimeResult {
    const checked = toMicros(micros, 'us');
    if (checked === null) return { ok: false, reason: `time ${text} is outside years 1 to 9999 (read as ${this.unit})` };
    return { ok: true, micros: checked };
  }
}

/** RFC 3339 / ISO 8601 text to µs, exact to the microsecond (digits past it are truncated). */
export function readIso(text: string): TimeResult {
  const match = ISO.exec(text.trim());
  if (!match) return { ok: false, reason: `time ${JSON.stringify(text)} is neither an epoch number nor an RFC 3339 / ISO 8601 date-time` };
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone = 'Z'] = match;
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  const check = new Date(ms);
  // Date.UTC rolls 2024-02-30 over to March: refuse what does not name a real date and time.
  if (check.getUTCDate() !== Number(day) || check.getUTCHours() !== Number(hour) || check.getUTCMinutes() !== Number(minute) || Number(second) > 59) {
    return { ok: false, reason: `time ${JSON.stringify(text)} is not a valid date-time` };
  }
  if (Number(year) < 100) check.setUTCFullYear(Number(year)); // Date.UTC reads 0..99 as 1900..1999
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const micros = (check.getTime() - offsetMinutes * 60_000) * 1000 + Number(fraction.padEnd(6, '0').slice(0, 6));
  const checked = toMicros(micros, 'us');
  if (checked === null) return { ok: false, reason: `time ${JSON.stringify(text)} is outside years 1 to 9999` };
  return { ok: true, micros: checked };
}

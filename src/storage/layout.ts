import path from 'node:path';

/**
 * The on-disk layout (arc-spec §7):
 * `{root}/{db}/{measurement}/YYYY/MM/DD/HH/{measurement}_{YYYYMMDD_HHMMSS}_{NNNNNNNNN}.parquet`,
 * where YYYY…HH is the UTC hour of the rows' own time and the name stamp is the flush's wall-clock
 * time with its nanoseconds. Names starting with "." or "_" are not data; temporary files are
 * `.{name}.tmp`, so no `*.parquet` glob ever matches a file that is still being written.
 */
export const TEMP_SUFFIX = '.tmp';

export function partitionDir(root: string, database: string, measurement: string, hourStartMicros: number): string {
  const date = new Date(hourStartMicros / 1000);
  return path.join(
    root,
    database,
    measurement,
    String(date.getUTCFullYear()).padStart(4, '0'),
    pad2(date.getUTCMonth() + 1),
    pad2(date.getUTCDate()),
    pad2(date.getUTCHours()),
  );
}

/** `{measurement}_{YYYYMMDD_HHMMSS}_{NNNNNNNNN}.parquet` for a stamp in ns since the epoch. */
export function parquetFileName(measurement: string, stampNanos: bigint): string {
  const seconds = stampNanos / 1_000_000_000n;
  const nanos = stampNanos % 1_000_000_000n;
  const date = new Date(Number(seconds) * 1000);
  const day = `${String(date.getUTCFullYear()).padStart(4, '0')}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}`;
  const time = `${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${pad2(date.getUTCSeconds())}`;
  return `${measurement}_${day}_${time}_${String(nanos).padStart(9, '0')}.parquet`;
}

export function tempNameFor(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}${TEMP_SUFFIX}`);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Wall-clock nanoseconds that never repeat within a process, so two flushes of one measurement in
 * the same nanosecond (or a clock step backwards) still get distinct file names.
 */
export class FileStampClock {
  private last = 0n;

  next(): bigint {
    const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    this.last = wall > this.last ? wall : this.last + 1n;
    return this.last;
  }
}

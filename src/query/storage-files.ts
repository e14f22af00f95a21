import fs from 'node:fs';
import path from 'node:path';
import { isValidMeasurementName } from '../ingest/names.js';
import { parquetFileName } from '../storage/layout.js';

/** A query that spans more hour directories than this reads the measurement by glob instead. */
const MAX_LISTED_HOURS = 168;
export const DATABASE_MARKER = '.arc-database';

/** Where DuckDB finds a measurement's rows for one query. */
export interface FileSelection {
  /** Explicit files (time-pruned), or null when `glob` is used. */
  files: string[] | null;
  glob: string | null;
  /** Hour directories the pruned selection read. */
  hours: number | null;
}

/**
 * The Parquet files that can hold rows of (database, measurement) between `lo` and `hi` (µs,
 * inclusive, null = open). The YYYY/MM/DD/HH tree is walked skipping every subtree outside the
 * range, so "the last hour" reads one directory whatever the history; when more than a week of
 * hours qualify, the measurement is read by glob. Files whose name carries one of `skipStamps`
 * (flushes whose rows the query takes from memory) are left out.
 */
export function selectFiles(root: string, database: string, measurement: string, lo: number | null, hi: number | null, skipStamps: ReadonlySet<string>): FileSelection {
  const dir = path.join(root, database, measurement);
  if (!fs.existsSync(dir)) return { files: [], glob: null, hours: 0 };
  if (lo !== null || hi !== null) {
    const hours = hourDirectories(dir, lo ?? -Infinity, hi ?? Infinity);
    if (hours !== null) {
      const files: string[] = [];
      for (const hourDir of hours) for (const name of listParquet(hourDir)) if (!skipStamps.has(stampOf(name))) files.push(path.join(hourDir, name));
      return { files, glob: null, hours: hours.length };
    }
  }
  if (skipStamps.size === 0) return { files: null, glob: path.join(dir, '**', '*.parquet'), hours: null };
  // Skipping needs names: list the measurement's files (rare: only while a flush is in flight).
  const files = walkParquet(dir).filter((file) => !skipStamps.has(stampOf(path.basename(file))));
  return { files, glob: null, hours: null };
}

/** The files of the most recent hour directory: a schema for a query whose range holds no file. */
export function latestFiles(root: string, database: string, measurement: string): string[] {
  let dir = path.join(root, database, measurement);
  for (const digits of [4, 2, 2, 2]) {
    const names = listDirs(dir, digits).sort();
    if (names.length === 0) return [];
    dir = path.join(dir, names[names.length - 1]!);
  }
  return listParquet(dir).map((name) => path.join(dir, name));
}

/** Hour directories of a measurement intersecting [lo, hi], or null when there are more than MAX_LISTED_HOURS. */
function hourDirectories(dir: string, lo: number, hi: number): string[] | null {
  const out: string[] = [];
  // Each level narrows the range: [start of the year/month/day/hour, start of the next).
  const level = (base: string, depth: number, prefix: number[]): boolean => {
    for (const name of listDirs(base, depth === 0 ? 4 : 2)) {
      const parts = [...prefix, Number(name)];
      const [start, end] = span(parts);
      if (end <= lo || start > hi) continue;
      const child = path.join(base, name);
      if (depth === 3) {
        out.push(child);
        if (out.length > MAX_LISTED_HOURS) return false;
      } else if (!level(child, depth + 1, parts)) return false;
    }
    return true;
  };
  return level(dir, 0, []) ? out : null;
}

/** [start, end) in µs of a partial partition path [year, month?, day?, hour?]. */
function span(parts: number[]): [number, number] {
  const [year, month = 1, day = 1, hour = 0] = parts;
  const start = Date.UTC(year!, month - 1, day, hour) * 1000;
  const next = [Date.UTC(year! + 1, 0, 1), Date.UTC(year!, month, 1), Date.UTC(year!, month - 1, day + 1), Date.UTC(year!, month - 1, day, hour + 1)][parts.length - 1]!;
  return [start, next * 1000];
}

function listDirs(dir: string, digits: number): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name.length === digits && /^\d+$/.test(entry.name))
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

/** `cpu_20261124_071825_592239872.parquet` → `20261124_071825_592239872`. */
export function stampOf(fileName: string): string {
  const match = /_(\d{8}_\d{6}_\d{9})\.parquet$/.exec(fileName);
  return match ? match[1]! : '';
}

/** The stamp text of a flush's files, as layout.parquetFileName writes it. */
export function stampText(stampNanos: bigint): string {
  return stampOf(parquetFileName('m', stampNanos));
}

function listParquet(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => name.endsWith('.parquet') && !name.startsWith('.') && !name.startsWith('_'));
  } catch {
    return [];
  }
}

function walkParquet(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.parquet') && !entry.name.startsWith('.')) out.push(path.join(entry.parentPath ?? entry.path, entry.name));
  }
  return out;
}

export interface MeasurementInfo {
  database: string;
  measurement: string;
  fileCount: number;
  totalBytes: number;
  storagePath: string;
}

/** Databases: top-level directories with a valid name, not hidden. */
export function listDatabases(root: string): string[] {
  try {
    return fs
      .readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && !entry.name.startsWith('_'))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

/** Measurements of a database with their file counts and sizes. */
export function listMeasurements(root: string, database: string): MeasurementInfo[] {
  const dir = path.join(root, database);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isDirectory() && isValidMeasurementName(entry.name))
    .map((entry) => {
      const files = walkParquet(path.join(dir, entry.name));
      let totalBytes = 0;
      for (const file of files) totalBytes += fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      return { database, measurement: entry.name, fileCount: files.length, totalBytes, storagePath: path.join(dir, entry.name, '**', '*.parquet') };
    })
    .sort((a, b) => a.measurement.localeCompare(b.measurement));
}

/** When the database was created with POST /api/v1/databases (its marker), if it was. */
export function databaseCreatedAt(root: string, database: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, database, DATABASE_MARKER), 'utf8')) as { created_at?: string }).created_at ?? null;
  } catch {
    return null;
  }
}

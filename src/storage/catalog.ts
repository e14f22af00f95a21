import fs from 'node:fs';
import path from 'node:path';

/**
 * The storage file catalog: which Parquet files are visible, per (database, measurement). Queries
 * read the files this catalog lists (never a directory listing or a glob expanded later), so a file
 * counts the moment the catalog has it and stops counting the moment it is swapped out — changes
 * that happen synchronously on the main thread, together with the in-memory bookkeeping that goes
 * with them (a finished flush leaves the buffer manager in the same tick; a compaction's output
 * replaces its inputs in one step). A query pins the files of its snapshot: a file removed while
 * pinned is unlinked only when the last snapshot holding it is released, so a running query never
 * meets a missing file.
 */

export type FileKind = 'flush' | 'compacted' | 'daily';

export interface CatalogFile {
  /** Absolute path. */
  readonly path: string;
  readonly database: string;
  readonly measurement: string;
  readonly kind: FileKind;
  /** µs since the epoch: start of the partition (hour directory, or day directory for daily files). */
  readonly partitionStart: number;
  /** µs: end (exclusive) of the partition. */
  readonly partitionEnd: number;
  readonly bytes: number;
  /** Row count, when known (files added by this process). */
  readonly rows: number | null;
  /** The flush stamp of the buffer this file came from, when a flush of this process added it. */
  readonly flushStamp: bigint | null;
}

export interface NewFile {
  path: string;
  bytes: number;
  rows?: number | null;
  flushStamp?: bigint | null;
}

/** The files a query reads, pinned until `release`. */
export interface FileSnapshot {
  readonly files: readonly CatalogFile[];
  /** Partitions (hour or day directories) the files come from. */
  readonly partitions: number;
  readonly generation: number;
  release(): void;
}

export interface MeasurementFiles {
  database: string;
  measurement: string;
  fileCount: number;
  totalBytes: number;
}

const MEASUREMENT_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,127}$/;
const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;

interface Partition {
  start: number;
  end: number;
  files: Map<string, CatalogFile>;
}

interface MeasurementIndex {
  partitions: Map<number, Partition>;
  /** Partition starts, ascending; rebuilt lazily after a partition is added or dropped. */
  sorted: Partition[] | null;
  fileCount: number;
  totalBytes: number;
}

export class FileCatalog {
  private readonly measurements = new Map<string, MeasurementIndex>();
  private readonly pins = new Map<string, number>();
  /** Files swapped out while pinned: unlinked when the last pin goes. */
  private readonly doomed = new Map<string, Array<() => void>>();
  private changes = 0;

  private constructor(readonly root: string) {}

  /** An empty catalog (tests, and a fresh storage root). */
  static empty(root: string): FileCatalog {
    return new FileCatalog(path.resolve(root));
  }

  /**
   * The catalog of what is on disk now: one walk of `{db}/{m}/YYYY/MM/DD[/HH]/`. Run it after every
   * start-up recovery step that can publish or remove files (write-ahead log, compaction), before
   * any query.
   */
  static async load(root: string): Promise<FileCatalog> {
    const catalog = new FileCatalog(path.resolve(root));
    for (const database of await dirNames(catalog.root)) {
      if (database.startsWith('.') || database.startsWith('_')) continue;
      const dbDir = path.join(catalog.root, database);
      for (const measurement of await dirNames(dbDir)) {
        if (!MEASUREMENT_NAME.test(measurement)) continue;
        await catalog.loadMeasurement(database, measurement);
      }
    }
    return catalog;
  }

  private async loadMeasurement(database: string, measurement: string): Promise<void> {
    const base = path.join(this.root, database, measurement);
    for (const year of await dirNames(base, 4)) {
      for (const month of await dirNames(path.join(base, year), 2)) {
        for (const day of await dirNames(path.join(base, year, month), 2)) {
          const dayDir = path.join(base, year, month, day);
          const entries = await fs.promises.readdir(dayDir, { withFileTypes: true }).catch(() => []);
          for (const entry of entries) {
            const full = path.join(dayDir, entry.name);
            if (entry.isDirectory() && /^\d\d$/.test(entry.name)) {
              for (const name of await parquetNames(full)) await this.loadFile(path.join(full, name));
            } else if (entry.isFile() && isDataFileName(entry.name)) {
              await this.loadFile(full);
            }
          }
        }
      }
    }
  }

  private async loadFile(file: string): Promise<void> {
    const stat = await fs.promises.stat(file).catch(() => null);
    if (stat === null || !stat.isFile()) return;
    this.insert(this.describe({ path: file, bytes: stat.size }));
  }

  /** Bumped on every change of the visible file set. */
  get generation(): number {
    return this.changes;
  }

  /** Files published by a flush (one per hour the flush touched). */
  add(files: readonly NewFile[]): void {
    if (files.length === 0) return;
    for (const file of files) this.insert(this.describe(file));
    this.changes++;
  }

  /**
   * One atomic change of what readers see: `removed` leave and `added` enter together. Removed files
   * are unlinked as soon as no snapshot pins them; the promise resolves when every one of them is
   * gone from disk (directory entries made durable), so a caller may then drop its recovery record.
   * Files not in the catalog are ignored in `removed` (they may have been removed already).
   */
  replace(database: string, measurement: string, removed: readonly string[], added: readonly NewFile[]): Promise<void> {
    const incoming = added.map((file) => this.describe(file));
    for (const file of incoming) {
      if (file.database !== database || file.measurement !== measurement) throw new Error(`catalog.replace: ${file.path} is not a file of ${database}.${measurement}`);
    }
    const gone: string[] = [];
    for (const file of removed) {
      const resolved = path.resolve(file);
      if (this.remove(database, measurement, resolved)) gone.push(resolved);
    }
    for (const file of incoming) this.insert(file);
    this.changes++;
    return Promise.all(gone.map((file) => this.unlinkWhenFree(file))).then(() => undefined);
  }

  /**
   * Removes every file of `database` from view in one step (a database delete), without unlinking
   * them: resolves with their paths once no snapshot pins any of them, so the caller may then move
   * the whole directory away at once.
   */
  forget(database: string): Promise<string[]> {
    const files: string[] = [];
    for (const [k, index] of this.measurements) {
      if (k.slice(0, k.indexOf('\u0000')) !== database) continue;
      for (const partition of index.partitions.values()) files.push(...partition.files.keys());
      this.measurements.delete(k);
    }
    this.changes++;
    const waits = files
      .filter((file) => this.pins.has(file))
      .map(
        (file) =>
          new Promise<void>((resolve) => {
            const list = this.doomed.get(file) ?? [];
            list.push(resolve);
            this.doomed.set(file, list);
          }),
      );
    return Promise.all(waits).then(() => files);
  }

  /**
   * The files that can hold rows of (database, measurement) in [lo, hi] (µs, inclusive; null = open),
   * pruned by partition, minus files a flush still in flight added (their rows are taken from
   * memory). Pinned until released.
   */
  snapshot(database: string, measurement: string, lo: number | null, hi: number | null, inFlight: ReadonlySet<bigint> = new Set()): FileSnapshot {
    const index = this.measurements.get(key(database, measurement));
    const files: CatalogFile[] = [];
    let partitions = 0;
    if (index) {
      const low = lo ?? -Infinity;
      const high = hi ?? Infinity;
      for (const partition of this.sortedPartitions(index)) {
        if (partition.end <= low || partition.start > high) continue;
        let used = false;
        for (const file of partition.files.values()) {
          if (file.flushStamp !== null && inFlight.has(file.flushStamp)) continue;
          files.push(file);
          used = true;
        }
        if (used) partitions++;
      }
    }
    return this.pinned(files, partitions);
  }

  /** The files of the newest partition: a schema for a query whose time range holds no file. */
  latest(database: string, measurement: string): FileSnapshot {
    const index = this.measurements.get(key(database, measurement));
    const newest = index ? this.sortedPartitions(index).at(-1) : undefined;
    return this.pinned(newest ? [...newest.files.values()] : [], newest ? 1 : 0);
  }

  /** Every visible file of a measurement, by partition (oldest first), unpinned: for planners. */
  partitions(database: string, measurement: string): Array<{ start: number; end: number; files: CatalogFile[] }> {
    const index = this.measurements.get(key(database, measurement));
    if (!index) return [];
    return this.sortedPartitions(index).map((p) => ({ start: p.start, end: p.end, files: [...p.files.values()] }));
  }

  /** Whether `file` is visible now. */
  has(file: string): boolean {
    const described = parsePath(this.root, path.resolve(file));
    if (!described) return false;
    const index = this.measurements.get(key(described.database, described.measurement));
    return index?.partitions.get(described.partitionStart)?.files.has(path.resolve(file)) ?? false;
  }

  databases(): string[] {
    const names = new Set<string>();
    for (const [k, index] of this.measurements) if (index.fileCount > 0) names.add(k.slice(0, k.indexOf('\u0000')));
    return [...names].sort();
  }

  /** Measurements of a database that have visible files, with counts and sizes. */
  measurementsOf(database: string): MeasurementFiles[] {
    const out: MeasurementFiles[] = [];
    for (const [k, index] of this.measurements) {
      const at = k.indexOf('\u0000');
      if (k.slice(0, at) !== database || index.fileCount === 0) continue;
      out.push({ database, measurement: k.slice(at + 1), fileCount: index.fileCount, totalBytes: index.totalBytes });
    }
    return out.sort((a, b) => a.measurement.localeCompare(b.measurement));
  }

  /** Every (database, measurement) with visible files. */
  allMeasurements(): Array<{ database: string; measurement: string }> {
    const out: Array<{ database: string; measurement: string }> = [];
    for (const [k, index] of this.measurements) {
      if (index.fileCount === 0) continue;
      const at = k.indexOf('\u0000');
      out.push({ database: k.slice(0, at), measurement: k.slice(at + 1) });
    }
    return out;
  }

  /** Files removed from view but still pinned by a running query. */
  get pendingUnlinks(): number {
    return this.doomed.size;
  }

  private pinned(files: CatalogFile[], partitions: number): FileSnapshot {
    for (const file of files) this.pins.set(file.path, (this.pins.get(file.path) ?? 0) + 1);
    let released = false;
    return {
      files,
      partitions,
      generation: this.changes,
      release: () => {
        if (released) return;
        released = true;
        for (const file of files) this.unpin(file.path);
      },
    };
  }

  private unpin(file: string): void {
    const left = (this.pins.get(file) ?? 1) - 1;
    if (left > 0) {
      this.pins.set(file, left);
      return;
    }
    this.pins.delete(file);
    const waiters = this.doomed.get(file);
    if (waiters) {
      this.doomed.delete(file);
      for (const go of waiters) go();
    }
  }

  private unlinkWhenFree(file: string): Promise<void> {
    const unlink = () => unlinkDurably(file);
    if (!this.pins.has(file)) return unlink();
    return new Promise<void>((resolve, reject) => {
      const list = this.doomed.get(file) ?? [];
      list.push(() => unlink().then(resolve, reject));
      this.doomed.set(file, list);
    });
  }

  private describe(file: NewFile): CatalogFile {
    const resolved = path.resolve(file.path);
    const parsed = parsePath(this.root, resolved);
    if (!parsed) throw new Error(`not a data file path of the storage layout: ${resolved}`);
    return { ...parsed, path: resolved, bytes: file.bytes, rows: file.rows ?? null, flushStamp: file.flushStamp ?? null };
  }

  private insert(file: CatalogFile): void {
    const k = key(file.database, file.measurement);
    let index = this.measurements.get(k);
    if (!index) this.measurements.set(k, (index = { partitions: new Map(), sorted: null, fileCount: 0, totalBytes: 0 }));
    let partition = index.partitions.get(file.partitionStart);
    if (!partition) {
      index.partitions.set(file.partitionStart, (partition = { start: file.partitionStart, end: file.partitionEnd, files: new Map() }));
      index.sorted = null;
    }
    const before = partition.files.get(file.path);
    if (before) {
      index.fileCount--;
      index.totalBytes -= before.bytes;
    }
    partition.files.set(file.path, file);
    index.fileCount++;
    index.totalBytes += file.bytes;
  }

  private remove(database: string, measurement: string, file: string): boolean {
    const index = this.measurements.get(key(database, measurement));
    const parsed = parsePath(this.root, file);
    if (!index || !parsed) return false;
    const partition = index.partitions.get(parsed.partitionStart);
    const entry = partition?.files.get(file);
    if (!partition || !entry) return false;
    partition.files.delete(file);
    index.fileCount--;
    index.totalBytes -= entry.bytes;
    if (partition.files.size === 0) {
      index.partitions.delete(partition.start);
      index.sorted = null;
    }
    return true;
  }

  private sortedPartitions(index: MeasurementIndex): Partition[] {
    index.sorted ??= [...index.partitions.values()].sort((a, b) => a.start - b.start);
    return index.sorted;
  }
}

function key(database: string, measurement: string): string {
  return `${database}\u0000${measurement}`;
}

/** What the path of a data file says: database, measurement, partition and kind. */
export function parsePath(root: string, file: string): Omit<CatalogFile, 'path' | 'bytes' | 'rows' | 'flushStamp'> | null {
  const relative = path.relative(root, file).split(path.sep);
  const name = relative.at(-1) ?? '';
  if (!isDataFileName(name)) return null;
  const parts = relative.slice(0, -1);
  if (parts.length !== 5 && parts.length !== 6) return null;
  const [database, measurement, year, month, day, hour] = parts as [string, string, string, string, string, string | undefined];
  if (!/^\d{4}$/.test(year) || !/^\d\d$/.test(month) || !/^\d\d$/.test(day) || (hour !== undefined && !/^\d\d$/.test(hour))) return null;
  const m = Number(month);
  const d = Number(day);
  const h = hour === undefined ? 0 : Number(hour);
  if (m < 1 || m > 12 || d < 1 || d > 31 || h > 23) return null;
  const start = Date.UTC(Number(year), m - 1, d, h) * 1000;
  const kind: FileKind = name.endsWith('_daily.parquet') ? 'daily' : name.endsWith('_compacted.parquet') ? 'compacted' : 'flush';
  return { database, measurement, kind, partitionStart: start, partitionEnd: start + (hour === undefined ? DAY_US : HOUR_US) };
}

/** Visible data files: `*.parquet`, not hidden (`.` temporaries) and not internal (`_`). */
export function isDataFileName(name: string): boolean {
  return name.endsWith('.parquet') && !name.startsWith('.') && !name.startsWith('_');
}

async function dirNames(dir: string, digits?: number): Promise<string[]> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && (digits === undefined || (e.name.length === digits && /^\d+$/.test(e.name))))
    .map((e) => e.name)
    .sort();
}

async function parquetNames(dir: string): Promise<string[]> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  return names.filter(isDataFileName);
}

async function unlinkDurably(file: string): Promise<void> {
  try {
    await fs.promises.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

import fs from 'node:fs';
import path from 'node:path';
import type { ColumnType } from '../columnar/column-batch.js';
import type { Logger } from '../log.js';
import { fsyncDir } from './durable-files.js';

/**
 * `{root}/_schemas/{db}/{measurement}.json`: the type each column of a measurement was given by
 * the first write that sent it. A leading "_" keeps the directory out of every data listing
 * (storage/layout.ts), and the measurement directories hold nothing but data.
 */
export const SCHEMA_DIR = '_schemas';

export function schemaFilePath(root: string, database: string, measurement: string): string {
  return path.join(root, SCHEMA_DIR, database, `${measurement}.json`);
}

/** SQL names of the column types, as users see them in errors and DESCRIBE. */
export const SQL_TYPE: Readonly<Record<ColumnType, string>> = { int64: 'BIGINT', float64: 'DOUBLE', bool: 'BOOLEAN', string: 'VARCHAR' };

interface SchemaFile {
  version: 1;
  columns: Record<string, string>;
}

/** Column name → type of one measurement. */
export type MeasurementSchema = Map<string, ColumnType>;

/** Reads the columns of a measurement's existing Parquet files (files written before schemas were kept). */
export type LegacySchemaReader = (measurementDir: string) => Promise<MeasurementSchema | null>;

/**
 * The column types of every measurement, kept across restarts. Lookups are synchronous (one Map
 * hit per batch on the write path); a schema file is read the first time its measurement is
 * written. A change (a new column) is applied in memory at once, so the next request already sees
 * it, and written to disk in the background, durably (temporary file, fsync, rename, directory
 * fsync); `persisted` lets a flush wait for it, so no Parquet file is ever published with a
 * column its measurement's schema file does not name.
 */
export class SchemaStore {
  private readonly schemas = new Map<string, MeasurementSchema>();
  private readonly writes = new Map<string, { running: Promise<void>; again: boolean }>();

  private constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the store. Measurements that have Parquet files but no schema file (written by an
   * arc-ts before schemas were kept) get one now, from their files' columns.
   */
  static async open(root: string, log: Logger, readLegacy: LegacySchemaReader): Promise<SchemaStore> {
    const store = new SchemaStore(root, log);
    for (const database of visibleDirs(root)) {
      for (const measurement of visibleDirs(path.join(root, database))) {
        const file = schemaFilePath(root, database, measurement);
        if (fs.existsSync(file)) continue;
        const legacy = await readLegacy(path.join(root, database, measurement));
        if (legacy === null || legacy.size === 0) continue;
        store.schemas.set(key(database, measurement), legacy);
        writeSchemaFile(file, legacy);
        log.info('measurement schema taken from its existing files', { database, measurement, columns: legacy.size });
      }
    }
    return store;
  }

  /** The schema of (database, measurement); empty for a measurement never written. */
  schemaOf(database: string, measurement: string): MeasurementSchema {
    const k = key(database, measurement);
    let schema = this.schemas.get(k);
    if (schema === undefined) {
      schema = this.read(database, measurement);
      this.schemas.set(k, schema);
    }
    return schema;
  }

  /** Fixes the types of new columns: in memory now, on disk soon (see `persisted`). */
  extend(database: string, measurement: string, columns: ReadonlyArray<readonly [string, ColumnType]>): void {
    const schema = this.schemaOf(database, measurement);
    for (const [name, type] of columns) if (!schema.has(name)) schema.set(name, type);
    const k = key(database, measurement);
    const pending = this.writes.get(k);
    if (pending) {
      pending.again = true;
      return;
    }
    const entry = { running: Promise.resolve(), again: false };
    entry.running = this.writeLoop(k, database, measurement, entry);
    this.writes.set(k, entry);
  }

  /** Resolves once the schema of (database, measurement), as it is now, is on disk. */
  persisted(database: string, measurement: string): Promise<void> {
    return this.writes.get(key(database, measurement))?.running ?? Promise.resolve();
  }

  private async writeLoop(k: string, database: string, measurement: string, entry: { again: boolean }): Promise<void> {
    try {
      do {
        entry.again = false;
        // A turn of the event loop first: the columns of a burst of requests go in one write.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const schema = new Map(this.schemas.get(k));
        const file = schemaFilePath(this.root, database, measurement);
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        await writeSchemaFileAsync(file, schema);
      } while (entry.again);
    } finally {
      this.writes.delete(k);
    }
  }

  private read(database: string, measurement: string): MeasurementSchema {
    const file = schemaFilePath(this.root, database, measurement);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    const schema: MeasurementSchema = new Map();
    try {
      const parsed = JSON.parse(text) as SchemaFile;
      for (const [name, sqlType] of Object.entries(parsed.columns)) {
        const type = columnTypeOf(sqlType);
        if (type !== null) schema.set(name, type);
      }
    } catch (err) {
      // Not fatal: the next write that sends a column fixes its type again.
      this.log.error('a measurement schema file is unreadable; its column types are taken from the next writes', { file, error: (err as Error).message });
    }
    return schema;
  }
}

function key(database: string, measurement: string): string {
  return `${database}\u0000${measurement}`;
}

/** BIGINT / DOUBLE / BOOLEAN / VARCHAR (and DuckDB's synonyms) → column type. */
export function columnTypeOf(sqlType: string): ColumnType | null {
  switch (sqlType.toUpperCase()) {
    case 'BIGINT':
    case 'INT64':
    case 'INTEGER':
      return 'int64';
    case 'DOUBLE':
    case 'FLOAT':
      return 'float64';
    case 'BOOLEAN':
      return 'bool';
    case 'VARCHAR':
      return 'string';
    default:
      return null;
  }
}

function encodeSchema(schema: MeasurementSchema): string {
  const columns: Record<string, string> = {};
  for (const name of [...schema.keys()].sort()) columns[name] = SQL_TYPE[schema.get(name)!];
  const file: SchemaFile = { version: 1, columns };
  return JSON.stringify(file, null, 1) + '\n';
}

function writeSchemaFile(final: string, schema: MeasurementSchema): void {
  const dir = path.dirname(final);
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(final)}.tmp`);
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeFileSync(fd, encodeSchema(schema)); // loops over short writes (writeSync may write less on a full disk)
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, final);
  fsyncDir(dir);
}

async function writeSchemaFileAsync(final: string, schema: MeasurementSchema): Promise<void> {
  const dir = path.dirname(final);
  const temp = path.join(dir, `.${path.basename(final)}.tmp`);
  const handle = await fs.promises.open(temp, 'w');
  try {
    await handle.writeFile(encodeSchema(schema));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temp, final);
  const dirHandle = await fs.promises.open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

function visibleDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && !entry.name.startsWith('_'))
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

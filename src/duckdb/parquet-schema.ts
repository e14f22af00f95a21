import path from 'node:path';
import duckdbApi from '@duckdb/node-api';
import type { ColumnType } from '../columnar/column-batch.js';
import { TIME_COLUMN } from '../columnar/column-batch.js';
import { columnTypeOf } from '../storage/measurement-schemas.js';

/**
 * Column types of a measurement directory's Parquet files, unified the way queries read them
 * (`union_by_name`): for files written before arc-ts kept measurement schemas. One DuckDB instance
 * serves every call; `close` ends it. Null when the directory holds no Parquet file.
 */
export async function openParquetSchemaReader(): Promise<{ read(dir: string): Promise<Map<string, ColumnType> | null>; close(): void }> {
  const instance = await duckdbApi.DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  return {
    async read(dir: string) {
      const glob = path.join(dir, '**', '*.parquet');
      let rows: Array<Record<string, unknown>>;
      try {
        const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${duckdbApi.quotedString(glob)}, union_by_name = true)`);
        rows = reader.getRowObjectsJS() as Array<Record<string, unknown>>;
      } catch (err) {
        if (/No files found/i.test((err as Error).message)) return null;
        throw err;
      }
      const schema = new Map<string, ColumnType>();
      for (const row of rows) {
        const name = String(row.column_name);
        const type = columnTypeOf(String(row.column_type));
        if (name !== TIME_COLUMN && type !== null) schema.set(name, type);
      }
      return schema;
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

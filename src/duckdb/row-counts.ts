import fs from 'node:fs';
import path from 'node:path';
import duckdbApi from '@duckdb/node-api';

/**
 * Rows stored per measurement of one database, counted by DuckDB from the Parquet footers.
 * Used by `arc bench --verify` and by tests; hidden names (".", "_") are not measurements.
 */
export async function countRowsByMeasurement(root: string, database: string): Promise<Record<string, number>> {
  const dir = path.join(root, database);
  const counts: Record<string, number> = {};
  if (!fs.existsSync(dir)) return counts;
  const instance = await duckdbApi.DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const measurement of fs.readdirSync(dir)) {
      if (measurement.startsWith('.') || measurement.startsWith('_')) continue;
      const glob = path.join(dir, measurement, '**', '*.parquet');
      try {
        const reader = await connection.runAndReadAll(
          `SELECT coalesce(sum(num_rows), 0)::BIGINT AS n FROM parquet_file_metadata(${duckdbApi.quotedString(glob)})`,
        );
        counts[measurement] = Number(reader.getRowObjects()[0]!.n);
      } catch (err) {
        if (!/No files found/i.test((err as Error).message)) throw err;
        counts[measurement] = 0;
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return counts;
}

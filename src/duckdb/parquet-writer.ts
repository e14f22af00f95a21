import duckdbApi, { type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import type { ColumnBatch } from '../columnar/column-batch.js';
import type { Compression } from '../config/config.js';
import { BatchLoader } from './batch-loader.js';

const { DuckDBInstance: Instance, quotedString } = duckdbApi;

export interface ParquetWriteOptions {
  compression: Compression;
  /** Parquet key-value metadata, e.g. `arc:tags`. */
  metadata: Readonly<Record<string, string>>;
}

/** Turns rows of a sorted batch into a Parquet file; the caller fsyncs and renames it. */
export interface ParquetEncoder {
  write(batch: ColumnBatch, start: number, end: number, path: string, options: ParquetWriteOptions): Promise<void>;
  close(): void;
}

const CODEC: Record<Compression, string> = { snappy: 'SNAPPY', zstd: 'ZSTD', gzip: 'GZIP', none: 'UNCOMPRESSED' };
const TABLE = 'arc_flush';

/**
 * Parquet through DuckDB: the rows are appended to an in-memory table chunk by chunk (typed
 * arrays copied straight into DuckDB vectors, strings as ENUM ids when the dictionary allows), then
 * `COPY … TO` writes the file on DuckDB's threads. `time` is TIMESTAMPTZ, so the file stores INT64
 * TIMESTAMP(MICROS, isAdjustedToUTC=true) and readers see TIMESTAMP WITH TIME ZONE.
 * One encoder per thread: it owns one connection and one scratch table.
 */
export class DuckDBParquetEncoder implements ParquetEncoder {
  private readonly loader = new BatchLoader();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(threads = 1): Promise<DuckDBParquetEncoder> {
    const instance = await Instance.create(':memory:', { threads: String(threads) });
    const connection = await instance.connect();
    return new DuckDBParquetEncoder(instance, connection);
  }

  async write(batch: ColumnBatch, start: number, end: number, path: string, options: ParquetWriteOptions): Promise<void> {
    try {
      await this.loader.createAndLoad(this.connection, TABLE, batch, start, end);
      const metadata = Object.entries(options.metadata);
      const kv = metadata.length
        ? `, KV_METADATA {${metadata.map(([k, v]) => `${quotedString(k)}: ${quotedString(v)}`).join(', ')}}`
        : '';
      await this.connection.run(
        `COPY ${TABLE} TO ${quotedString(path)} (FORMAT parquet, COMPRESSION ${CODEC[options.compression]}, ROW_GROUP_SIZE 122880${kv})`,
      );
    } finally {
      await this.connection.run(`DROP TABLE IF EXISTS ${TABLE}`);
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

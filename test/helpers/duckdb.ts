import path from 'node:path';
import duckdbApi from '@duckdb/node-api';

export type Row = Record<string, unknown>;

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Reads Parquet files back with DuckDB, the way users will. Values come back as JS values:
 * BIGINT as bigint, DOUBLE as number, TIMESTAMPTZ as µs bigint (via epoch_us in `rows`).
 */
export class Reader {
  private constructor(
    private readonly instance: duckdbApi.DuckDBInstance,
    private readonly connection: duckdbApi.DuckDBConnection,
  ) {}

  static async open(): Promise<Reader> {
    const instance = await duckdbApi.DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    await connection.run("SET TimeZone = 'UTC'"); // ICU loads after creation, so not a creation option
    return new Reader(instance, connection);
  }

  async query(sql: string): Promise<Row[]> {
    const reader = await this.connection.runAndReadAll(sql);
    return reader.getRowObjects() as Row[];
  }

  /**
   * Rows of a measurement (all its files, union by name) ordered by time, with `time` as epoch µs.
   * Strings are fetched as bytes and decoded here: @duckdb/node-api's own VARCHAR conversion drops
   * a leading U+FEFF, and these tests check that stored strings are byte-exact.
   */
  async rows(root: string, database: string, measurement: string, orderBy = 'time'): Promise<Row[]> {
    const source = `read_parquet(${quote(path.join(root, database, measurement, '**', '*.parquet'))}, union_by_name = true)`;
    const types = await this.query(`DESCRIBE SELECT * FROM ${source}`);
    const select = types.map(({ column_name: name, column_type: type }) => {
      const id = `"${String(name).replace(/"/g, '""')}"`;
      if (name === 'time') return `epoch_us(${id}) AS ${id}`;
      return type === 'VARCHAR' ? `encode(${id}) AS ${id}` : id;
    });
    const rows = await this.query(`SELECT ${select.join(', ')} FROM ${source} ORDER BY ${orderBy}`);
    const strings = types.filter((t) => t.column_type === 'VARCHAR').map((t) => String(t.column_name));
    for (const row of rows) {
      for (const name of strings) {
        const value = row[name] as { bytes?: Uint8Array } | null;
        if (value !== null) row[name] = utf8.decode(value.bytes);
      }
    }
    return rows;
  }

  /** Column name → DuckDB type of one file or glob. */
  async types(glob: string): Promise<Record<string, string>> {
    const rows = await this.query(`DESCRIBE SELECT * FROM read_parquet(${quote(glob)}, union_by_name = true)`);
    return Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.column_type)]));
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

export function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

import duckdb from '@duckdb/node-bindings';
import type { DuckDBDataChunk } from '@duckdb/node-api';
// result-reader imports this module: only call-time uses of its exports here, so the cycle is harmless.
import { StringSlots, vectorValidity, type ResultColumn } from './result-reader.js';

const T = duckdb.Type;

/**
 * Nested values (lists, structs, maps, unions) are the one kind of result cell whose size has no
 * bound: `range(1000000)` is a single cell of a million values. Converting such cells on the
 * event loop costs a JS value per element (a result of 300 such rows took the heap past its limit
 * and the server with it). So they are rendered to text by DuckDB itself, on its own threads, and
 * reach this process as strings whose byte lengths are known before anything is converted.
 */
const NESTED = new Set<number>([T.LIST, T.ARRAY, T.STRUCT, T.MAP, T.UNION]);

/** How nested cells are rendered: JSON text (JSON and Arrow results), or DuckDB's text rendering (MessagePack, as in Arc). */
export type NestedRendering = 'json' | 'text';

export function hasNestedColumns(columns: readonly ResultColumn[]): boolean {
  return columns.some((column) => NESTED.has(column.typeId));
}

/**
 * The statement wrapped so that DuckDB renders its nested columns as VARCHAR; marks those columns
 * `rendered`. Positional references (`#k`) keep duplicate or odd column names working; the newline
 * before the closing parenthesis ends a trailing `--` comment.
 */
export function renderNestedSql(sql: string, columns: ResultColumn[], rendering: NestedRendering): string {
  const list = columns.map((column, k) => {
    const name = `"${column.name.replace(/"/g, '""')}"`;
    if (!NESTED.has(column.typeId)) return `#${k + 1} AS ${name}`;
    column.rendered = rendering;
    return `${rendering === 'json' ? `to_json(#${k + 1})` : `CAST(#${k + 1} AS VARCHAR)`} AS ${name}`;
  });
  return `SELECT ${list.join(', ')} FROM (${sql.replace(/;\s*$/, '')}\n) AS __arc_result`;
}

const FIXED_WIDTH: Record<number, number> = {
  [T.BOOLEAN]: 1, [T.TINYINT]: 1, [T.UTINYINT]: 1, [T.SMALLINT]: 2, [T.USMALLINT]: 2,
  [T.INTEGER]: 4, [T.UINTEGER]: 4, [T.FLOAT]: 4, [T.DATE]: 4, [T.ENUM]: 4,
};

/**
 * The bytes a chunk's cells hold (strings by their lengths, other cells by their width): what the
 * chunk costs to encode, known before any cell is converted.
 */
export function chunkBytes(chunk: DuckDBDataChunk, columns: readonly ResultColumn[]): number {
  const rows = chunk.rowCount;
  let bytes = 0;
  for (const [c, column] of columns.entries()) {
    const typeId = column.rendered ? T.VARCHAR : column.typeId;
    if (typeId !== T.VARCHAR && typeId !== T.BLOB) {
      bytes += rows * (FIXED_WIDTH[typeId] ?? 8);
      continue;
    }
    const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
    const valid = vectorValidity(vector, rows);
    const slots = new StringSlots(vector, rows);
    for (let i = 0; i < rows; i++) {
      if (valid === null || (valid[i >>> 3]! & (1 << (i & 7))) !== 0) bytes += slots.length(i);
    }
    bytes += rows;
  }
  return bytes;
}

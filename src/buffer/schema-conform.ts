import type { Column, ColumnBatch, ColumnType } from '../columnar/column-batch.js';
import { ArcError } from '../errors.js';
import { SQL_TYPE, type SchemaStore } from '../storage/measurement-schemas.js';

/**
 * One type per column per measurement: checks a request's batches against the schemas before
 * anything of the request is kept, and returns them as they are to be stored.
 *
 * - A column the measurement has never had takes the type this write gives it (kept from now on).
 * - Integers into a DOUBLE column are widened, as within one request.
 * - Any other difference is a 400 naming the column, the existing type and the sent one; nothing
 *   of the request is kept (all batches are checked before the first schema change).
 * - A column with only NULLs in this request says nothing about its type: it is left out (the
 *   buffer and the files read it as NULL) instead of fixing VARCHAR for good.
 *
 * Unchanged batches are returned as they are, so the common case allocates nothing.
 */
export function conformBatches(schemas: SchemaStore, database: string, batches: readonly ColumnBatch[]): readonly ColumnBatch[] {
  let out: ColumnBatch[] | null = null;
  let additions: Map<string, Map<string, ColumnType>> | null = null;
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]!;
    const schema = schemas.schemaOf(database, batch.measurement);
    const added = additions?.get(batch.measurement);
    let columns: Column[] | null = null;
    for (let c = 0; c < batch.columns.length; c++) {
      const column = batch.columns[c]!;
      let replacement: Column | null | undefined; // undefined: keep, null: leave out
      if (column.type === 'string' && column.dictionary.length === 0) {
        replacement = null;
      } else {
        const existing = schema.get(column.name) ?? added?.get(column.name);
        if (existing === undefined) {
          additions ??= new Map();
          let forMeasurement = additions.get(batch.measurement);
          if (!forMeasurement) additions.set(batch.measurement, (forMeasurement = new Map()));
          forMeasurement.set(column.name, column.type);
        } else if (existing !== column.type) {
          if (existing === 'float64' && column.type === 'int64') replacement = widened(column, batch.rowCount);
          else throw conflict(database, batch.measurement, column.name, existing, column.type);
        }
      }
      if (replacement !== undefined && columns === null) columns = batch.columns.slice(0, c);
      if (columns !== null) {
        if (replacement === undefined) columns.push(column);
        else if (replacement !== null) columns.push(replacement);
      }
    }
    if (columns !== null) {
      out ??= batches.slice(0, b);
      const kept = new Set(columns.map((column) => column.name));
      const tagColumns = batch.tagColumns ? batch.tagColumns.filter((name) => kept.has(name)) : null;
      out.push({ ...batch, columns, tagColumns });
    } else if (out !== null) {
      out.push(batch);
    }
  }
  if (additions !== null) {
    for (const [measurement, columns] of additions) schemas.extend(database, measurement, [...columns]);
  }
  return out ?? batches;
}

function widened(column: Column, rows: number): Column {
  if (column.type !== 'int64') throw new Error('only BIGINT columns widen');
  const values = new Float64Array(rows);
  for (let i = 0; i < rows; i++) values[i] = Number(column.values[i]!);
  return { name: column.name, type: 'float64', values, valid: column.valid };
}

function conflict(database: string, measurement: string, column: string, existing: ColumnType, sent: ColumnType): ArcError {
  return new ArcError(
    'ARC_ERR_SCHEMA_CONFLICT',
    `column '${column}' of measurement '${measurement}' is ${SQL_TYPE[existing]}; this write sends ${SQL_TYPE[sent]} (a column keeps the type its first write gave it)`,
    { database, measurement, column, existing_type: SQL_TYPE[existing], sent_type: SQL_TYPE[sent] },
  );
}

import type { DuckDBValue } from '@duckdb/node-api';
import type { Column, ColumnBatch } from '../columnar/column-batch.js';
import { T, type ResultColumn } from '../duckdb/result-reader.js';
import type { OpenQuery } from '../query/query-service.js';

type Kind = 'time' | 'int64' | 'float64' | 'bool' | 'string';

const INTEGER_TYPES = new Set<number>([T.TINYINT, T.SMALLINT, T.INTEGER, T.BIGINT, T.UTINYINT, T.USMALLINT, T.UINTEGER, T.UBIGINT, T.HUGEINT, T.UHUGEINT]);
const FLOAT_TYPES = new Set<number>([T.FLOAT, T.DOUBLE, T.DECIMAL]);
const TIME_TYPES = new Set<number>([T.TIMESTAMP, T.TIMESTAMP_TZ]);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function kindOf(column: ResultColumn): Kind {
  if (column.name === 'time') {
    if (TIME_TYPES.has(column.typeId) || column.typeId === T.BIGINT || column.typeId === T.INTEGER) return 'time';
    throw new Error(`output column "time" must be a TIMESTAMP or µs integer; cast it in the query`);
  }
  if (INTEGER_TYPES.has(column.typeId)) return 'int64';
  if (FLOAT_TYPES.has(column.typeId)) return 'float64';
  if (column.typeId === T.BOOLEAN) return 'bool';
  if (column.typeId === T.VARCHAR || column.typeId === T.ENUM) return 'string';
  throw new Error(`unsupported column type for output column "${column.name}" (only integers, floats, booleans, strings and time); cast it in the query`);
}

/**
 * A CQ result as one ColumnBatch for the destination: `time` from the result (µs), or the window
 * start when the query has none (as Arc since #521); every row must fall in the window, or a later
 * re-run could not replace it. Tag columns are the declared ones the result has (`arc:tags`).
 */
export async function collectOutput(query: OpenQuery, measurement: string, startUs: number, endUs: number, declaredTags: readonly string[] | null): Promise<ColumnBatch> {
  const kinds = query.columns.map(kindOf);
  const timeIndex = query.columns.findIndex((c) => c.name === 'time');
  const times: bigint[] = [];
  const values: Array<Array<DuckDBValue>> = query.columns.map(() => []);
  for (let chunk = await query.next(); chunk !== null; chunk = await query.next()) {
    for (const row of chunk.getRows()) {
      for (let c = 0; c < row.length; c++) values[c]!.push(row[c]!);
      if (timeIndex < 0) times.push(BigInt(startUs));
      else {
        const value = row[timeIndex];
        if (value === null || value === undefined) throw new Error('output column "time" is NULL in a row');
        const micros = typeof value === 'object' && value !== null && 'micros' in value ? (value as { micros: bigint }).micros : BigInt(value as number | bigint);
        if (micros < BigInt(startUs) || micros >= BigInt(endUs)) {
          throw new Error(`output row time ${new Date(Number(micros / 1000n)).toISOString()} is outside the window; bucket by the CQ's interval or finer`);
        }
        times.push(micros);
      }
    }
  }
  const n = times.length;
  const columns: Column[] = [];
  query.columns.forEach((column, c) => {
    const kind = kinds[c]!;
    if (kind === 'time') return;
    columns.push(toColumn(column.name, kind, values[c]!, n));
  });
  columns.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const names = new Set(columns.map((c) => c.name));
  const tags = (declaredTags ?? []).filter((tag) => names.has(tag)).sort();
  return { measurement, rowCount: n, time: BigInt64Array.from(times), columns, tagColumns: tags.length > 0 ? tags : null };
}

function toColumn(name: string, kind: Exclude<Kind, 'time'>, values: DuckDBValue[], n: number): Column {
  const valid = new Uint8Array(n);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    if (values[i] === null) nulls++;
    else valid[i] = 1;
  }
  const validity = nulls === 0 ? null : valid;
  switch (kind) {
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null) continue;
        const big = BigInt(v as number | bigint);
        if (big < INT64_MIN || big > INT64_MAX) throw new Error(`output column "${name}" holds ${big}, beyond 64-bit integers; cast it to DOUBLE`);
        out[i] = big;
      }
      return { name, type: 'int64', values: out, valid: validity };
    }
    case 'float64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null) continue;
        out[i] = typeof v === 'number' ? v : (v as { toDouble(): number }).toDouble();
      }
      return { name, type: 'float64', values: out, valid: validity };
    }
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = values[i] === true ? 1 : 0;
      return { name, type: 'bool', values: out, valid: validity };
    }
    case 'string': {
      const dictionary: string[] = [];
      const index = new Map<string, number>();
      const ids = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null) continue;
        const text = String(v);
        let id = index.get(text);
        if (id === undefined) {
          id = dictionary.length;
          dictionary.push(text);
          index.set(text, id);
        }
        ids[i] = id;
      }
      return { name, type: 'string', ids, dictionary, valid: validity };
    }
  }
}

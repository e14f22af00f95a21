import duckdb from '@duckdb/node-bindings';
import { ArcError } from '../errors.js';
import { aligned, T, vectorNumbers, type ResultColumn } from './result-reader.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The raw integer of row i of a DECIMAL, HUGEINT or UHUGEINT vector (before the scale). */
export function decimalReader(vector: duckdb.Vector, column: ResultColumn, rows: number): (i: number) => bigint | number {
  const storage = column.typeId === T.DECIMAL ? column.decimalStorage! : column.typeId;
  if (storage === T.HUGEINT || storage === T.UHUGEINT) {
    // DuckDB's hugeint: lower 64 bits unsigned, upper 64 bits signed (unsigned for UHUGEINT)
    const words = aligned(duckdb.vector_get_data(vector, rows * 16), BigUint64Array, rows * 2);
    const signed = storage === T.HUGEINT;
    return (i) => ((signed ? BigInt.asIntN(64, words[2 * i + 1]!) : words[2 * i + 1]!) << 64n) | words[2 * i]!;
  }
  const values = vectorNumbers(vector, storage, rows);
  return (i) => values[i]!;
}

/** Scale 0 as int64 (refusing values beyond its range, as Arc's cast does), else as float64. */
export function checkedInt64(value: bigint | number, column: ResultColumn, row: number): bigint {
  const big = BigInt(value);
  if (big < INT64_MIN || big > INT64_MAX) {
    throw new ArcError('ARC_ERR_QUERY_FAILED', `decimal cast failed at row ${row}: ${big} does not fit in int64 (column "${column.name}")`);
  }
  return big;
}

export function decimalScale(column: ResultColumn): number {
  return column.typeId === T.DECIMAL ? column.scale! : 0;
}

/** A DECIMAL/HUGEINT column of one chunk as Arrow values: BigInt64Array for scale 0, Float64Array otherwise. */
export function decimalValues(vector: duckdb.Vector, column: ResultColumn, rows: number, valid: Uint8Array | null, firstRow: number): BigInt64Array | Float64Array {
  const read = decimalReader(vector, column, rows);
  const scale = decimalScale(column);
  const isNull = (i: number) => valid !== null && (valid[i >>> 3]! & (1 << (i & 7))) === 0;
  if (scale > 0) {
    const divisor = 10 ** scale;
    const out = new Float64Array(rows);
    for (let i = 0; i < rows; i++) if (!isNull(i)) out[i] = Number(read(i)) / divisor;
    return out;
  }
  const out = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) if (!isNull(i)) out[i] = checkedInt64(read(i), column, firstRow + i);
  return out;
}

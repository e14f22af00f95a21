import { ArcError } from '../errors.js';

const DATABASE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const MEASUREMENT_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,127}$/;
export const DEFAULT_DATABASE = 'default';

export function isValidDatabaseName(name: string): boolean {
  return DATABASE_NAME.test(name);
}

/** arc-spec §5 step 5: `^[A-Za-z][A-Za-z0-9_-]{0,63}$`. */
export function checkDatabaseName(name: string): void {
  if (!DATABASE_NAME.test(name)) {
    throw new ArcError(
      'ARC_ERR_INVALID_DATABASE',
      'invalid database name: must start with a letter and contain only alphanumeric characters, underscores, or hyphens (max 64 characters)',
      { database: name },
    );
  }
}

export function isValidMeasurementName(name: string): boolean {
  return MEASUREMENT_NAME.test(name);
}

/** arc-spec §5 step 6: `^[a-zA-Z][a-zA-Z0-9_-]*$`, 1..128 characters. */
export function measurementNameError(name: string): string {
  return `invalid measurement name ${JSON.stringify(name)}: must start with a letter and contain only alphanumeric characters, underscores, or hyphens`;
}

/** Longest column name accepted; DuckDB and Parquet allow more, but nobody's tooling does. */
export const MAX_COLUMN_NAME_LENGTH = 255;

/**
 * Why a set of column names cannot share one Parquet file that DuckDB reads as a table: empty or
 * overlong names, or two names that differ only in case (SQL identifiers ignore case).
 * Returns null when the names are fine.
 */
export function columnNamesProblem(names: readonly string[]): string | null {
  const seen = new Map<string, string>();
  for (const name of names) {
    if (name.length === 0) return 'a column name is empty';
    if (name.length > MAX_COLUMN_NAME_LENGTH) return `column name '${name.slice(0, 40)}…' is longer than ${MAX_COLUMN_NAME_LENGTH} characters`;
    const folded = name.toLowerCase();
    const other = seen.get(folded);
    if (other !== undefined) return `columns '${other}' and '${name}' differ only in case, which SQL cannot tell apart`;
    seen.set(folded, name);
  }
  return null;
}

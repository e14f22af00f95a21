import fs from 'node:fs';
import path from 'node:path';

export const DATABASE_MARKER = '.arc-database';

/**
 * Databases with a directory: top-level directories with a valid name, not hidden. Databases made
 * by POST /api/v1/databases have one before they have any file; the file catalog lists the rest.
 */
export function listDatabases(root: string): string[] {
  try {
    return fs
      .readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && !entry.name.startsWith('_'))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

/** When the database was created with POST /api/v1/databases (its marker), if it was. */
export function databaseCreatedAt(root: string, database: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, database, DATABASE_MARKER), 'utf8')) as { created_at?: string }).created_at ?? null;
  } catch {
    return null;
  }
}

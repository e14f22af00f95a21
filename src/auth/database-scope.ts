import { ArcError } from '../errors.js';
import type { Principal } from './auth-service.js';

/**
 * Tokens scoped to databases (beyond Arc, whose free edition has none). A token may carry a list of
 * databases; every route that reads or changes a database's data checks it through these functions,
 * whatever the token's permissions (admin included). A token without a list (every Arc token, and
 * a request while authentication is off: principal null) reaches every database.
 *
 * Routes that span every database at once (backups, token management, flushing every buffer,
 * profiling the process, compaction listings) are refused to scoped tokens as a whole
 * (requireAllDatabases): they cannot be narrowed to a set of databases.
 */

/** Whether the request may touch `database`. */
export function canReach(principal: Principal | null | undefined, database: string): boolean {
  return !principal?.databases || principal.databases.has(database);
}

export function isScoped(principal: Principal | null | undefined): boolean {
  return Boolean(principal?.databases);
}

/** Throws 403 ARC_ERR_DATABASE_FORBIDDEN unless the request may touch `database`. */
export function requireDatabase(principal: Principal | null | undefined, database: string): void {
  if (canReach(principal, database)) return;
  const allowed = [...principal!.databases!].sort();
  throw new ArcError(
    'ARC_ERR_DATABASE_FORBIDDEN',
    `token '${principal!.name}' is scoped to database${allowed.length === 1 ? '' : 's'} ${allowed.join(', ')}; it cannot reach database '${database}'`,
    { database, allowed_databases: allowed },
  );
}

/** requireDatabase for each of `databases`, the first refused one named. */
export function requireDatabases(principal: Principal | null | undefined, databases: Iterable<string>): void {
  if (!isScoped(principal)) return;
  for (const database of databases) requireDatabase(principal, database);
}

/** Throws 403 ARC_ERR_ALL_DATABASES_REQUIRED for a scoped token: `what` spans every database. */
export function requireAllDatabases(principal: Principal | null | undefined, what: string): void {
  if (!isScoped(principal)) return;
  const allowed = [...principal!.databases!].sort();
  throw new ArcError(
    'ARC_ERR_ALL_DATABASES_REQUIRED',
    `${what} spans every database; token '${principal!.name}' is scoped to ${allowed.join(', ')} and cannot use it (use a token without a database list)`,
    { allowed_databases: allowed },
  );
}

/** The entries of `items` whose database the request may see (listings are filtered, not refused). */
export function reachable<T>(principal: Principal | null | undefined, items: readonly T[], databaseOf: (item: T) => string): T[] {
  if (!isScoped(principal)) return [...items];
  return items.filter((item) => canReach(principal, databaseOf(item)));
}

/** The check a query runs on the databases its statement references; undefined when every database is allowed. */
export function databaseAuthorizer(principal: Principal | null | undefined): ((databases: readonly string[]) => void) | undefined {
  if (!isScoped(principal)) return undefined;
  return (databases) => requireDatabases(principal, databases);
}

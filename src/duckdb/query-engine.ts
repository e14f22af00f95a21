import duckdbApi, { type DuckDBConnection, type DuckDBInstance, type DuckDBPreparedStatement, type DuckDBResult } from '@duckdb/node-api';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { BatchLoader } from './batch-loader.js';

const { DuckDBInstance: Instance, quotedIdentifier, quotedString } = duckdbApi;

export interface QueryEngineOptions {
  /** The storage root: the only directory user SQL may read. */
  root: string;
  threads: number;
  /** DuckDB memory_limit, e.g. "4GB"; undefined keeps DuckDB's default (80% of RAM). */
  memoryLimit?: string | undefined;
  /** Queries that may run at once (one connection each). */
  connections: number;
  /**
   * Keep Parquet footers in memory between queries (DuckDB's LRU-bounded cache). Safe because a
   * file is never rewritten in place: a flush publishes a new name.
   */
  parquetMetadataCache: boolean;
}

/** DuckDB's parse of a SQL text: the statements as JSON ASTs, or why it could not be parsed. */
export type ParsedSql =
  | { ok: true; statements: Array<Record<string, unknown>> }
  | { ok: false; errorType: string; message: string };

/**
 * The DuckDB instance that answers queries. User SQL runs sandboxed: DuckDB may read only the
 * storage root (`allowed_directories`, `enable_external_access = false`) and the configuration is
 * locked, so no statement can widen that. Queries run on DuckDB's threads; the event loop only
 * converts result chunks.
 */
export class QueryEngine {
  private readonly idle: QuerySession[] = [];
  private readonly waiting: Array<(session: QuerySession) => void> = [];
  private utilityQueue: Promise<unknown> = Promise.resolve();
  private readonly size: number;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly utility: DuckDBConnection,
    sessions: QuerySession[],
  ) {
    this.idle.push(...sessions);
    this.size = sessions.length;
  }

  /** Sessions not idle in the pool: running a query, or still finishing one that was stopped or abandoned. */
  get inUse(): number {
    return this.size - this.idle.length;
  }

  static async open(options: QueryEngineOptions): Promise<QueryEngine> {
    const config: Record<string, string> = { threads: String(options.threads) };
    if (options.memoryLimit) config.memory_limit = options.memoryLimit;
    // Without them, memory a large query freed stays in the allocator's caches (9.5 GB of RSS was
    // still held a minute after a refused 300-row list result); with them it goes back to the OS.
    config.allocator_background_threads = 'true';
    const instance = await Instance.create(':memory:', config);
    const setup = await instance.connect();
    await setup.run("SET GLOBAL TimeZone = 'UTC'");
    await setup.run(`SET GLOBAL allowed_directories = [${quotedString(withSlash(options.root))}]`);
    await setup.run(`SET GLOBAL parquet_metadata_cache = ${options.parquetMetadataCache}`);
    await setup.run('SET GLOBAL enable_external_access = false');
    const sessions: QuerySession[] = [];
    for (let i = 0; i < options.connections; i++) sessions.push(new QuerySession(await instance.connect()));
    await setup.run('SET GLOBAL lock_configuration = true');
    return new QueryEngine(instance, setup, sessions);
  }

  /** DuckDB's own parser: the AST of every statement (only SELECT-like statements can be serialised). */
  async parse(sql: string): Promise<ParsedSql> {
    const [row] = await this.utilityRows(`SELECT json_serialize_sql(${quotedString(sql)}) AS ast`);
    const ast = parseExactJson(String(row!.ast)) as { error: boolean; error_type?: string; error_message?: string; statements?: Array<Record<string, unknown>> };
    if (ast.error) return { ok: false, errorType: ast.error_type ?? 'error', message: ast.error_message ?? 'cannot parse' };
    return { ok: true, statements: ast.statements ?? [] };
  }

  /** SQL text of a statement AST (after rewriting). */
  async toSql(statement: Record<string, unknown>): Promise<string> {
    const json = stringifyExactJson({ error: false, statements: [statement] });
    const [row] = await this.utilityRows(`SELECT json_deserialize_sql(${quotedString(json)}) AS sql`);
    return String(row!.sql);
  }

  /** Runs a small statement on the utility connection (parsing, constant folding). */
  async utilityRows(sql: string): Promise<Array<Record<string, unknown>>> {
    const run = this.utilityQueue.then(async () => (await this.utility.runAndReadAll(sql)).getRowObjects() as Array<Record<string, unknown>>);
    this.utilityQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * A session for one query; give it back with `release`. Waits when all are busy; an abort of
   * `signal` while waiting rejects with the signal's reason (a client that left takes no session).
   */
  acquire(signal?: AbortSignal): Promise<QuerySession> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const session = this.idle.pop();
    if (session) return Promise.resolve(session);
    return new Promise((resolve, reject) => {
      const waiter = (granted: QuerySession) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(granted);
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  async release(session: QuerySession): Promise<void> {
    await session.cleanup();
    const next = this.waiting.shift();
    if (next) next(session);
    else this.idle.push(session);
  }

  close(): void {
    for (const session of this.idle) session.connection.closeSync();
    this.utility.closeSync();
    this.instance.closeSync();
  }
}

/** One connection, the temporary tables and views a query created on it, and a way to stop it. */
export class QuerySession {
  private readonly loader = new BatchLoader();
  private readonly temporary: string[] = [];

  constructor(readonly connection: DuckDBConnection) {}

  /** Loads rows (buffered, not yet in files) into a temporary table dropped when the session is released. */
  async loadTable(name: string, batch: ColumnBatch): Promise<void> {
    this.temporary.push(name);
    await this.loader.createAndLoad(this.connection, name, batch, 0, batch.rowCount, true);
  }

  /** A small statement's rows, on this session: `interrupt` stops it, and no other query waits behind it. */
  async rows(sql: string): Promise<Array<Record<string, unknown>>> {
    return (await this.connection.runAndReadAll(sql)).getRowObjects() as Array<Record<string, unknown>>;
  }

  stream(sql: string): Promise<DuckDBResult> {
    return this.connection.stream(sql);
  }

  /** Parsed, bound and planned, not run: the result's columns are known before any row is made. */
  prepare(sql: string): Promise<DuckDBPreparedStatement> {
    return this.connection.prepare(sql);
  }

  interrupt(): void {
    this.connection.interrupt();
  }

  async cleanup(): Promise<void> {
    for (const name of this.temporary) {
      await this.connection.run(`DROP TABLE IF EXISTS ${quotedIdentifier(name)}`).catch(() => undefined);
    }
    this.temporary.length = 0;
  }
}

/**
 * The AST JSON carries 64-bit integers (UINT64_MAX as "no location", BIGINT constants) that a
 * double cannot hold: a round trip through JSON.parse would change `n = 9007199254740993` into a
 * different query. Integer tokens of 16 or more digits travel as marked strings instead.
 */
export function parseExactJson(text: string): unknown {
  let out = '';
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // skip a string literal (escapes included)
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++;
      const token = text.slice(i, j);
      if (/^-?\d{16,}$/.test(token)) {
        out += `${text.slice(last, i)}"\\u0000int:${token}"`; // a JSON escape: the value starts with NUL
        last = j;
      }
      i = j - 1;
    }
  }
  return JSON.parse(out + text.slice(last));
}

export function stringifyExactJson(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000int:(-?\d+)"/g, '$1');
}

function withSlash(dir: string): string {
  return dir.endsWith('/') ? dir : `${dir}/`;
}

export { quotedIdentifier, quotedString };

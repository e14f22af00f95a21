import type { DuckDBDataChunk, DuckDBResult } from '@duckdb/node-api';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { quotedIdentifier, quotedString, type QueryEngine, type QuerySession } from '../duckdb/query-engine.js';
import { resultColumns, type ResultColumn } from '../duckdb/result-reader.js';
import { ArcError } from '../errors.js';
import type { Logger } from '../log.js';
import { boundsOf, planQuery, rewriteTables, type AstNode, type TableReference } from './sql-plan.js';
import { latestFiles, selectFiles, stampText } from './storage-files.js';

/** What the buffers know that the files do not (yet): see BufferManager.unflushed. */
export interface UnflushedRows {
  unflushed(database: string, measurement: string): { batches: ColumnBatch[]; stamps: bigint[] };
}

export interface QueryOptions {
  timeoutMs: number;
  slowQueryMs: number;
}

export interface QueryInput {
  sql: string;
  /** x-arc-database, or "default". */
  database: string;
  /** Whether x-arc-database was sent (Arc then refuses db.table names). */
  headerDatabase: boolean;
}

/** Per table of a query: where its rows came from. Sent back with `x-arc-profile: true`. */
export interface SourceProfile {
  database: string;
  measurement: string;
  /** Parquet files read (null when the whole measurement was globbed). */
  files: number | null;
  /** Hour directories looked at when the query's time range was used to prune. */
  hours: number | null;
  buffered_rows: number;
}

/** A running query: its columns, then its chunks; always `close` it. */
export interface OpenQuery {
  columns: ResultColumn[];
  next(): Promise<DuckDBDataChunk | null>;
  close(): Promise<void>;
  sources: SourceProfile[];
}

const MAX_SQL_LENGTH = 10_000;
/** Widening of time bounds: `now()` in the query is read a moment after we evaluate it. */
const BOUND_MARGIN_US = 60_000_000;
const CLIENT_ERRORS = /^(Binder|Catalog|Parser|Conversion|Invalid Input|Out of Range|Not implemented|Permission|Syntax) Error/i;

/**
 * Runs user SQL over the stored measurements (arc-spec §9). Table names are resolved to the
 * database's files, pruned by the query's own `time` conditions, joined with the rows still in
 * memory — so a query sees every write acknowledged before it began.
 */
export class QueryService {
  private nextId = 1;
  private template: AstNode | null = null;

  constructor(
    private readonly engine: QueryEngine,
    private readonly root: string,
    private readonly memory: UnflushedRows,
    private readonly options: QueryOptions,
    private readonly log: Logger,
  ) {}

  /** Plans and starts a query; throws ArcError for refused SQL, failures and time-outs. */
  async open(input: QueryInput): Promise<OpenQuery> {
    const started = performance.now();
    const { statement, explain } = await this.parse(input.sql);
    const plan = planQuery(statement, input.database, input.headerDatabase);
    const bounds = boundsOf(plan.conditions, await this.evaluateTimes(plan.conditions.map((c) => c.expression)), BOUND_MARGIN_US);

    const id = this.nextId++;
    const session = await this.engine.acquire();
    let timer: NodeJS.Timeout | null = null;
    let timedOut = false;
    const names = new Map<string, string>();
    try {
      const views = new Map<TableReference, string>();
      const sources: SourceProfile[] = [];
      let missing = 0;
      for (const [k, table] of plan.tables.entries()) {
        const view = `__arc_q${id}_t${k}`;
        names.set(view, table.measurement);
        const range = bounds.get(table) ?? { lo: null, hi: null };
        const source = await this.createView(session, view, table, range.lo, range.hi);
        if (source === null) missing++;
        sources.push(source ?? { database: table.database, measurement: table.measurement, files: 0, hours: null, buffered_rows: 0 });
        views.set(table, view);
      }
      if (plan.tables.length > 0 && missing === plan.tables.length) {
        // Arc answers a query on measurements without data with an empty result, not an error.
        await this.engine.release(session);
        return emptyQuery(sources);
      }
      rewriteTables(views);
      const sql = `${explain}${await this.engine.toSql(statement)}`;
      timer = setTimeout(() => {
        timedOut = true;
        session.interrupt();
      }, this.options.timeoutMs);
      let result: DuckDBResult;
      try {
        result = await session.stream(sql);
      } catch (err) {
        if (missing > 0 && /^Binder Error/.test((err as Error).message)) {
          clearTimeout(timer);
          await this.engine.release(session);
          return emptyQuery(sources); // a missing measurement has no columns to bind
        }
        throw err;
      }
      const columns = resultColumns(result);
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        clearTimeout(timer!);
        const elapsed = performance.now() - started;
        if (this.options.slowQueryMs > 0 && elapsed >= this.options.slowQueryMs) this.log.warn('slow query', { ms: Math.round(elapsed), sql: input.sql });
        await this.engine.release(session);
      };
      return {
        columns,
        sources,
        close,
        next: async () => {
          try {
            const chunk = await result.fetchChunk();
            return chunk && chunk.rowCount > 0 ? chunk : null;
          } catch (err) {
            throw this.failure(err, timedOut, names);
          }
        },
      };
    } catch (err) {
      if (timer) clearTimeout(timer);
      await this.engine.release(session);
      throw this.failure(err, timedOut, names);
    }
  }

  /** DuckDB's parse: exactly one SELECT (or EXPLAIN of one). */
  private async parse(sql: string): Promise<{ statement: AstNode; explain: string }> {
    if (sql.trim() === '') throw new ArcError('ARC_ERR_BAD_QUERY', 'SQL query is required');
    if (sql.length > MAX_SQL_LENGTH) throw new ArcError('ARC_ERR_BAD_QUERY', `SQL query exceeds maximum length (${MAX_SQL_LENGTH} characters)`);
    const explainMatch = /^\s*EXPLAIN(\s+ANALYZE)?\s+/i.exec(stripComments(sql));
    const body = explainMatch ? stripComments(sql).slice(explainMatch[0].length) : sql;
    const parsed = await this.engine.parse(body);
    if (!parsed.ok) {
      if (/Only SELECT statements/i.test(parsed.message)) throw new ArcError('ARC_ERR_BAD_QUERY', 'Dangerous SQL operation not allowed');
      throw new ArcError('ARC_ERR_BAD_QUERY', parsed.message);
    }
    if (parsed.statements.length > 1) throw new ArcError('ARC_ERR_BAD_QUERY', 'Multiple SQL statements are not allowed');
    if (parsed.statements.length === 0) throw new ArcError('ARC_ERR_BAD_QUERY', 'SQL query is required');
    return { statement: parsed.statements[0]!, explain: explainMatch ? `EXPLAIN${explainMatch[1] ? ' ANALYZE' : ''} ` : '' };
  }

  /** µs since the epoch of each constant expression compared with `time` (null when not a timestamp). */
  private async evaluateTimes(expressions: AstNode[]): Promise<Array<number | null>> {
    if (expressions.length === 0) return [];
    try {
      this.template ??= await this.selectTemplate();
      const statement = structuredClone(this.template);
      (statement.node as AstNode).select_list = expressions.map((expression, i) => ({ ...expression, alias: `c${i}` }));
      const constants = await this.engine.toSql(statement);
      const select = expressions.map((_, i) => `epoch_us(TRY_CAST(c${i} AS TIMESTAMPTZ)) AS c${i}`).join(', ');
      const [row] = await this.engine.utilityRows(`SELECT ${select} FROM (${constants}) AS constants`);
      return expressions.map((_, i) => {
        const value = row?.[`c${i}`];
        return value === null || value === undefined ? null : Number(value);
      });
    } catch {
      return expressions.map(() => null); // not prunable; the WHERE still filters every row
    }
  }

  private async selectTemplate(): Promise<AstNode> {
    const parsed = await this.engine.parse('SELECT 1 AS c0');
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.statements[0]!;
  }

  /**
   * The view a table reference reads: its Parquet files (pruned to [lo, hi]) and its rows in
   * memory, the latter as temporary tables; null when there is neither.
   */
  private async createView(session: QuerySession, view: string, table: TableReference, lo: number | null, hi: number | null): Promise<SourceProfile | null> {
    const memory = this.memory.unflushed(table.database, table.measurement);
    const skip = new Set(memory.stamps.map(stampText));
    const files = selectFiles(this.root, table.database, table.measurement, lo, hi, skip);
    const parts: string[] = [];
    let bufferedRows = 0;
    for (const [j, batch] of memory.batches.entries()) {
      const name = `${view}_b${j}`;
      await session.loadTable(name, batch);
      bufferedRows += batch.rowCount;
      // Buffered strings load as ENUMs (fast); as VARCHAR they compare and sort like the files' strings.
      const strings = batch.columns.filter((c) => c.type === 'string').map((c) => `CAST(${quotedIdentifier(c.name)} AS VARCHAR) AS ${quotedIdentifier(c.name)}`);
      parts.push(`SELECT *${strings.length ? ` REPLACE (${strings.join(', ')})` : ''} FROM ${quotedIdentifier(name)}`);
    }
    const fileSource = files.glob ? quotedString(files.glob) : files.files && files.files.length > 0 ? `[${files.files.map(quotedString).join(', ')}]` : null;
    const profile: SourceProfile = { database: table.database, measurement: table.measurement, files: files.files ? files.files.length : null, hours: files.hours, buffered_rows: bufferedRows };
    if (fileSource) {
      const fromFiles = `SELECT * FROM read_parquet(${fileSource}, union_by_name = true)`;
      try {
        await session.createView(view, [fromFiles, ...parts].join(' UNION ALL BY NAME '));
        return profile;
      } catch (err) {
        if (!/No files found/i.test((err as Error).message)) throw err; // a glob over an empty measurement
        profile.files = 0;
      }
    }
    if (parts.length === 0) {
      // No row can match: an empty relation, with the measurement's columns when it has files at all.
      const schema = latestFiles(this.root, table.database, table.measurement);
      if (schema.length === 0) {
        await session.createView(view, `SELECT CAST(NULL AS TIMESTAMPTZ) AS "time" WHERE false`);
        return null;
      }
      await session.createView(view, `SELECT * FROM read_parquet([${schema.map(quotedString).join(', ')}], union_by_name = true) WHERE false`);
      return profile;
    }
    await session.createView(view, parts.join(' UNION ALL BY NAME '));
    return profile;
  }

  /** A DuckDB error as the client should see it: our view names replaced by the user's table names. */
  private failure(err: unknown, timedOut: boolean, names: ReadonlyMap<string, string>): ArcError {
    if (err instanceof ArcError) return err;
    if (timedOut) return new ArcError('ARC_ERR_QUERY_TIMEOUT', 'Query timed out');
    let message = err instanceof Error ? err.message : String(err);
    message = message.replace(/__arc_q\d+_t\d+(_b\d+)?/g, (view) => names.get(view.replace(/_b\d+$/, '')) ?? view);
    return new ArcError(CLIENT_ERRORS.test(message) ? 'ARC_ERR_BAD_QUERY' : 'ARC_ERR_QUERY_FAILED', message);
  }
}

function emptyQuery(sources: SourceProfile[]): OpenQuery {
  return { columns: [], sources, next: async () => null, close: async () => {} };
}

/** Removes SQL comments (double dash to end of line, slash-star blocks) outside string literals. */
export function stripComments(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end - 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 1;
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

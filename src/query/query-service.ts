import { randomBytes } from 'node:crypto';
import type { DuckDBDataChunk, DuckDBResult } from '@duckdb/node-api';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { quotedIdentifier, quotedString, type QueryEngine } from '../duckdb/query-engine.js';
import { chunkBytes, hasNestedColumns, renderNestedSql, type NestedRendering } from '../duckdb/result-limits.js';
import { resultColumns, type ResultColumn } from '../duckdb/result-reader.js';
import { ArcError } from '../errors.js';
import { holdPoint } from '../hold-point.js';
import type { Logger } from '../log.js';
import { QueryRun, queryCancelled } from './query-run.js';
import { boundsOf, planQuery, replaceTablesWithCalls, type AstNode, type TimeOperator } from './sql-plan.js';
import type { FileCatalog, FileSnapshot } from '../storage/catalog.js';

/** What the buffers know that the files do not (yet): see BufferManager.unflushed. */
export interface UnflushedRows {
  unflushed(database: string, measurement: string): { batches: ColumnBatch[]; stamps: bigint[] };
}

export interface QueryOptions {
  timeoutMs: number;
  slowQueryMs: number;
  /** Largest result (chunkBytes summed) before ARC_ERR_RESULT_TOO_LARGE; 0 = no limit. */
  maxResultBytes: number;
}

export interface QueryInput {
  sql: string;
  /** x-arc-database, or "default". */
  database: string;
  /** Whether x-arc-database was sent (Arc then refuses db.table names). */
  headerDatabase: boolean;
  /** Aborted when the client went away: the query is interrupted and fails with ARC_ERR_QUERY_CANCELLED. */
  signal?: AbortSignal;
  /**
   * Called with the database of every table the statement references (joins, subqueries and CTEs
   * included) before anything is read; throws to refuse the query. Absent: every database.
   */
  authorize?: (databases: readonly string[]) => void;
  /** How list, struct and map cells are rendered (see result-limits.ts); JSON text by default. */
  nested?: NestedRendering;
}

/** Per table of a query: where its rows came from. Sent back with `x-arc-profile: true`. */
export interface SourceProfile {
  database: string;
  measurement: string;
  /** Parquet files read. */
  files: number;
  /** Partitions (hour or day directories) the files come from, after pruning by the query's time range. */
  hours: number;
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
/** Distinct SQL texts whose preparation is kept (dashboards repeat the same few queries). */
const PREPARED_CACHE_SIZE = 512;

/** What a SQL text becomes once, whatever the files hold: reused for every run of the same text. */
interface PreparedQuery {
  tables: Array<{ database: string; measurement: string }>;
  /** See QueryPlan.unknownSource. */
  unknownSource: string | null;
  /** The statement as DuckDB prints it, each table replaced by a call of `placeholders[k]`. */
  template: string;
  placeholders: string[];
  conditions: Array<{ table: number; operator: TimeOperator; literal: boolean }>;
  /** One row: each condition's value in µs since the epoch (null when not a time); null without conditions. */
  timesSql: string | null;
  /** The condition values, when they are all literals and so cannot change. */
  literalTimes: Array<number | null> | null;
}

/**
 * Runs user SQL over the stored measurements (arc-spec §9). Table names are resolved to the
 * database's files, pruned by the query's own `time` conditions, joined with the rows still in
 * memory — so a query sees every write acknowledged before it began.
 *
 * A SQL text is parsed, checked and printed back by DuckDB once (the AST walk needs its parser);
 * later runs of the same text only substitute the files of the moment, so a repeated query costs
 * DuckDB no more than the query itself.
 */
export class QueryService {
  private nextId = 1;
  private readonly prepared = new Map<string, PreparedQuery>();
  private templates: { select: AstNode; call: AstNode } | null = null;
  /** Placeholder names no user SQL can produce (table functions outside the allowed list are refused anyway). */
  private readonly placeholderPrefix = `__arc_src_${randomBytes(6).toString('hex')}_`;

  constructor(
    private readonly engine: QueryEngine,
    private readonly catalog: FileCatalog,
    private readonly memory: UnflushedRows,
    private readonly options: QueryOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Plans and starts a query; throws ArcError for refused SQL, failures, time-outs and cancels.
   * Everything DuckDB does for it after planning (time constants, loading buffered rows, running,
   * fetching) runs on the query's own session under its time limit and can be interrupted.
   */
  async open(input: QueryInput): Promise<OpenQuery> {
    const started = performance.now();
    const prepared = await this.prepare(input);
    if (input.authorize) {
      if (prepared.unknownSource !== null) {
        throw new ArcError('ARC_ERR_DATABASE_FORBIDDEN', `cannot tell which databases this statement reads (a ${prepared.unknownSource} source); a token scoped to databases cannot run it`);
      }
      input.authorize(prepared.tables.map((table) => table.database));
    }

    const id = this.nextId++;
    const session = await this.engine.acquire(input.signal).catch(() => {
      throw queryCancelled();
    });
    const run = new QueryRun(this.engine, session, this.options.timeoutMs, input.signal);
    let snapshots: TableSnapshot[] = [];
    const releaseSnapshots = () => {
      for (const snapshot of snapshots) {
        snapshot.files.release();
        snapshot.schema?.release();
      }
    };
    const names = new Map<string, string>();
    try {
      // Non-literal constants (`now() - INTERVAL 1 hour`, or anything a client writes) are evaluated
      // here, on this session under the timer: an expensive one is stopped like the query itself.
      const times = prepared.literalTimes ?? (prepared.timesSql ? await this.evaluateTimes(run, prepared.timesSql, prepared.conditions.length) : []);
      const bounds = boundsOf(prepared.conditions, times, BOUND_MARGIN_US);
      // The query's view of the data, taken in one synchronous step: rows in memory and the files of
      // the catalog, so no flush can land between them (each row is seen once). The files stay
      // pinned, so a compaction swapping them out cannot unlink them under the query.
      snapshots = prepared.tables.map((table, k) => {
        const range = bounds.get(k) ?? { lo: null, hi: null };
        return this.snapshotOf(table, range.lo, range.hi);
      });
      await holdPoint('query-snapshot'); // tests: files pinned, nothing read yet
      let sql = prepared.template;
      const sources: SourceProfile[] = [];
      let missing = 0;
      for (const [k, table] of prepared.tables.entries()) {
        const prefix = `__arc_q${id}_t${k}`;
        names.set(prefix, table.measurement);
        const source = await this.sourceOf(run, prefix, table, snapshots[k]!);
        if (source.missing) missing++;
        sources.push(source.profile);
        // split/join, not replace(): a file path may hold `$&`-like sequences.
        sql = sql.split(`${prepared.placeholders[k]}()`).join(source.sql);
      }
      if (prepared.tables.length > 0 && missing === prepared.tables.length) {
        // Arc answers a query on measurements without data with an empty result, not an error.
        await run.finish(releaseSnapshots);
        return emptyQuery(sources);
      }
      let result: DuckDBResult;
      let columns: ResultColumn[];
      try {
        // Prepared first: a result with nested columns is planned again with DuckDB rendering them
        // (result-limits.ts) before any row exists, so the rows are made once.
        let statement = await run.bounded(() => session.prepare(sql));
        columns = resultColumns(statement);
        if (hasNestedColumns(columns)) statement = await run.bounded(() => session.prepare(renderNestedSql(sql, columns, input.nested ?? 'json')));
        result = await run.bounded(() => statement.stream());
      } catch (err) {
        if (run.stopReason === null && missing > 0 && /^Binder Error/.test((err as Error).message)) {
          await run.finish(releaseSnapshots);
          return emptyQuery(sources); // a missing measurement has no columns to bind
        }
        throw err;
      }
      const limit = this.options.maxResultBytes;
      let resultBytes = 0;
      // One chunk is fetched ahead, so DuckDB produces the next while this thread converts the last.
      let ahead: Promise<DuckDBDataChunk | null> | null = null;
      const fetchChunk = () =>
        run.bounded(async () => {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) return null;
          // Counted before any cell is converted: an oversized result ends here, not in the heap.
          resultBytes += chunkBytes(chunk, columns);
          if (limit > 0 && resultBytes > limit) {
            throw new ArcError('ARC_ERR_RESULT_TOO_LARGE', `Result too large: more than ${limit} bytes (query.max_result_bytes); select fewer rows or columns, or aggregate`);
          }
          return chunk;
        });
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        const elapsed = performance.now() - started;
        if (this.options.slowQueryMs > 0 && elapsed >= this.options.slowQueryMs) this.log.warn('slow query', { ms: Math.round(elapsed), sql: input.sql });
        // A chunk still being fetched is interrupted; the session is handed on once DuckDB returned.
        await run.finish(releaseSnapshots);
      };
      return {
        columns,
        sources,
        close,
        next: async () => {
          try {
            const chunk = await (ahead ?? fetchChunk());
            ahead = chunk === null ? null : fetchChunk();
            ahead?.catch(() => undefined); // observed by the next call, or by close()
            return chunk;
          } catch (err) {
            ahead = null;
            throw this.failure(err, run, names);
          }
        },
      };
    } catch (err) {
      await run.finish(releaseSnapshots);
      throw this.failure(err, run, names);
    }
  }

  /** The prepared form of a SQL text, from the cache or made now (three DuckDB round trips at most). */
  private async prepare(input: QueryInput): Promise<PreparedQuery> {
    const key = `${input.headerDatabase ? 'h' : 'd'}:${input.database}\u0000${input.sql}`;
    const cached = this.prepared.get(key);
    if (cached) {
      this.prepared.delete(key); // most recently used last
      this.prepared.set(key, cached);
      return cached;
    }
    const { statement, explain } = await this.parse(input.sql);
    const plan = planQuery(statement, input.database, input.headerDatabase);
    const templates = await this.templateNodes();
    const tableIndex = new Map(plan.tables.map((table, k) => [table, k]));
    const conditions = plan.conditions.map((c) => ({ table: tableIndex.get(c.table)!, operator: c.operator, literal: c.literal }));
    let timesSql: string | null = null;
    if (plan.conditions.length > 0) {
      const constants = structuredClone(templates.select);
      (constants.node as AstNode).select_list = plan.conditions.map((c, i) => ({ ...c.expression, alias: `c${i}` }));
      const select = plan.conditions.map((_, i) => `epoch_us(TRY_CAST(c${i} AS TIMESTAMPTZ)) AS c${i}`).join(', ');
      timesSql = `SELECT ${select} FROM (${await this.engine.toSql(constants)}) AS constants`;
    }
    const placeholders = plan.tables.map((_, k) => `${this.placeholderPrefix}${k}`);
    replaceTablesWithCalls(plan.tables, templates.call, placeholders);
    const template = `${explain}${await this.engine.toSql(statement)}`;
    for (const placeholder of placeholders) {
      if (template.split(`${placeholder}()`).length !== 2) throw new Error(`query template lost its table placeholder: ${template}`);
    }
    const literal = timesSql !== null && conditions.every((c) => c.literal);
    const prepared: PreparedQuery = {
      tables: plan.tables.map((t) => ({ database: t.database, measurement: t.measurement })),
      unknownSource: plan.unknownSource,
      template,
      placeholders,
      conditions,
      timesSql,
      literalTimes: literal ? await this.evaluateTimes(null, timesSql!, conditions.length) : null,
    };
    this.prepared.set(key, prepared);
    if (this.prepared.size > PREPARED_CACHE_SIZE) this.prepared.delete(this.prepared.keys().next().value!);
    return prepared;
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

  /**
   * µs since the epoch of each condition's constant (null when it is not a timestamp). Without a
   * run (literal constants only, at preparation) on the shared utility connection, which is fine
   * for literals only: they cost nothing to evaluate.
   */
  private async evaluateTimes(run: QueryRun | null, timesSql: string, count: number): Promise<Array<number | null>> {
    try {
      const [row] = run ? await run.bounded(() => run.session.rows(timesSql)) : await this.engine.utilityRows(timesSql);
      return Array.from({ length: count }, (_, i) => {
        const value = row?.[`c${i}`];
        return value === null || value === undefined ? null : Number(value);
      });
    } catch (err) {
      if (run?.stopReason) throw err;
      return Array.from({ length: count }, () => null); // not prunable; the WHERE still filters every row
    }
  }

  /** AST nodes to build from, taken from DuckDB's own parse so they match its serialisation version. */
  private async templateNodes(): Promise<{ select: AstNode; call: AstNode }> {
    if (this.templates) return this.templates;
    const withCall = await this.engine.parse('SELECT 1 FROM f() AS x');
    const constants = await this.engine.parse('SELECT 1 AS c0');
    if (!withCall.ok || !constants.ok) throw new Error('DuckDB cannot parse the query templates');
    const call = (withCall.statements[0]!.node as AstNode).from_table as AstNode;
    this.templates = { select: constants.statements[0]!, call };
    return this.templates;
  }

  /**
   * What one table reference sees, taken synchronously: copies of its rows in memory (open buffer
   * and flushes in flight) and the catalog's files for [lo, hi] minus the files of those in-flight
   * flushes. A flush finishing later changes neither.
   */
  private snapshotOf(table: { database: string; measurement: string }, lo: number | null, hi: number | null): TableSnapshot {
    const memory = this.memory.unflushed(table.database, table.measurement);
    const files = this.catalog.snapshot(table.database, table.measurement, lo, hi, new Set(memory.stamps));
    // No file in range: the newest files still give the measurement's columns (an empty, typed result).
    const schema = files.files.length === 0 ? this.catalog.latest(table.database, table.measurement) : null;
    return { batches: memory.batches, files, schema };
  }

  /**
   * A table reference as SQL for a FROM clause: its snapshot's Parquet files (an explicit list:
   * nothing is expanded later) and its rows in memory, loaded as temporary tables of the session.
   */
  private async sourceOf(run: QueryRun, prefix: string, table: { database: string; measurement: string }, snapshot: TableSnapshot): Promise<{ sql: string; profile: SourceProfile; missing: boolean }> {
    const parts: string[] = [];
    let bufferedRows = 0;
    for (const [j, batch] of snapshot.batches.entries()) {
      const name = `${prefix}_b${j}`;
      await run.bounded(() => run.session.loadTable(name, batch));
      bufferedRows += batch.rowCount;
      // Buffered strings load as ENUMs (fast); as VARCHAR they compare and sort like the files' strings.
      const strings = batch.columns.filter((c) => c.type === 'string').map((c) => `CAST(${quotedIdentifier(c.name)} AS VARCHAR) AS ${quotedIdentifier(c.name)}`);
      parts.push(`SELECT *${strings.length ? ` REPLACE (${strings.join(', ')})` : ''} FROM ${quotedIdentifier(name)}`);
    }
    const files = snapshot.files.files;
    const profile: SourceProfile = { database: table.database, measurement: table.measurement, files: files.length, hours: snapshot.files.partitions, buffered_rows: bufferedRows };
    const fromFiles = files.length > 0 ? `read_parquet([${files.map((f) => quotedString(f.path)).join(', ')}], union_by_name = true)` : null;
    if (fromFiles !== null && parts.length === 0) return { sql: fromFiles, profile, missing: false };
    if (fromFiles !== null) return { sql: `(SELECT * FROM ${fromFiles} UNION ALL BY NAME ${parts.join(' UNION ALL BY NAME ')})`, profile, missing: false };
    if (parts.length > 0) return { sql: `(${parts.join(' UNION ALL BY NAME ')})`, profile, missing: false };
    // No row can match: an empty relation, with the measurement's columns when it has files at all.
    const schema = snapshot.schema?.files ?? [];
    if (schema.length === 0) return { sql: `(SELECT CAST(NULL AS TIMESTAMPTZ) AS "time" WHERE false)`, profile, missing: true };
    return { sql: `(SELECT * FROM read_parquet([${schema.map((f) => quotedString(f.path)).join(', ')}], union_by_name = true) WHERE false)`, profile, missing: false };
  }

  /** A DuckDB error as the client should see it: our temporary table names replaced by the user's table names. */
  private failure(err: unknown, run: QueryRun, names: ReadonlyMap<string, string>): ArcError {
    if (run.stopReason) return run.stopReason;
    if (err instanceof ArcError) return err;
    let message = err instanceof Error ? err.message : String(err);
    message = message.replace(/__arc_q\d+_t\d+(_b\d+)?/g, (name) => names.get(name.replace(/_b\d+$/, '')) ?? name);
    if (/^Out of Memory Error/i.test(message)) return new ArcError('ARC_ERR_QUERY_OUT_OF_MEMORY', message);
    return new ArcError(CLIENT_ERRORS.test(message) ? 'ARC_ERR_BAD_QUERY' : 'ARC_ERR_QUERY_FAILED', message);
  }
}

/** One table reference's view of the data; its file snapshots are released when the query closes. */
interface TableSnapshot {
  batches: ColumnBatch[];
  files: FileSnapshot;
  schema: FileSnapshot | null;
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

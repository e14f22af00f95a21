import { randomBytes } from 'node:crypto';
import { ArcError } from '../errors.js';
import type { Logger } from '../log.js';
import type { QueryService } from '../query/query-service.js';
import { checkFields, intervalMs, MAX_EXECUTIONS, rfc3339Seconds, substituteWindow, type ContinuousQuery, type CqExecution, type CqStores } from './cq-definitions.js';
import { collectOutput } from './cq-output.js';
import type { WindowSwapper } from './cq-window-swap.js';

export interface ExecuteRequest {
  startMs?: number;
  endMs?: number;
  dryRun: boolean;
  /** `cq-exec-` for manual runs, `cq-sched-` for the scheduler (Arc's prefixes). */
  idPrefix: 'cq-exec-' | 'cq-sched-';
}

/**
 * A token's database scope (see src/auth/database-scope.ts): called with databases a CQ writes to
 * or reads from, throws to refuse. Absent: every database.
 */
export type DatabaseAuthorizer = (databases: readonly string[]) => void;

/** Listener for definition changes (the scheduler re-arms on every create, update and delete). */
export type ChangeListener = () => void;

/**
 * Continuous queries: definitions (durable, in the metadata store) and their execution. A run
 * computes the query over [start, end) — files and buffered rows, like any query — and replaces
 * the destination's rows of that window with the result in one atomic, crash-safe swap, so a
 * window run twice (a retry, a manual re-run for late data, a crash before the watermark moved)
 * leaves one copy. Runs of one CQ never overlap.
 */
export class ContinuousQueryService {
  private readonly running = new Map<number, Promise<unknown>>();
  private listener: ChangeListener = () => undefined;

  constructor(
    private readonly stores: CqStores,
    private readonly queries: QueryService,
    private readonly swapper: WindowSwapper,
    private readonly log: Logger,
    private readonly crashPoint: string | undefined,
  ) {}

  onChange(listener: ChangeListener): void {
    this.listener = listener;
  }

  list(database: string | null, active: boolean | null): ContinuousQuery[] {
    return this.stores.queries
      .list()
      .filter((cq) => (database === null || cq.database === database) && (active === null || cq.is_active === active))
      .sort((a, b) => b.id - a.id);
  }

  get(id: number): ContinuousQuery {
    const cq = this.stores.queries.get(id);
    if (!cq) throw new ArcError('ARC_ERR_CQ_NOT_FOUND', 'Continuous query not found', { id });
    return cq;
  }

  async create(body: unknown, authorize?: DatabaseAuthorizer): Promise<ContinuousQuery> {
    const fields = checkFields(body);
    await this.checkQuery(fields.query, fields.database, authorize);
    if (this.stores.queries.list().some((cq) => cq.name === fields.name)) {
      throw new ArcError('ARC_ERR_CQ_EXISTS', `Continuous query with name '${fields.name}' already exists`, { field: 'name' });
    }
    const now = rfc3339Seconds(Date.now());
    const cq = await this.stores.queries.insert({
      ...fields,
      last_execution_time: null,
      last_execution_status: null,
      last_processed_time: null,
      last_records_written: null,
      created_at: now,
      updated_at: now,
    });
    this.listener();
    return cq;
  }

  async update(id: number, body: unknown, authorize?: DatabaseAuthorizer): Promise<ContinuousQuery> {
    authorize?.([this.get(id).database]);
    const fields = checkFields(body);
    await this.checkQuery(fields.query, fields.database, authorize);
    if (this.stores.queries.list().some((cq) => cq.name === fields.name && cq.id !== id)) {
      throw new ArcError('ARC_ERR_CQ_EXISTS', `Continuous query with name '${fields.name}' already exists`, { field: 'name' });
    }
    const updated = await this.stores.queries.update(id, (old) => ({ ...old, ...fields, updated_at: rfc3339Seconds(Date.now()) }));
    if (!updated) throw new ArcError('ARC_ERR_CQ_NOT_FOUND', 'Continuous query not found', { id });
    this.listener();
    return updated;
  }

  /** Refuses (through `authorize`) when the CQ writes to or reads from a database outside the caller's scope. */
  async checkAccess(id: number, authorize: DatabaseAuthorizer): Promise<void> {
    const cq = this.get(id);
    await this.checkQuery(cq.query, cq.database, authorize);
  }

  /** Removes the definition and its history; the destination's rows stay (as in Arc). */
  async remove(id: number): Promise<void> {
    this.get(id);
    await this.running.get(id)?.catch(() => undefined);
    await this.stores.queries.remove((cq) => cq.id === id);
    await this.stores.executions.remove((execution) => execution.query_id === id);
    this.listener();
  }

  executions(id: number, limit: number): CqExecution[] {
    return this.stores.executions
      .list()
      .filter((execution) => execution.query_id === id)
      .slice(-limit)
      .reverse();
  }

  /** Sets a CQ's watermark (tests and operators moving it back to re-aggregate). */
  async setWatermark(id: number, watermarkMs: number | null): Promise<void> {
    await this.stores.queries.update(id, (old) => ({ ...old, last_processed_time: watermarkMs === null ? null : rfc3339Seconds(watermarkMs) }));
  }

  /** One run over a window; runs of one CQ wait for each other. */
  execute(id: number, request: ExecuteRequest): Promise<Record<string, unknown>> {
    const previous = this.running.get(id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.executeNow(id, request));
    const tail = run.catch(() => undefined);
    this.running.set(id, tail);
    void tail.then(() => {
      if (this.running.get(id) === tail) this.running.delete(id);
    });
    return run;
  }

  /** Waits for runs in progress (shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
    await this.stores.queries.settled();
    await this.stores.executions.settled();
  }

  /** After `settled`: releases the swapper's DuckDB instance. */
  close(): void {
    this.swapper.close();
  }

  /** The window a run covers: explicit bounds widened outward to the interval grid, else watermark → now. */
  windowOf(cq: ContinuousQuery, startMs: number | undefined, endMs: number | undefined, nowMs: number): { startMs: number; endMs: number } {
    const step = intervalMs(cq.interval)!;
    const floor = (ms: number) => Math.floor(ms / step) * step;
    const ceil = (ms: number) => Math.ceil(ms / step) * step;
    const end = endMs !== undefined ? ceil(endMs) : floor(nowMs);
    const watermark = cq.last_processed_time === null ? null : Date.parse(cq.last_processed_time);
    const start = startMs !== undefined ? floor(startMs) : watermark !== null ? floor(watermark) : end - step;
    return { startMs: start, endMs: end };
  }

  private async executeNow(id: number, request: ExecuteRequest): Promise<Record<string, unknown>> {
    const cq = this.get(id);
    if (!cq.is_active) throw new ArcError('ARC_ERR_BAD_REQUEST', 'Continuous query is not active', { id });
    const window = this.windowOf(cq, request.startMs, request.endMs, Date.now());
    if (request.startMs !== undefined && request.endMs !== undefined && request.startMs >= request.endMs) {
      throw new ArcError('ARC_ERR_BAD_REQUEST', 'start_time must be before end_time', { field: 'start_time' });
    }
    const executionId = `${request.idPrefix}${randomBytes(4).toString('hex')}`;
    const started = performance.now();
    const executedAt = rfc3339Seconds(Date.now());
    const sql = substituteWindow(cq.query, window.startMs, window.endMs);
    const base = {
      query_id: cq.id,
      query_name: cq.name,
      execution_id: executionId,
      start_time: rfc3339Seconds(window.startMs),
      end_time: rfc3339Seconds(window.endMs),
      records_read: null,
      destination_measurement: cq.destination_measurement,
      executed_at: executedAt,
    };
    if (request.dryRun) {
      return { ...base, status: 'dry_run', records_written: 0, execution_time_seconds: (performance.now() - started) / 1000, dry_run: true, executed_query: sql };
    }
    if (window.startMs >= window.endMs) {
      // The watermark is at the newest complete window: nothing to aggregate yet.
      return { ...base, status: 'completed', records_written: 0, execution_time_seconds: 0, dry_run: false, message: 'no complete window since the watermark' };
    }
    let written = 0;
    try {
      const query = await this.queries.open({ sql, database: cq.database, headerDatabase: false });
      let batch;
      try {
        batch = await collectOutput(query, cq.destination_measurement, window.startMs * 1000, window.endMs * 1000, cq.tag_columns);
      } finally {
        await query.close();
      }
      const result = await this.swapper.swap(cq.database, cq.destination_measurement, window.startMs * 1000, window.endMs * 1000, batch, this.crashPoint);
      written = result.rowsWritten;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const seconds = (performance.now() - started) / 1000;
      await this.record(cq, executionId, executedAt, window, 'failed', 0, seconds, message, false);
      this.log.warn('continuous query run failed; the watermark stays', { cq: cq.name, execution: executionId, error: message });
      throw new ArcError('ARC_ERR_CQ_EXECUTION_FAILED', `Execution failed: ${message}`, { query_id: cq.id, execution_id: executionId });
    }
    const seconds = (performance.now() - started) / 1000;
    await this.record(cq, executionId, executedAt, window, 'completed', written, seconds, null, true);
    return { ...base, status: 'completed', records_written: written, execution_time_seconds: seconds, dry_run: false };
  }

  /**
   * History first, then the watermark: a crash between the two leaves the watermark behind, so the
   * window is run again — harmless, since a re-run replaces the window's rows.
   */
  private async record(cq: ContinuousQuery, executionId: string, executedAt: string, window: { startMs: number; endMs: number }, status: 'completed' | 'failed', written: number, seconds: number, error: string | null, advance: boolean): Promise<void> {
    await this.stores.executions.insert({
      query_id: cq.id,
      execution_id: executionId,
      execution_time: executedAt,
      status,
      start_time: rfc3339Seconds(window.startMs),
      end_time: rfc3339Seconds(window.endMs),
      records_read: null,
      records_written: written,
      execution_duration_seconds: seconds,
      error_message: error,
    });
    await this.stores.executions.trim(MAX_EXECUTIONS);
    await this.stores.queries.update(cq.id, (old) => ({
      ...old,
      last_execution_time: executedAt,
      last_execution_status: status,
      ...(advance ? { last_processed_time: rfc3339Seconds(window.endMs), last_records_written: written } : {}),
    }));
  }

  /** The SQL validator of /api/v1/query on the query with sample times (Arc's `invalid query: …`). */
  private async checkQuery(query: string, database: string, authorize?: DatabaseAuthorizer): Promise<void> {
    // The destination (and source) measurement lives in `database`; the query may read others (db.table).
    authorize?.([database]);
    const sample = substituteWindow(query, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1, 1));
    try {
      const open = await this.queries.open({ sql: `EXPLAIN ${sample}`, database, headerDatabase: false, ...(authorize ? { authorize } : {}) });
      await open.close();
    } catch (err) {
      if (err instanceof ArcError && err.code === 'ARC_ERR_BAD_QUERY') throw new ArcError('ARC_ERR_BAD_REQUEST', `invalid query: ${err.message}`, { field: 'query' });
      throw err;
    }
  }
}

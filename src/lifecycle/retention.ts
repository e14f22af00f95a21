import { CronSchedule } from '../compaction/cron.js';
import { ArcError } from '../errors.js';
import { checkDatabaseName, isValidMeasurementName, measurementNameError } from '../ingest/names.js';
import type { Logger } from '../log.js';
import type { FileCatalog } from '../storage/catalog.js';
import { lowerKeys } from './cq-definitions.js';
import { DefinitionStore } from './definition-store.js';
import type { RowRewriter } from './row-rewrite.js';

const DAY_MS = 86_400_000;
/** Execution rows kept (the newest). */
const HISTORY_SIZE = 10_000;

/** Arc's policy object (arc-spec-lifecycle §3.1), as stored; `last_*` are added from the history when read. */
export interface RetentionPolicy {
  id: number;
  name: string;
  database: string;
  measurement: string | null;
  retention_days: number;
  buffer_days: number;
  is_active: boolean;
  created_at: string;
  updated_at: string;
}

export interface RetentionExecution {
  id: number;
  policy_id: number;
  execution_time: string;
  status: 'running' | 'completed' | 'failed';
  deleted_count: number;
  cutoff_date: string;
  execution_duration_ms: number;
  error_message: string | null;
}

export interface RetentionResult {
  policy_id: number;
  policy_name: string;
  deleted_count: number;
  files_deleted: number;
  /** arc-ts: boundary files rewritten without their old rows. */
  files_rewritten: number;
  execution_time_ms: number;
  dry_run: boolean;
  cutoff_date: string;
  affected_measurements: string[] | null;
}

type PolicyFields = Omit<RetentionPolicy, 'id' | 'created_at' | 'updated_at'>;
const FIELDS = ['name', 'database', 'measurement', 'retention_days', 'buffer_days', 'is_active'] as const;

/**
 * Retention policies (Arc's API, arc-spec-lifecycle §3), exact instead of file-granular: a run
 * removes every row older than now − (retention_days + buffer_days) days — whole files where every
 * row is older, boundary files rewritten without the old rows (the row delete's rewrite, so it is
 * atomic per measurement, crash-safe and never resurrected by the log). Definitions and history
 * live in the metadata store; the built-in schedule (Arc: Enterprise) runs every active policy.
 */
export class RetentionService {
  private readonly policies: DefinitionStore<RetentionPolicy>;
  private readonly executions: DefinitionStore<RetentionExecution>;
  private cycle: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextRun: Date | null = null;
  private readonly schedule: CronSchedule;

  constructor(
    root: string,
    private readonly catalog: FileCatalog,
    private readonly rewriter: RowRewriter,
    private readonly log: Logger,
    readonly scheduleText: string,
  ) {
    this.policies = DefinitionStore.open<RetentionPolicy>(root, 'retention-policies');
    this.executions = DefinitionStore.open<RetentionExecution>(root, 'retention-executions');
    try {
      this.schedule = CronSchedule.parse(scheduleText);
    } catch (err) {
      throw new Error(`scheduler.retention_schedule: ${(err as Error).message}`);
    }
  }

  list(): object[] {
    return [...this.policies.list()].reverse().map((policy) => this.view(policy));
  }

  get(id: number): object {
    return this.view(this.find(id));
  }

  /** The database of a policy (404 for an unknown id): what a token's database scope is checked against. */
  databaseOf(id: number): string {
    return this.find(id).database;
  }

  /** `authorize` (a token's database scope) is called with the policy's database and throws to refuse. */
  async create(body: unknown, authorize?: (database: string) => void): Promise<object> {
    const fields = policyFields(body, false);
    authorize?.(fields.database);
    if (this.policies.list().some((p) => p.name === fields.name)) {
      throw new ArcError('ARC_ERR_RETENTION_EXISTS', `Retention policy with name '${fields.name}' already exists`, { field: 'name' });
    }
    const now = rfc3339(new Date());
    return this.view(await this.policies.insert({ ...fields, created_at: now, updated_at: now }));
  }

  async update(id: number, body: unknown, authorize?: (database: string) => void): Promise<object> {
    authorize?.(this.find(id).database);
    const fields = policyFields(body, true);
    authorize?.(fields.database);
    if (this.policies.list().some((p) => p.name === fields.name && p.id !== id)) {
      throw new ArcError('ARC_ERR_RETENTION_EXISTS', `Retention policy with name '${fields.name}' already exists`, { field: 'name' });
    }
    const updated = await this.policies.update(id, (old) => ({ ...old, ...fields, updated_at: rfc3339(new Date()) }));
    if (!updated) throw notFound();
    return this.view(updated);
  }

  async remove(id: number): Promise<void> {
    this.find(id);
    await this.policies.remove((p) => p.id === id);
    await this.executions.remove((e) => e.policy_id === id);
  }

  /** Policies and history of a deleted database go with it. */
  async removeDatabase(database: string): Promise<number> {
    const removed = await this.policies.remove((p) => p.database === database);
    const ids = new Set(removed.map((p) => p.id));
    if (ids.size > 0) await this.executions.remove((e) => ids.has(e.policy_id));
    return removed.length;
  }

  history(id: number, limit: number): RetentionExecution[] {
    return this.executions
      .list()
      .filter((e) => e.policy_id === id)
      .slice(-limit)
      .reverse();
  }

  /** POST /:id/execute: checks in Arc's order (confirmation before the lookup). */
  async execute(id: number, dryRun: boolean, confirm: boolean): Promise<RetentionResult> {
    if (!dryRun && !confirm) throw new ArcError('ARC_ERR_CONFIRM_REQUIRED', 'Confirmation required for retention policy execution. Set confirm=true');
    const policy = this.find(id);
    if (!policy.is_active) throw new ArcError('ARC_ERR_BAD_REQUEST', 'Retention policy is not active', { id });
    return this.run(policy, dryRun);
  }

  /** Every active policy, one after the other (the schedule and POST /api/v1/schedulers/retention/trigger). */
  runAll(): Promise<void> {
    if (this.cycle) return Promise.reject(new ArcError('ARC_ERR_RETENTION_BUSY', 'Retention trigger failed: retention cycle already in progress'));
    const cycle = (async () => {
      let last: Error | null = null;
      for (const policy of this.policies.list().filter((p) => p.is_active)) {
        try {
          await this.run(policy, false);
        } catch (err) {
          last = err as Error;
          this.log.error('retention: a policy run failed; the next policy runs', { policy: policy.name, error: last });
        }
      }
      if (last) throw new ArcError('ARC_ERR_RETENTION_BUSY', `Retention trigger failed: ${last.message}`);
    })();
    this.cycle = cycle.finally(() => (this.cycle = null)).catch(() => undefined);
    return cycle;
  }

  /** Arms the cron schedule (re-armed after every tick). */
  start(): void {
    const next = this.schedule.next(new Date());
    this.nextRun = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.cycle) this.log.warn('retention: the scheduled run is skipped, the previous one is still going');
      else void this.runAll().catch((err: Error) => this.log.error('retention: scheduled run failed', { error: err }));
      this.start();
    }, Math.max(0, Math.min(next.getTime() - Date.now(), 2 ** 31 - 1)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextRun = null;
  }

  /** Waits for a running cycle and for the stores' writes (shutdown). */
  async settled(): Promise<void> {
    await this.cycle;
    await this.policies.settled();
    await this.executions.settled();
  }

  schedulerStatus(): Record<string, unknown> {
    return { running: this.timer !== null, schedule: this.scheduleText, license_valid: true, ...(this.nextRun ? { next_run: rfc3339(this.nextRun) } : {}) };
  }

  private async run(policy: RetentionPolicy, dryRun: boolean): Promise<RetentionResult> {
    const started = performance.now();
    const startedAt = new Date();
    const cutoffMs = Math.floor((startedAt.getTime() - (policy.retention_days + policy.buffer_days) * DAY_MS) / 1000) * 1000;
    const cutoff = rfc3339(new Date(cutoffMs));
    const measurements = policy.measurement !== null ? [policy.measurement] : this.catalog.measurementsOf(policy.database).map((m) => m.measurement);
    const result: RetentionResult = {
      policy_id: policy.id,
      policy_name: policy.name,
      deleted_count: 0,
      files_deleted: 0,
      files_rewritten: 0,
      execution_time_ms: 0,
      dry_run: dryRun,
      cutoff_date: cutoff,
      affected_measurements: measurements.length > 0 ? measurements : null,
    };
    const execution = dryRun
      ? null
      : await this.executions.insert({ policy_id: policy.id, execution_time: rfc3339(startedAt), status: 'running', deleted_count: 0, cutoff_date: cutoff, execution_duration_ms: 0, error_message: null });
    try {
      for (const measurement of measurements) {
        const outcome = await this.rewriter.remove(
          { database: policy.database, measurement, predicate: `epoch_us("time") < ${cutoffMs * 1000}`, lo: null, hi: cutoffMs * 1000 - 1 },
          () => dryRun,
        );
        if (outcome.failedFiles.length > 0) throw new Error(`retention aborted at measurement "${measurement}": ${outcome.failedFiles.length} files could not be rewritten`);
        result.deleted_count += outcome.deletedRows;
        if (dryRun) {
          result.files_deleted += outcome.affectedFiles.length;
        } else {
          result.files_deleted += outcome.removedFiles;
          result.files_rewritten += outcome.rewrittenFiles;
        }
      }
    } catch (err) {
      if (execution) await this.finish(execution.id, 'failed', result.deleted_count, started, (err as Error).message);
      throw new ArcError('ARC_ERR_DELETE_FAILED', (err as Error).message);
    }
    result.execution_time_ms = Math.round(performance.now() - started);
    if (execution) await this.finish(execution.id, 'completed', result.deleted_count, started, null);
    if (!dryRun && result.deleted_count > 0) this.log.info('retention: rows older than the cutoff removed', { policy: policy.name, cutoff, rows: result.deleted_count });
    return result;
  }

  private async finish(id: number, status: 'completed' | 'failed', deleted: number, started: number, error: string | null): Promise<void> {
    await this.executions.update(id, (old) => ({ ...old, status, deleted_count: deleted, execution_duration_ms: Math.round(performance.now() - started), error_message: error }));
    await this.executions.trim(HISTORY_SIZE);
  }

  private find(id: number): RetentionPolicy {
    const policy = this.policies.get(id);
    if (!policy) throw notFound();
    return policy;
  }

  private view(policy: RetentionPolicy): object {
    const last = this.executions
      .list()
      .filter((e) => e.policy_id === policy.id)
      .at(-1);
    return {
      id: policy.id,
      name: policy.name,
      database: policy.database,
      measurement: policy.measurement,
      retention_days: policy.retention_days,
      buffer_days: policy.buffer_days,
      is_active: policy.is_active,
      last_execution_time: last?.execution_time ?? null,
      last_execution_status: last?.status ?? null,
      last_deleted_count: last?.deleted_count ?? null,
      created_at: policy.created_at,
      updated_at: policy.updated_at,
    };
  }
}

function notFound(): ArcError {
  return new ArcError('ARC_ERR_RETENTION_NOT_FOUND', 'Retention policy not found');
}

function bad(message: string, field: string): ArcError {
  return new ArcError('ARC_ERR_BAD_REQUEST', message, { field });
}

/**
 * A policy body, checked in Arc's order. `full` (PUT): every field must be present — Arc's PUT
 * blanks omitted fields (a partial update from the Python SDK would widen a policy to the whole
 * database or deactivate it), so arc-ts refuses a partial body instead.
 */
function policyFields(body: unknown, full: boolean): PolicyFields {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('Invalid request body: the body must be a JSON object', 'body');
  const raw = lowerKeys(body as Record<string, unknown>);
  if (full) {
    const missing = FIELDS.filter((key) => !(key in raw));
    if (missing.length > 0) throw bad(`PUT replaces the whole policy; the body lacks ${missing.join(', ')} (send every field, e.g. from GET /api/v1/retention/:id)`, missing[0]!);
  }
  const text = (key: string): string => {
    const value = raw[key];
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') throw bad(`Invalid request body: ${key} must be a string`, key);
    return value;
  };
  const integer = (key: string, fallback: number): number => {
    const value = raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad(`Invalid request body: ${key} must be an integer`, key);
    return value;
  };
  const isActive = raw.is_active;
  if (isActive !== undefined && isActive !== null && typeof isActive !== 'boolean') throw bad('Invalid request body: is_active must be a boolean', 'is_active');
  const fields: PolicyFields = {
    name: text('name'),
    database: text('database'),
    measurement: text('measurement') || null,
    retention_days: integer('retention_days', 0),
    buffer_days: integer('buffer_days', 0),
    // Omitted: active (the Python SDK's default; Arc stores false, and such a policy never runs).
    is_active: isActive === undefined || isActive === null ? true : isActive,
  };
  if (fields.name === '') throw bad('name is required', 'name');
  if (fields.database === '') throw bad('database is required', 'database');
  checkDatabaseName(fields.database);
  if (fields.measurement !== null && !isValidMeasurementName(fields.measurement)) throw new ArcError('ARC_ERR_INVALID_MEASUREMENT', measurementNameError(fields.measurement), { field: 'measurement' });
  if (fields.retention_days <= 0) throw bad('retention_days must be greater than 0', 'retention_days');
  if (fields.buffer_days < 0) throw bad('buffer_days must not be negative', 'buffer_days');
  if (fields.retention_days <= fields.buffer_days) throw bad('retention_days must be greater than buffer_days', 'retention_days');
  return fields;
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

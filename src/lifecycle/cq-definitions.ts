import { ArcError } from '../errors.js';
import { DefinitionStore } from './definition-store.js';

/** A continuous query as Arc's API shows it (arc-spec-lifecycle §4.1). Times are RFC 3339 UTC text. */
export interface ContinuousQuery {
  id: number;
  name: string;
  description: string | null;
  database: string;
  source_measurement: string;
  destination_measurement: string;
  query: string;
  interval: string;
  tag_columns: string[] | null;
  retention_days: number | null;
  delete_source_after_days: number | null;
  is_active: boolean;
  last_execution_time: string | null;
  last_execution_status: string | null;
  /** The watermark: end of the last successful window. */
  last_processed_time: string | null;
  last_records_written: number | null;
  created_at: string;
  updated_at: string;
}

/** One row of a CQ's execution history. */
export interface CqExecution {
  id: number;
  query_id: number;
  execution_id: string;
  execution_time: string;
  status: 'completed' | 'failed';
  start_time: string;
  end_time: string;
  records_read: null;
  records_written: number;
  execution_duration_seconds: number;
  error_message: string | null;
}

export type CqFields = Pick<
  ContinuousQuery,
  'name' | 'description' | 'database' | 'source_measurement' | 'destination_measurement' | 'query' | 'interval' | 'tag_columns' | 'retention_days' | 'delete_source_after_days' | 'is_active'
>;

export interface CqStores {
  queries: DefinitionStore<ContinuousQuery>;
  executions: DefinitionStore<CqExecution>;
}

/** Execution rows kept over all CQs (oldest dropped first). */
export const MAX_EXECUTIONS = 10_000;

export function openCqStores(root: string): CqStores {
  return {
    queries: DefinitionStore.open<ContinuousQuery>(root, 'continuous-queries'),
    executions: DefinitionStore.open<CqExecution>(root, 'cq-executions'),
  };
}

const DESTINATION = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;
const TAG = /^[A-Za-z0-9_-]+$/;
/** Shortest interval the scheduler runs (Arc's floor). */
export const MIN_INTERVAL_MS = 10_000;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A Go-style duration (`30s`, `5m`, `1h`, `1h30m`), plus `d` for days, in milliseconds; null when
 * it is not one. Arc stores any text and only its scheduler logs a bad one; arc-ts refuses it.
 */
export function intervalMs(text: string): number | null {
  if (!/^(\d+(ms|s|m|h|d))+$/.test(text)) return null;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(n) * UNIT_MS[unit!]!;
  return total > 0 && Number.isSafeInteger(total) ? total : null;
}

/** Go's duration text of an interval ("1h0m0s", "5m0s"), as Arc's scheduler status shows it. */
export function goIntervalText(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function bad(message: string, field: string): ArcError {
  return new ArcError('ARC_ERR_BAD_REQUEST', message, { field });
}

/**
 * Arc's create checks in Arc's order and words (§4.2), plus an interval check. The SQL itself is
 * checked by the caller (it needs the query engine). Used for PUT too: arc-ts takes a PUT only as a
 * complete definition, so a partial body cannot blank one (Arc stores it).
 */
export function checkFields(body: unknown): CqFields {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('Invalid request body: expected a JSON object', 'body');
  const raw = lowerKeys(body as Record<string, unknown>);
  const text = (key: string): string => {
    const value = raw[key];
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') throw bad(`Invalid request body: ${key} must be a string`, key);
    return value;
  };
  const optionalNumber = (key: string): number | null => {
    const value = raw[key];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw bad(`Invalid request body: ${key} must be a non-negative integer or null`, key);
    return value;
  };
  const name = text('name');
  const description = raw.description === undefined || raw.description === null ? null : text('description');
  const database = text('database');
  const source = text('source_measurement');
  const destination = text('destination_measurement');
  const query = text('query');
  const interval = text('interval');
  if (raw.is_active !== undefined && raw.is_active !== null && typeof raw.is_active !== 'boolean') throw bad('Invalid request body: is_active must be a boolean', 'is_active');
  if (raw.tag_columns !== undefined && raw.tag_columns !== null && (!Array.isArray(raw.tag_columns) || raw.tag_columns.some((t) => typeof t !== 'string'))) {
    throw bad('Invalid request body: tag_columns must be an array of strings', 'tag_columns');
  }
  const retentionDays = optionalNumber('retention_days');
  const deleteSourceAfterDays = optionalNumber('delete_source_after_days');
  if (name.trim() === '') throw bad('name is required', 'name');
  if (database.trim() === '') throw bad('database is required', 'database');
  if (source.trim() === '') throw bad('source_measurement is required', 'source_measurement');
  if (destination.trim() === '') throw bad('destination_measurement is required', 'destination_measurement');
  if (!DESTINATION.test(destination)) {
    throw bad('invalid destination_measurement: must start with a letter and contain only alphanumeric characters, underscores, or hyphens', 'destination_measurement');
  }
  if (query.trim() === '') throw bad('query is required', 'query');
  if (interval.trim() === '') throw bad('interval is required', 'interval');
  if (!query.includes('{start_time}') || !query.includes('{end_time}')) throw bad('query must contain {start_time} and {end_time} placeholders', 'query');
  const ms = intervalMs(interval);
  if (ms === null) throw bad(`invalid interval ${JSON.stringify(interval)}: use a duration such as 30s, 5m, 1h, 1h30m or 1d`, 'interval');
  if (ms < MIN_INTERVAL_MS) throw bad(`invalid interval ${JSON.stringify(interval)}: the minimum is 10s`, 'interval');
  const tags = (raw.tag_columns as string[] | undefined | null) ?? null;
  for (const tag of tags ?? []) {
    if (tag.trim() === '') throw bad('tag column name must not be empty', 'tag_columns');
    if (tag.toLowerCase() === 'time') throw bad('tag column "time" is reserved: time is always part of the dedup key and must not be listed', 'tag_columns');
    if (!TAG.test(tag)) throw bad(`invalid tag column "${tag}": only alphanumeric, underscore, and hyphen are allowed`, 'tag_columns');
  }
  return {
    name,
    description,
    database,
    source_measurement: source,
    destination_measurement: destination,
    query,
    interval,
    tag_columns: tags && tags.length > 0 ? tags : null,
    retention_days: retentionDays,
    delete_source_after_days: deleteSourceAfterDays,
    // Arc takes a missing is_active as Go's false; arc-ts takes it as true (a CQ is created to run).
    is_active: raw.is_active !== false,
  };
}

/** Go's JSON decoding matches keys case-insensitively; arc-ts does the same for these bodies. */
export function lowerKeys(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (!(lower in out)) out[lower] = value;
  }
  return out;
}

/** RFC 3339 UTC with whole seconds, as Arc prints times. */
export function rfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The query with its placeholders replaced by quoted second-precision RFC 3339 times (§4.3). */
export function substituteWindow(query: string, startMs: number, endMs: number): string {
  return query.split('{start_time}').join(`'${rfc3339Seconds(startMs)}'`).split('{end_time}').join(`'${rfc3339Seconds(endMs)}'`);
}

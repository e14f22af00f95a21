import { requireDatabase } from '../auth/database-scope.js';
import { ArcError, type ErrorCode } from '../errors.js';
import { lowerKeys } from '../lifecycle/cq-definitions.js';
import fs from 'node:fs';
import path from 'node:path';
import { dropDatabase } from '../lifecycle/database-drop.js';
import { isFullTablePattern, parseDeletePredicate } from '../lifecycle/delete-predicate.js';
import { checkDatabaseName } from '../ingest/names.js';
import type { RewriteScan } from '../lifecycle/row-rewrite.js';
import { readJsonBody } from './body.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';
import type { ServerState } from './server-state.js';

export const DELETE_DISABLED_MESSAGE = 'Delete operations are disabled. Set delete.enabled=true in arc.toml to enable.';

/**
 * Arc's delete API (arc-spec-lifecycle §5), admin only: every answer, success or error, is Arc's
 * DeleteResponse (plus `code` on errors). Unlike Arc, the WHERE is parsed by DuckDB (an invalid
 * one is a 400 with DuckDB's message), rows where it is NULL are kept, time conditions prune the
 * files scanned, buffered rows are deleted too, and all touched files change in one atomic step.
 */
export function deleteRoutes(state: ServerState): Route[] {
  return [
    { method: 'POST', path: '/api/v1/delete', envelope: 'plain', permission: 'admin', handler: (context) => deleteRows(state, context) },
    { method: 'DELETE', path: '/api/v1/databases/:name', envelope: 'plain', permission: 'admin', handler: (context) => deleteDatabase(state, context) },
    {
      method: 'GET',
      path: '/api/v1/delete/config',
      envelope: 'plain',
      permission: 'admin',
      handler: ({ res }) =>
        sendJson(res, 200, {
          enabled: state.config.delete.enabled,
          confirmation_threshold: state.config.delete.confirmationThreshold,
          max_rows_per_delete: state.config.delete.maxRowsPerDelete,
          implementation: 'rewrite-based',
          performance_impact: { writes: 'zero overhead', queries: 'zero overhead', deletes: 'expensive (file rewrites)' },
        }),
    },
  ];
}

async function deleteRows(state: ServerState, context: RequestContext): Promise<void> {
  const started = performance.now();
  let dryRun = false;
  const elapsed = () => Math.round(performance.now() - started);
  const fail = (code: ErrorCode, message: string) =>
    new ArcError(code, message, { success: false, deleted_count: 0, affected_files: 0, rewritten_files: 0, execution_time_ms: elapsed(), dry_run: dryRun, files_processed: null });
  try {
    if (!state.config.delete.enabled) throw fail('ARC_ERR_DELETE_DISABLED', DELETE_DISABLED_MESSAGE);
    const raw = await readJsonBody(context, true);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fail('ARC_ERR_BAD_REQUEST', 'Invalid request body: the body must be a JSON object');
    const body = lowerKeys(raw as Record<string, unknown>);
    const text = (key: string): string => {
      const value = body[key];
      if (value === undefined || value === null) return '';
      if (typeof value !== 'string') throw fail('ARC_ERR_BAD_REQUEST', `Invalid request body: ${key} must be a string`);
      return value;
    };
    const flag = (key: string): boolean => {
      const value = body[key];
      if (value === undefined || value === null) return false;
      if (typeof value !== 'boolean') throw fail('ARC_ERR_BAD_REQUEST', `Invalid request body: ${key} must be a boolean`);
      return value;
    };
    dryRun = flag('dry_run');
    const confirm = flag('confirm');
    const database = text('database');
    const measurement = text('measurement');
    const where = text('where');
    if (database === '') throw fail('ARC_ERR_BAD_REQUEST', 'database is required');
    if (measurement === '') throw fail('ARC_ERR_BAD_REQUEST', 'measurement is required');
    if (/[/\\]|\.\./.test(database)) throw fail('ARC_ERR_BAD_REQUEST', 'database name contains invalid characters');
    if (/[/\\]|\.\./.test(measurement)) throw fail('ARC_ERR_BAD_REQUEST', 'measurement name contains invalid characters');
    try {
      requireDatabase(context.principal, database);
    } catch (refusal) {
      // Arc's DeleteResponse fields, plus the database and the token's allowed ones.
      const scope = refusal as ArcError;
      throw new ArcError(scope.code, scope.message, { ...fail(scope.code, scope.message).details, ...scope.details });
    }
    const rewriter = state.rewriter;
    const predicate = await rewriter.exclusive(() => parseDeletePredicate(rewriter.connection, measurement, where));
    if (isFullTablePattern(where) && !confirm) throw fail('ARC_ERR_CONFIRM_REQUIRED', 'Full table delete detected (WHERE 1=1). Set confirm=true to proceed.');
    if (!dryRun && !confirm) throw fail('ARC_ERR_CONFIRM_REQUIRED', 'Confirmation required for delete operation. Set confirm=true or use dry_run=true to preview.');
    const { maxRowsPerDelete: max, confirmationThreshold: threshold } = state.config.delete;
    const decide = (scan: RewriteScan): boolean => {
      const n = scan.matchingRows;
      if (n > max) throw fail('ARC_ERR_DELETE_LIMIT', `Delete would affect ${n} rows, exceeding maximum of ${max}. Adjust delete.max_rows_per_delete in arc.toml or refine WHERE clause.`);
      if (n > threshold && !confirm) throw fail('ARC_ERR_DELETE_LIMIT', `Delete would affect ${n} rows (threshold: ${threshold}). Set confirm=true to proceed.`);
      return dryRun;
    };
    const outcome = await state.rewriter.remove({ database, measurement, predicate: predicate.sql, lo: predicate.lo, hi: predicate.hi }, decide);
    const processed = outcome.affectedFiles.filter((name) => !outcome.failedFiles.includes(name));
    const response: Record<string, unknown> = {
      success: outcome.failedFiles.length === 0,
      deleted_count: outcome.deletedRows,
      affected_files: outcome.affectedFiles.length,
      rewritten_files: outcome.rewrittenFiles + outcome.removedFiles,
      execution_time_ms: elapsed(),
      dry_run: outcome.dryRun,
      files_processed: outcome.dryRun ? outcome.affectedFiles : processed,
    };
    if (outcome.failedFiles.length > 0) {
      response.failed_files = outcome.failedFiles;
      response.error = `${outcome.failedFiles.length} of ${outcome.affectedFiles.length} files failed to process`;
      response.code = 'ARC_ERR_DELETE_PARTIAL';
      sendJson(context.res, 207, response);
      return;
    }
    if (!outcome.dryRun && outcome.deletedRows > 0) {
      state.log.info('delete: rows deleted', { database, measurement, rows: outcome.deletedRows, files_rewritten: outcome.rewrittenFiles, files_removed: outcome.removedFiles });
    }
    sendJson(context.res, 200, response);
  } catch (err) {
    if (err instanceof ArcError && 'success' in err.details) throw err;
    if (err instanceof ArcError) throw fail(err.code, err.message);
    state.log.error('delete failed; nothing was deleted', { error: err as Error });
    throw fail('ARC_ERR_DELETE_FAILED', `Delete failed: ${(err as Error).message}; nothing was deleted`);
  }
}

const RESERVED_DATABASES = new Set(['system', 'internal', '_internal']);

/**
 * DELETE /api/v1/databases/:name?confirm=true (arc-spec-lifecycle §6): files, buffered and logged
 * rows, retention policies and continuous queries of the database, in one crash-safe step (see
 * dropDatabase). Writes to it meanwhile are refused with 409.
 */
async function deleteDatabase(state: ServerState, { res, params, rawQuery, principal }: RequestContext): Promise<void> {
  const name = params.name!;
  if (!state.config.delete.enabled) throw new ArcError('ARC_ERR_DELETE_DISABLED', DELETE_DISABLED_MESSAGE);
  if (new URLSearchParams(rawQuery).get('confirm') !== 'true') throw new ArcError('ARC_ERR_CONFIRM_REQUIRED', 'Confirmation required. Add ?confirm=true to delete the database.');
  if (RESERVED_DATABASES.has(name.toLowerCase())) throw new ArcError('ARC_ERR_FORBIDDEN', `Cannot delete reserved database '${name}'`);
  checkDatabaseName(name);
  requireDatabase(principal, name);
  const exists =
    fs.existsSync(path.join(state.root, name)) || state.catalog.databases().includes(name) || state.buffers.bufferedMeasurements().some((m) => m.database === name);
  if (!exists) throw new ArcError('ARC_ERR_DATABASE_NOT_FOUND', `Database '${name}' not found`);
  const removeDefinitions = async (database: string) => {
    await state.retention?.removeDatabase(database);
    const cqs = state.continuousQueries?.service;
    for (const cq of cqs?.list(database, null) ?? []) await cqs!.remove(cq.id);
  };
  // One at a time with row deletes and retention runs (they share the rewrite lane).
  const { files } = await state.rewriter.exclusive(() =>
    dropDatabase({ root: state.root, catalog: state.catalog, buffers: state.buffers, wal: state.wal, log: state.log, removeDefinitions }, name, process.env.ARC_TEST_DROP_CRASH_POINT),
  );
  state.log.info('database deleted', { database: name, files });
  sendJson(res, 200, { message: `Database '${name}' deleted successfully`, files_deleted: files });
}

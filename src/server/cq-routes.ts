import { databaseAuthorizer, reachable, requireDatabase } from '../auth/database-scope.js';
import { ArcError } from '../errors.js';
import { lowerKeys } from '../lifecycle/cq-definitions.js';
import type { CqScheduler } from '../lifecycle/cq-scheduler.js';
import type { ContinuousQueryService } from '../lifecycle/cq-service.js';
import { readJsonBody } from './body.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';

/** RFC 3339 with a required offset or Z, as Go's time.RFC3339 parses it. */
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/**
 * Arc's continuous-query API (arc-spec-lifecycle §4.2–§4.3), every route admin-only like Arc's.
 * Absent (404) when continuous_query.enabled is false.
 */
export function cqRoutes(service: ContinuousQueryService, scheduler: CqScheduler): Route[] {
  const base = '/api/v1/continuous_queries';
  const route = (method: Route['method'], path: string, handler: Route['handler']): Route => ({ method, path, envelope: 'plain', permission: 'admin', handler });
  return [
    // A token scoped to databases sees and changes only CQs of its databases, and a CQ it creates,
    // updates or runs may read only from them.
    route('POST', base, async (context) => sendJson(context.res, 201, await service.create(await readJsonBody(context, true), databaseAuthorizer(context.principal)))),
    route('GET', base, ({ res, rawQuery, principal }) => {
      const query = new URLSearchParams(rawQuery);
      const active = query.get('is_active');
      const list = reachable(principal, service.list(query.get('database') || null, active === null || active === '' ? null : active === 'true'), (cq) => cq.database);
      sendJson(res, 200, list.length === 0 ? null : list);
    }),
    route('GET', `${base}/:id`, ({ res, params, principal }) => sendJson(res, 200, reachableCq(service, idOf(params.id), principal))),
    route('PUT', `${base}/:id`, async (context) => {
      const id = idOf(context.params.id);
      const body = await readJsonBody(context, true);
      sendJson(context.res, 200, await service.update(id, body, databaseAuthorizer(context.principal)));
    }),
    route('DELETE', `${base}/:id`, async ({ res, params, principal }) => {
      await service.remove(reachableCq(service, idOf(params.id), principal).id);
      sendJson(res, 200, { message: 'Continuous query deleted successfully' });
    }),
    route('POST', `${base}/:id/execute`, async (context) => {
      const id = idOf(context.params.id);
      const authorize = databaseAuthorizer(context.principal);
      if (authorize) await service.checkAccess(id, authorize);
      const body = lowerKeys(((await readJsonBody(context, false)) ?? {}) as Record<string, unknown>);
      if (body.dry_run !== undefined && body.dry_run !== null && typeof body.dry_run !== 'boolean') {
        throw new ArcError('ARC_ERR_BAD_REQUEST', 'Invalid request body: dry_run must be a boolean', { field: 'dry_run' });
      }
      if (!service.get(id).is_active) throw new ArcError('ARC_ERR_BAD_REQUEST', 'Continuous query is not active', { id });
      const startMs = timeOf(body.start_time, 'start_time');
      const endMs = timeOf(body.end_time, 'end_time');
      sendJson(context.res, 200, await service.execute(id, { startMs, endMs, dryRun: body.dry_run === true, idPrefix: 'cq-exec-' }));
    }),
    route('GET', `${base}/:id/executions`, ({ res, params, rawQuery, principal }) => {
      const id = reachableCq(service, idOf(params.id), principal).id;
      const limitText = new URLSearchParams(rawQuery).get('limit');
      const limit = limitText === null ? 50 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1) throw new ArcError('ARC_ERR_BAD_REQUEST', `limit must be a positive integer; got ${JSON.stringify(limitText)}`, { field: 'limit' });
      const executions = service.executions(id, Math.min(limit, 1000));
      sendJson(res, 200, { query_id: id, executions: executions.length === 0 ? null : executions });
    }),
    route('POST', '/api/v1/schedulers/cq/reload', ({ res }) => sendJson(res, 200, { message: 'CQ scheduler reloaded successfully', job_count: scheduler.reload() })),
  ];
}

/** With continuous_query.enabled false only the reload route exists, answering 503 (Arc's route without a scheduler). */
export function cqSchedulerAbsentRoutes(): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/v1/schedulers/cq/reload',
      envelope: 'plain',
      permission: 'admin',
      handler: () => {
        throw new ArcError('ARC_ERR_SCHEDULER_DISABLED', 'CQ scheduler is not running - continuous_query.enabled is false');
      },
    },
  ];
}

/** The CQ, when the request's token may reach its database (404 first for an unknown id, then 403). */
function reachableCq(service: ContinuousQueryService, id: number, principal: RequestContext['principal']) {
  const cq = service.get(id);
  requireDatabase(principal, cq.database);
  return cq;
}

function idOf(text: string | undefined): number {
  const id = Number(text);
  if (!/^\d+$/.test(text ?? '') || !Number.isSafeInteger(id)) throw new ArcError('ARC_ERR_BAD_REQUEST', 'Invalid query ID', { field: 'id' });
  return id;
}

function timeOf(value: unknown, field: 'start_time' | 'end_time'): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw new ArcError('ARC_ERR_BAD_REQUEST', `Invalid ${field} format`, { field });
  }
  return Date.parse(value);
}

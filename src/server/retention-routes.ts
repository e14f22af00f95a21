import { canReach, isScoped, requireDatabase } from '../auth/database-scope.js';
import { ArcError } from '../errors.js';
import { lowerKeys } from '../lifecycle/cq-definitions.js';
import type { RetentionService } from '../lifecycle/retention.js';
import { readJsonBody } from './body.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';

/**
 * Arc's retention API (arc-spec-lifecycle §3.2–§3.4): reads need any valid token, changes and runs
 * an admin one. Absent (404) when retention.enabled is false, as in Arc.
 */
export function retentionRoutes(service: RetentionService): Route[] {
  const base = '/api/v1/retention';
  const route = (method: Route['method'], path: string, permission: Route['permission'], handler: Route['handler']): Route => ({ method, path, envelope: 'plain', permission, handler });
  // A token scoped to databases sees and changes only the policies of its databases (404 before 403 for an unknown id).
  const reachableId = (text: string | undefined, principal: RequestContext['principal']): number => {
    const id = idOf(text);
    if (isScoped(principal)) requireDatabase(principal, service.databaseOf(id));
    return id;
  };
  const authorizer = (principal: RequestContext['principal']) => (database: string) => requireDatabase(principal, database);
  return [
    route('POST', base, 'admin', async (context) => sendJson(context.res, 201, await service.create(await readJsonBody(context, true), authorizer(context.principal)))),
    route('GET', base, 'any', ({ res, principal }) => {
      const list = service.list().filter((policy) => canReach(principal, (policy as { database: string }).database));
      sendJson(res, 200, list.length === 0 ? null : list);
    }),
    route('GET', `${base}/:id`, 'any', ({ res, params, principal }) => sendJson(res, 200, service.get(reachableId(params.id, principal)))),
    route('PUT', `${base}/:id`, 'admin', async (context) => {
      const id = idOf(context.params.id);
      sendJson(context.res, 200, await service.update(id, await readJsonBody(context, true), authorizer(context.principal)));
    }),
    route('DELETE', `${base}/:id`, 'admin', async ({ res, params, principal }) => {
      await service.remove(reachableId(params.id, principal));
      sendJson(res, 200, { message: 'Retention policy deleted successfully' });
    }),
    route('POST', `${base}/:id/execute`, 'admin', async (context) => {
      const id = reachableId(context.params.id, context.principal);
      const body = lowerKeys(((await readJsonBody(context, false)) ?? {}) as Record<string, unknown>);
      for (const key of ['dry_run', 'confirm']) {
        if (body[key] !== undefined && body[key] !== null && typeof body[key] !== 'boolean') throw new ArcError('ARC_ERR_BAD_REQUEST', `Invalid request body: ${key} must be a boolean`, { field: key });
      }
      sendJson(context.res, 200, await service.execute(id, body.dry_run === true, body.confirm === true));
    }),
    route('GET', `${base}/:id/executions`, 'any', ({ res, params, rawQuery, principal }) => {
      const id = reachableId(params.id, principal);
      const limitText = new URLSearchParams(rawQuery).get('limit');
      const limit = limitText === null ? 50 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1) throw new ArcError('ARC_ERR_BAD_REQUEST', `limit must be a positive integer; got ${JSON.stringify(limitText)}`, { field: 'limit' });
      const executions = service.history(id, Math.min(limit, 1000));
      sendJson(res, 200, { policy_id: id, executions: executions.length === 0 ? null : executions });
    }),
    { ...route('POST', '/api/v1/schedulers/retention/trigger', 'admin', async ({ res }) => {
      await service.runAll();
      sendJson(res, 200, { message: 'Retention triggered successfully' });
    }), allDatabases: 'a retention run of every policy' },
  ];
}

/** With retention.enabled false only the trigger route exists, answering 503 (Arc's route without a scheduler). */
export function retentionAbsentRoutes(): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/v1/schedulers/retention/trigger',
      envelope: 'plain',
      permission: 'admin',
      handler: () => {
        throw new ArcError('ARC_ERR_SCHEDULER_DISABLED', 'Retention scheduler is not running - retention.enabled is false');
      },
    },
  ];
}

function idOf(text: string | undefined): number {
  const id = Number(text);
  if (!/^\d+$/.test(text ?? '') || !Number.isSafeInteger(id)) throw new ArcError('ARC_ERR_BAD_REQUEST', 'Invalid policy ID', { field: 'id' });
  return id;
}

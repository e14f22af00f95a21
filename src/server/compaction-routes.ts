import type { CompactionManager } from '../compaction/compaction-manager.js';
import { TIERS, type Tier } from '../compaction/planner.js';
import { ArcError } from '../errors.js';
import { checkDatabaseName } from '../ingest/names.js';
import { requireAllDatabases, requireDatabase } from '../auth/database-scope.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';

/** Arc's compaction API (arc-spec-lifecycle §2.10); absent (404) when compaction.enabled is false, like Arc. */
export function compactionRoutes(compaction: CompactionManager): Route[] {
  // candidates, jobs and history name every database's measurements: not for a token scoped to some.
  const read = (path: string, body: (context: RequestContext) => object, listsDatabases = false): Route => ({
    method: 'GET',
    path: `/api/v1/compaction/${path}`,
    envelope: 'plain',
    permission: 'any',
    ...(listsDatabases ? { allDatabases: `compaction ${path}` } : {}),
    handler: (context) => sendJson(context.res, 200, body(context)),
  });
  return [
    read('status', () => compaction.status()),
    read('stats', () => compaction.stats()),
    read('candidates', () => compaction.candidates(), true),
    read('jobs', () => compaction.jobs(), true),
    read('history', ({ rawQuery }) => {
      const limit = Number(new URLSearchParams(rawQuery).get('limit') ?? '10');
      return compaction.recentJobs(Number.isInteger(limit) && limit >= 1 ? Math.min(limit, 100) : 10);
    }, true),
    { method: 'POST', path: '/api/v1/compaction/trigger', envelope: 'plain', permission: 'admin', handler: (context) => trigger(compaction, context) },
  ];
}

/** POST /api/v1/compaction/trigger?tier=hourly,daily&database=db&force=true — starts a cycle and answers at once. */
function trigger(compaction: CompactionManager, { res, rawQuery, principal }: RequestContext): void {
  const query = new URLSearchParams(rawQuery);
  let tiers: Tier[] | null = null;
  const tierText = query.get('tier');
  if (tierText !== null && tierText.trim() !== '') {
    const names = tierText.split(',').map((t) => t.trim()).filter((t) => t !== '');
    const unknown = names.find((t) => !TIERS.includes(t as Tier));
    // Arc runs an empty cycle for an unknown tier and answers 200; a typo deserves to be told.
    if (unknown !== undefined) throw new ArcError('ARC_ERR_BAD_REQUEST', `unknown compaction tier ${JSON.stringify(unknown)}: use hourly, daily or both (comma-separated)`, { tier: unknown });
    tiers = [...new Set(names as Tier[])];
  }
  const database = query.get('database') ?? undefined;
  if (database !== undefined) {
    try {
      checkDatabaseName(database);
    } catch {
      throw new ArcError('ARC_ERR_INVALID_DATABASE', 'Invalid database name: must start with a letter and contain only alphanumeric characters, underscores, or hyphens (max 64 characters)', { database });
    }
    requireDatabase(principal, database);
  } else {
    requireAllDatabases(principal, 'a compaction of every database (no database parameter)');
  }
  const forceText = query.get('force');
  if (forceText !== null && forceText !== 'true' && forceText !== 'false') throw new ArcError('ARC_ERR_BAD_REQUEST', `force must be true or false; got ${JSON.stringify(forceText)}`);
  const started = compaction.trigger(tiers, database, forceText === 'true');
  sendJson(res, 200, {
    message: 'Compaction triggered',
    status: 'running',
    tiers: started.tiers,
    cycle_id: started.cycleId,
    ...(database !== undefined ? { database } : {}),
    ...(forceText === 'true' ? { force: true } : {}),
  });
}

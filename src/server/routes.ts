import { ArcError } from '../errors.js';
import { authRoutes } from './auth-routes.js';
import { lineProtocolHealth, lineProtocolStats, msgpackSpec, msgpackStats, schedulers } from './helper-routes.js';
import { importRoutes } from './import-routes.js';
import { backupRoutes } from './backup-routes.js';
import { compactionRoutes } from './compaction-routes.js';
import { consoleRoutes } from './console-routes.js';
import { exploreRoutes } from './explore-routes.js';
import { cqRoutes, cqSchedulerAbsentRoutes } from './cq-routes.js';
import { deleteRoutes } from './delete-routes.js';
import { retentionAbsentRoutes, retentionRoutes } from './retention-routes.js';
import {
  createDatabase,
  databaseMeasurements,
  getDatabase,
  listDatabasesRoute,
  measurements,
  queryArrow,
  queryEstimate,
  queryJson,
  queryMeasurement,
  queryMsgpack,
} from './query-routes.js';
import { goDuration, rfc3339, sendJson, sendText } from './respond.js';
import type { RequestContext, Route } from './router.js';
import type { ServerState } from './server-state.js';
import { QUARANTINE_DIRECTORY } from '../wal/write-ahead-log.js';
import { ping, writeLineProtocol, writeMsgpack } from './write-routes.js';

export type { ServerState } from './server-state.js';

export function buildRoutes(state: ServerState): Route[] {
  const metricsPermission = state.config.auth.metricsPublic ? 'public' : 'any';
  const flush = async ({ res }: RequestContext) => {
    await state.buffers.flushAll();
    sendJson(res, 200, { status: 'success', message: 'All buffers flushed' });
  };
  return [
    { method: 'GET', path: '/health', envelope: 'plain', permission: 'public', handler: ({ res }) => health(state, res) },
    { method: 'GET', path: '/ready', envelope: 'plain', permission: 'public', handler: ({ res }) => ready(state, res) },
    { method: 'POST', path: '/api/v1/write/msgpack', envelope: 'plain', permission: 'write', handler: (context) => writeMsgpack(state, context) },
    { method: 'POST', path: '/write', envelope: 'plain', permission: 'write', handler: (context) => writeLineProtocol(state, context, 'db') },
    { method: 'POST', path: '/api/v2/write', envelope: 'plain', permission: 'write', handler: (context) => writeLineProtocol(state, context, 'bucket') },
    { method: 'POST', path: '/api/v1/write/line-protocol', envelope: 'plain', permission: 'write', handler: (context) => writeLineProtocol(state, context, null) },
    { method: 'GET', path: '/api/v1/write/msgpack/stats', envelope: 'plain', permission: 'any', handler: (context) => msgpackStats(state, context) },
    { method: 'GET', path: '/api/v1/write/msgpack/spec', envelope: 'plain', permission: 'any', handler: (context) => msgpackSpec(state, context) },
    { method: 'GET', path: '/api/v1/write/line-protocol/stats', envelope: 'plain', permission: 'any', handler: (context) => lineProtocolStats(state, context) },
    { method: 'GET', path: '/api/v1/write/line-protocol/health', envelope: 'plain', permission: 'any', handler: (context) => lineProtocolHealth(state, context) },
    { method: 'GET', path: '/api/v1/schedulers', envelope: 'plain', permission: 'any', handler: (context) => schedulers(state, context) },
    { method: 'GET', path: '/ping', envelope: 'plain', permission: 'public', handler: ping },
    { method: 'POST', path: '/api/v1/write/flush', envelope: 'plain', permission: 'admin', allDatabases: 'flushing every buffer', handler: flush },
    { method: 'POST', path: '/api/v1/write/line-protocol/flush', envelope: 'plain', permission: 'admin', allDatabases: 'flushing every buffer', handler: flush },
    { method: 'GET', path: '/metrics', envelope: 'plain', permission: metricsPermission, handler: (context) => metrics(state, context) },
    {
      method: 'GET',
      path: '/api/v1/metrics',
      envelope: 'plain',
      permission: metricsPermission,
      handler: ({ res }) => sendJson(res, 200, { timestamp: rfc3339(new Date()), ...state.metrics.registry.snapshot() }),
    },
    { method: 'POST', path: '/api/v1/debug/profile', envelope: 'plain', permission: 'admin', allDatabases: 'profiling the server', handler: (context) => profile(state, context) },
    { method: 'POST', path: '/api/v1/query', envelope: 'query', permission: 'read', handler: (context) => queryJson(state, context) },
    { method: 'POST', path: '/api/v1/query/arrow', envelope: 'arrow', permission: 'read', handler: (context) => queryArrow(state, context) },
    { method: 'POST', path: '/api/v1/query/msgpack', envelope: 'msgpack', permission: 'read', handler: (context) => queryMsgpack(state, context) },
    { method: 'POST', path: '/api/v1/query/estimate', envelope: 'estimate', permission: 'read', handler: (context) => queryEstimate(state, context) },
    { method: 'GET', path: '/api/v1/query/:measurement', envelope: 'query', permission: 'read', handler: (context) => queryMeasurement(state, context) },
    { method: 'GET', path: '/api/v1/measurements', envelope: 'plain', permission: 'read', handler: (context) => measurements(state, context) },
    { method: 'GET', path: '/api/v1/databases', envelope: 'plain', permission: 'any', handler: (context) => listDatabasesRoute(state, context) },
    { method: 'POST', path: '/api/v1/databases', envelope: 'plain', permission: 'admin', handler: (context) => createDatabase(state, context) },
    { method: 'GET', path: '/api/v1/databases/:name', envelope: 'plain', permission: 'any', handler: (context) => getDatabase(state, context) },
    { method: 'GET', path: '/api/v1/databases/:name/measurements', envelope: 'plain', permission: 'any', handler: (context) => databaseMeasurements(state, context) },
    ...importRoutes(state),
    ...backupRoutes(state, state.version),
    ...(state.auth ? authRoutes(state.auth) : []),
    ...(state.compaction ? compactionRoutes(state.compaction) : []),
    ...deleteRoutes(state),
    ...(state.retention ? retentionRoutes(state.retention) : retentionAbsentRoutes()),
    ...(state.continuousQueries ? cqRoutes(state.continuousQueries.service, state.continuousQueries.scheduler) : cqSchedulerAbsentRoutes()),
    ...consoleRoutes(state),
    ...exploreRoutes(state),
  ];
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * POST /api/v1/debug/profile?seconds=N&kind=cpu|heap: profiles every thread for N seconds and
 * answers with the profiles (`arc profile` turns them into files, a flamegraph and a stage table).
 * It needs an admin token; while authentication is off it is open only to loopback clients.
 */
async function profile(state: ServerState, { req, res, rawQuery }: RequestContext): Promise<void> {
  if (!state.auth && !LOOPBACK.has(req.socket.remoteAddress ?? '')) {
    throw new ArcError('ARC_ERR_FORBIDDEN', 'profiling is only open to loopback clients while authentication is disabled');
  }
  const query = new URLSearchParams(rawQuery);
  const seconds = Number(query.get('seconds') ?? '60');
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    throw new ArcError('ARC_ERR_BAD_REQUEST', `seconds must be a number in (0, 600]; got ${JSON.stringify(query.get('seconds'))}`);
  }
  const kind = query.get('kind') ?? 'cpu';
  if (kind !== 'cpu' && kind !== 'heap') throw new ArcError('ARC_ERR_BAD_REQUEST', `kind must be cpu or heap; got ${JSON.stringify(kind)}`);
  if (state.profiler.busy) throw new ArcError('ARC_ERR_CONFLICT', 'a profile is already being recorded; try again when it ends');
  req.socket.setTimeout(0); // the answer comes after `seconds` of silence
  const startedAt = new Date();
  const { threads, missing } = await state.profiler.capture(kind, seconds);
  sendJson(res, 200, { kind, seconds, started_at: startedAt.toISOString(), pid: process.pid, threads, missing });
}

function uptimeSeconds(state: ServerState): number {
  return (performance.now() - state.startedAt) / 1000;
}

function health(state: ServerState, res: RequestContext['res']): void {
  const seconds = uptimeSeconds(state);
  sendJson(res, 200, { status: 'ok', time: rfc3339(new Date()), uptime: goDuration(seconds * 1e9), uptime_sec: seconds });
}

function ready(state: ServerState, res: RequestContext['res']): void {
  if (!state.ready) {
    sendJson(res, 503, {
      status: 'not_ready',
      time: rfc3339(new Date()),
      reason: 'server is starting up or shutting down; load balancer should not route traffic here',
    });
    return;
  }
  const untrusted = state.wal?.report.untrustedFlushes ?? [];
  if (untrusted.length > 0) {
    // Serving, and nothing acknowledged is lost (the rows were replayed from the log), so still 200:
    // a readiness probe keeps routing writes here. The body tells monitoring what an operator must look at.
    sendJson(res, 200, {
      status: 'degraded',
      time: rfc3339(new Date()),
      uptime_sec: uptimeSeconds(state),
      reason: `${untrusted.length} recorded flush(es) failed their check at start-up; their rows were replayed from the write-ahead log and their files moved to ${QUARANTINE_DIRECTORY}/`,
      untrusted_flushes: untrusted,
    });
    return;
  }
  sendJson(res, 200, { status: 'ready', time: rfc3339(new Date()), uptime_sec: uptimeSeconds(state) });
}

/** Prometheus text, or the JSON snapshot when the client asks for exactly `application/json` (arc-spec §4). */
function metrics(state: ServerState, { req, res }: RequestContext): void {
  if (req.headers.accept === 'application/json') {
    sendJson(res, 200, { timestamp: rfc3339(new Date()), ...state.metrics.registry.snapshot() });
    return;
  }
  sendText(res, 200, state.metrics.registry.prometheus(), 'text/plain; version=0.0.4; charset=utf-8');
}


import type { BufferManager } from '../buffer/buffer-manager.js';
import type { ArcConfig } from '../config/config.js';
import { ArcError } from '../errors.js';
import { decodeMsgpackPayload, type DecodeContext } from '../ingest/msgpack-decode.js';
import { DEFAULT_DATABASE, checkDatabaseName, isValidMeasurementName, measurementNameError } from '../ingest/names.js';
import type { Logger } from '../log.js';
import { decompressBody, readBody, sniffEncoding } from './body.js';
import { goDuration, rfc3339, sendJson, sendNoContent } from './respond.js';
import type { RequestContext, Route } from './router.js';

/** What route handlers may use; the server owns and wires it. */
export interface ServerState {
  readonly config: ArcConfig;
  readonly buffers: BufferManager;
  readonly decodeContext: DecodeContext;
  readonly log: Logger;
  /** performance.now() at start-up. */
  readonly startedAt: number;
  ready: boolean;
}

export function buildRoutes(state: ServerState): Route[] {
  const flush = async ({ res }: RequestContext) => {
    await state.buffers.flushAll();
    sendJson(res, 200, { status: 'success', message: 'All buffers flushed' });
  };
  return [
    { method: 'GET', path: '/health', envelope: 'plain', handler: ({ res }) => health(state, res) },
    { method: 'GET', path: '/ready', envelope: 'plain', handler: ({ res }) => ready(state, res) },
    { method: 'POST', path: '/api/v1/write/msgpack', envelope: 'plain', handler: (context) => writeMsgpack(state, context) },
    { method: 'POST', path: '/api/v1/write/flush', envelope: 'plain', handler: flush },
    { method: 'POST', path: '/api/v1/write/line-protocol/flush', envelope: 'plain', handler: flush },
  ];
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
  sendJson(res, 200, { status: 'ready', time: rfc3339(new Date()), uptime_sec: uptimeSeconds(state) });
}

/** The database a write goes to: `x-arc-database`, or `default` when absent or empty (arc-spec §5). */
export function databaseOf(context: RequestContext): string {
  const header = context.req.headers['x-arc-database'];
  const value = Array.isArray(header) ? header[0] : header;
  return value && value.trim() !== '' ? value.trim() : DEFAULT_DATABASE;
}

/**
 * POST /api/v1/write/msgpack (arc-spec §5), in Arc's order of checks: empty body, size,
 * decompression, decoding, database name, measurement names, buffering. All or nothing.
 */
async function writeMsgpack(state: ServerState, context: RequestContext): Promise<void> {
  const limit = state.config.server.maxPayloadSize;
  const raw = await readBody(context.req, limit);
  if (raw.length === 0) throw new ArcError('ARC_ERR_EMPTY_PAYLOAD', 'Empty payload');
  const body = await decompressBody(raw, sniffEncoding(raw), limit);
  const payload = decodeMsgpackPayload(body, state.decodeContext);
  const database = databaseOf(context);
  checkDatabaseName(database);
  for (const { batch, item } of payload.batches) {
    if (!isValidMeasurementName(batch.measurement)) {
      const where = payload.multiItem ? `item ${item}: ` : '';
      throw new ArcError('ARC_ERR_INVALID_MEASUREMENT', where + measurementNameError(batch.measurement), {
        item,
        measurement: batch.measurement,
      });
    }
  }
  state.buffers.write(database, payload.batches.map((decoded) => decoded.batch));
  sendNoContent(context.res);
}

import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AuthService, Principal } from '../auth/auth-service.js';
import { requireAllDatabases } from '../auth/database-scope.js';
import type { ArcConfig } from '../config/config.js';
import { ArcError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import { handleClientErrors } from './long-uploads.js';
import type { LoopTurns } from './loop-turns.js';
import { CORS_PREFLIGHT_HEADERS, sendError, sendJson, sendNoContent } from './respond.js';
import type { Router } from './router.js';

/**
 * node:http (or https) with Arc's timeouts, CORS preflight, 404/405 bodies and one error
 * handler: ArcErrors render in the route's envelope, anything else is a logged 500.
 */
export function createHttpServer(config: ArcConfig, router: Router, log: Logger, metrics: ServerMetrics, auth: AuthService | null, turns: LoopTurns): http.Server {
  const listener = (req: IncomingMessage, res: ServerResponse) => void dispatch(router, log, metrics, auth, req, res);
  const server = config.server.tls.enabled
    ? https.createServer(
        { cert: fs.readFileSync(config.server.tls.certFile), key: fs.readFileSync(config.server.tls.keyFile) },
        listener,
      )
    : http.createServer(listener);
  server.requestTimeout = config.server.readTimeoutSec * 1000;
  server.headersTimeout = Math.min(60_000, server.requestTimeout);
  server.keepAliveTimeout = config.server.idleTimeoutSec * 1000;
  // Inactivity while a request is being answered; idle keep-alive sockets use keepAliveTimeout.
  server.timeout = config.server.writeTimeoutSec * 1000;
  handleClientErrors(server);
  server.on('connection', () => turns.connectionAccepted());
  return server;
}

async function dispatch(router: Router, log: Logger, metrics: ServerMetrics, auth: AuthService | null, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  let path = queryAt < 0 ? url : url.slice(0, queryAt);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const method = req.method ?? 'GET';

  if (method === 'OPTIONS') {
    sendNoContent(res, CORS_PREFLIGHT_HEADERS);
    return;
  }
  const match = router.match(method, path);
  const rawQuery = queryAt < 0 ? '' : url.slice(queryAt + 1);
  let principal: Principal | null = null;
  try {
    if (auth !== null) {
      // Before the body is read; an unknown route needs a valid token too (Arc: 401 before 404).
      const required = match.kind === 'found' ? match.route.permission : 'any';
      if (required !== 'public') {
        let outcome = auth.check(req.headers, rawQuery, required);
        if (outcome instanceof Promise) outcome = await outcome.catch((err: unknown) => authUnavailable(err, log));
        if (!outcome.ok) {
          const code = outcome.status === 401 ? 'ARC_ERR_UNAUTHORIZED' : 'ARC_ERR_FORBIDDEN';
          metrics.rejectedRequest(code);
          if (!req.complete) drainRefusedBody(req, res);
          sendJson(res, outcome.status, { success: false, error: outcome.error, code });
          return;
        }
        principal = outcome.principal;
      }
    }
    if (match.kind === 'none') throw new ArcError('ARC_ERR_NOT_FOUND', `Cannot ${method} ${path}`);
    if (match.kind === 'wrong-method') {
      throw new ArcError('ARC_ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed', {}, { Allow: match.allowed.join(', ') });
    }
    if (match.route.allDatabases !== undefined) requireAllDatabases(principal, match.route.allDatabases);
    await match.route.handler({ req, res, path, rawQuery, params: match.params, startedAt: started, principal });
    if (metrics.timings) metrics.httpLatency(match.route.path).observeMs(performance.now() - started);
  } catch (err) {
    const error = err instanceof ArcError ? err : internalError(err, log, method, path);
    metrics.rejectedRequest(error.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!req.complete) drainRefusedBody(req, res);
    sendError(res, error, match.kind === 'found' ? match.route.envelope : 'plain', started);
  }
}

/** Bytes of a refused body read and discarded so the client can read the answer; past this the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 << 20;
/** And for at most this long. */
const DRAIN_LIMIT_MS = 10_000;

/**
 * The body of a refused request (413, 401, ...) is still arriving. Closing the socket now makes the
 * kernel answer the client's next bytes with a reset, and most clients then report EPIPE/ECONNRESET
 * instead of the answer (#13 item 8b). So the answer goes out at once with `Connection: close`, the
 * socket is only half-closed after it (node would destroy it), and the rest of the body is read and
 * thrown away up to a bound in bytes and time; the socket is destroyed when the body ends or the
 * bound is passed.
 */
function drainRefusedBody(req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
  const socket = req.socket;
  // node:http half-closes then destroys a "Connection: close" socket once the answer is written; keep the half-close only.
  socket.destroySoon = function halfClose(this: typeof socket) {
    if (this.writable) this.end();
  };
  let drained = 0;
  const finish = () => {
    cleanup();
    socket.destroy();
  };
  const timer = setTimeout(finish, DRAIN_LIMIT_MS);
  timer.unref();
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT_BYTES) finish();
  };
  const onEnd = () => {
    // The answer may still be on its way out: destroy after it is written.
    if (res.writableFinished) finish();
    else res.once('finish', finish);
  };
  const cleanup = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  socket.once('close', cleanup);
  req.resume();
}

/** The token store failed (disk, corrupt file): the request is answered 503, the server keeps serving. */
function authUnavailable(err: unknown, log: Logger): never {
  log.error('token store failed while verifying a token', { error: err instanceof Error ? err.message : String(err) });
  throw new ArcError('ARC_ERR_AUTH_UNAVAILABLE', 'Tokens cannot be verified right now (the token store failed); retry later', {}, { 'Retry-After': '1' });
}

function internalError(err: unknown, log: Logger, method: string, path: string): ArcError {
  const error = err instanceof Error ? err : new Error(String(err));
  log.error('request failed', { method, path, error: error.stack ?? error.message });
  return new ArcError('ARC_ERR_INTERNAL', 'Internal server error; the server log has the details');
}

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/server.js';
import { authRoutes } from '../server/auth-routes.js';
import { sendJson } from '../server/respond.js';
import { Router, type Route } from '../server/router.js';
import {
  AuthService,
  bootstrapOptionsFromEnv,
  extractToken,
  formatBootstrapBanner,
  hasPermission,
  type AuthOutcome,
  type AuthServiceOptions,
} from './auth-service.js';
import { generateToken } from './token-store.js';

const FAST = 1000;

async function openAuth(options: Partial<AuthServiceOptions> = {}): Promise<AuthService> {
  return AuthService.open({ dbPath: path.join(tempDir('arc-auth-'), 'arc.db'), hashIterations: FAST, bootstrap: false, ...options });
}

/** Counts the store verifications (cache misses that reach the database). */
function countVerifications(auth: AuthService): { readonly count: number } {
  const original = auth.store.verify.bind(auth.store);
  const counter = { count: 0 };
  auth.store.verify = (token: string) => {
    counter.count++;
    return original(token);
  };
  return counter;
}

test('extractToken: Bearer, Token, Basic (decoded), raw Authorization, x-api-key, ?p=, in Arc order', () => {
  assert.equal(extractToken({ authorization: 'Bearer abc' }, ''), 'abc');
  assert.equal(extractToken({ authorization: 'bearer abc' }, ''), 'abc', 'schemes match in any case');
  assert.equal(extractToken({ authorization: 'Token abc' }, ''), 'abc');
  const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;
  assert.equal(extractToken({ authorization: basic('influx:secret-token') }, ''), 'secret-token', 'the password is the token');
  assert.equal(extractToken({ authorization: basic('only-user-token:') }, ''), 'only-user-token', 'curl -u TOKEN: sends it as the user');
  assert.equal(extractToken({ authorization: basic('user:pa:ss') }, ''), 'pa:ss');
  assert.equal(extractToken({ authorization: 'raw-token-value' }, ''), 'raw-token-value');
  assert.equal(extractToken({ 'x-api-key': 'key-token' }, ''), 'key-token');
  assert.equal(extractToken({}, 'p=query-token'), 'query-token');
  assert.equal(extractToken({}, 'db=x&u=ignored&p=query%2Btoken'), 'query+token');
  assert.equal(extractToken({}, 'db=x&u=ignored'), null);
  assert.equal(extractToken({}, 'pp=x&xp=y'), null);
  assert.equal(extractToken({}, ''), null);
  assert.equal(extractToken({ authorization: 'Bearer first', 'x-api-key': 'second' }, 'p=third'), 'first');
  assert.equal(extractToken({ 'x-api-key': 'second' }, 'p=third'), 'second');
  assert.equal(extractToken({ authorization: 'Bearer ', 'x-api-key': 'second' }, ''), 'second', 'an empty bearer falls through');
});

test('a cached token is answered synchronously, from one lookup, without the store', async () => {
  const auth = await openAuth();
  try {
    const { token, info } = await auth.createToken({ name: 'hot' });
    const verifications = countVerifications(auth);
    assert.equal(auth.cached(token), undefined, 'nothing cached before the first use');
    const principals = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(token)));
    assert.equal(verifications.count, 1, 'concurrent misses share one verification');
    const principal = principals[0]!;
    assert.equal(principal.tokenId, info.id);
    assert.equal(principal.name, 'hot');
    assert.ok(principal.permissions.has('write'));
    for (let i = 0; i < 100; i++) assert.equal(auth.cached(token), principal);
    assert.equal(await auth.authenticate(token), principal);
    assert.equal(verifications.count, 1);
    const outcome = auth.check({ authorization: `Bearer ${token}` }, '', 'write');
    assert.ok(!(outcome instanceof Promise), 'check() of a cached token is synchronous');
    assert.deepEqual(outcome, { ok: true, principal });
    const stats = auth.cacheStats();
    assert.equal(stats.cache_size, 1);
    assert.equal(stats.cache_misses, 10);
    assert.ok(stats.cache_hits >= 101);
  } finally {
    await auth.close();
  }
});

test('revoke, rotate, delete and update take effect at once, cache or not', async () => {
  const auth = await openAuth();
  try {
    const revoked = await auth.createToken({ name: 'revoked' });
    assert.ok(await auth.authenticate(revoked.token));
    await auth.revokeToken(revoked.info.id);
    assert.equal(auth.cached(revoked.token), undefined);
    assert.equal(await auth.authenticate(revoked.token), null);

    const rotated = await auth.createToken({ name: 'rotated' });
    assert.ok(await auth.authenticate(rotated.token));
    const fresh = await auth.rotateToken(rotated.info.id);
    assert.equal(await auth.authenticate(rotated.token), null, 'the old secret is refused');
    assert.equal((await auth.authenticate(fresh.token))?.tokenId, rotated.info.id);

    const deleted = await auth.createToken({ name: 'deleted' });
    assert.ok(await auth.authenticate(deleted.token));
    await auth.deleteToken(deleted.info.id);
    assert.equal(await auth.authenticate(deleted.token), null);

    const updated = await auth.createToken({ name: 'updated', permissions: ['read'] });
    assert.equal(hasPermission((await auth.authenticate(updated.token))!, 'write'), false);
    await auth.updateToken(updated.info.id, { permissions: ['read', 'write'] });
    assert.equal(hasPermission((await auth.authenticate(updated.token))!, 'write'), true);
  } finally {
    await auth.close();
  }
});

test('a rotation racing a verification does not leave the old secret cached', async () => {
  const auth = await openAuth();
  try {
    const { token, info } = await auth.createToken({ name: 'racy' });
    const [during] = await Promise.all([auth.authenticate(token), auth.rotateToken(info.id)]);
    assert.ok(during === null || during.tokenId === info.id);
    assert.equal(auth.cached(token), undefined);
    assert.equal(await auth.authenticate(token), null);
  } finally {
    await auth.close();
  }
});

test('bad tokens are remembered briefly: a burst costs one verification', async () => {
  let now = Date.now();
  const auth = await openAuth({ now: () => now, negativeCacheTtlSeconds: 5 });
  try {
    const { token, info } = await auth.createToken({ name: 'soon-revoked' });
    await auth.revokeToken(info.id);
    const verifications = countVerifications(auth);
    for (let i = 0; i < 20; i++) assert.equal(await auth.authenticate(token), null);
    const unknown = generateToken();
    for (let i = 0; i < 20; i++) assert.equal(await auth.authenticate(unknown), null);
    assert.equal(verifications.count, 2);
    assert.equal(auth.cacheStats().negative_hits, 38);
    assert.equal(auth.cacheStats().negative_cache_size, 2);
    // The request path answers a remembered bad token at once, without a promise.
    const outcome = auth.check({ authorization: `Bearer ${unknown}` }, '', 'write');
    assert.ok(!(outcome instanceof Promise));
    assert.deepEqual(outcome, { ok: false, status: 401, error: 'Invalid or expired token' });
    assert.equal(verifications.count, 2);
    now += 5_001;
    assert.equal(await auth.authenticate(unknown), null);
    assert.equal(verifications.count, 3, 'remembered for 5 s only');
  } finally {
    await auth.close();
  }
});

test('cache entries expire after the TTL and never outlive the token', async () => {
  let now = Date.now();
  const auth = await openAuth({ now: () => now, cacheTtlSeconds: 30 });
  try {
    const long = await auth.createToken({ name: 'long' });
    const short = await auth.createToken({ name: 'short', expiresIn: '10s' });
    assert.ok(await auth.authenticate(long.token));
    assert.ok(await auth.authenticate(short.token));
    now += 10_001;
    assert.equal(auth.cached(short.token), undefined, 'the token expired before the TTL');
    assert.equal(await auth.authenticate(short.token), null);
    assert.ok(auth.cached(long.token));
    now += 20_000;
    assert.equal(auth.cached(long.token), undefined, 'TTL over');
    assert.ok(await auth.authenticate(long.token), 'verified again');
  } finally {
    await auth.close();
  }
});

test('the cache holds at most max_cache_size tokens, evicting the oldest', async () => {
  const auth = await openAuth({ maxCacheSize: 2 });
  try {
    const tokens = [];
    for (const name of ['a', 'b', 'c']) tokens.push((await auth.createToken({ name })).token);
    for (const token of tokens) await auth.authenticate(token);
    assert.equal(auth.cached(tokens[0]!), undefined);
    assert.ok(auth.cached(tokens[1]!));
    assert.ok(auth.cached(tokens[2]!));
    const stats = auth.cacheStats();
    assert.equal(stats.cache_size, 2);
    assert.equal(stats.cache_evictions, 1);
    assert.equal(stats.utilization_percent, 100);
    auth.invalidateAll();
    assert.equal(auth.cacheStats().cache_size, 0);
    assert.equal(auth.cached(tokens[2]!), undefined);
  } finally {
    await auth.close();
  }
});

test('permissions: admin satisfies all; check() answers Arc 401/403 messages', async () => {
  const auth = await openAuth();
  try {
    const reader = await auth.createToken({ name: 'reader', permissions: ['read'] });
    const admin = await auth.createToken({ name: 'root', permissions: ['admin'] });
    const none = await auth.createToken({ name: 'rbac-only', permissions: [] });
    const readerPrincipal = (await auth.authenticate(reader.token))!;
    const adminPrincipal = (await auth.authenticate(admin.token))!;
    for (const permission of ['read', 'write', 'delete', 'admin'] as const) assert.equal(hasPermission(adminPrincipal, permission), true);
    assert.equal(hasPermission(readerPrincipal, 'read'), true);
    assert.equal(hasPermission(readerPrincipal, 'write'), false);

    const check = async (headers: http.IncomingHttpHeaders, required: Parameters<AuthService['check']>[2]): Promise<AuthOutcome> =>
      auth.check(headers, '', required);
    assert.deepEqual(await check({}, 'read'), { ok: false, status: 401, error: 'Authentication required' });
    assert.deepEqual(await check({ authorization: 'Bearer nope' }, 'read'), { ok: false, status: 401, error: 'Invalid or expired token' });
    assert.deepEqual(await check({ authorization: `Bearer ${reader.token}` }, 'write'), { ok: false, status: 403, error: 'Permission denied: write required' });
    assert.equal((await check({ authorization: `Bearer ${reader.token}` }, 'read')).ok, true);
    assert.equal((await check({ 'x-api-key': admin.token }, 'delete')).ok, true);
    assert.equal((await check({ authorization: `Bearer ${none.token}` }, 'any')).ok, true, "'any' needs only a valid token");
    assert.deepEqual(await check({}, 'public'), { ok: true, principal: null });
  } finally {
    await auth.close();
  }
});

test('open bootstraps an admin token on an empty store; bad bootstrap variables are errors naming them', async () => {
  const dbPath = path.join(tempDir('arc-auth-'), 'nested', 'arc.db');
  const auth = await AuthService.open({ dbPath, hashIterations: FAST });
  try {
    assert.equal(auth.bootstrapTokens.length, 1);
    const [admin] = auth.bootstrapTokens;
    assert.ok((await auth.authenticate(admin!.token))?.permissions.has('admin'));
    const banner = formatBootstrapBanner(auth.bootstrapTokens);
    assert.ok(banner.includes(admin!.token));
    assert.match(banner, /SAVE THIS TOKEN/);
  } finally {
    await auth.close();
  }
  const reopened = await AuthService.open({ dbPath, hashIterations: FAST });
  assert.equal(reopened.bootstrapTokens.length, 0, 'only on an empty store');
  await reopened.close();

  assert.deepEqual(bootstrapOptionsFromEnv({}), {});
  assert.deepEqual(bootstrapOptionsFromEnv({ ARC_AUTH_BOOTSTRAP_TOKEN: 'x'.repeat(32), ARC_AUTH_FORCE_BOOTSTRAP: 'true' }), {
    bootstrapToken: 'x'.repeat(32),
    forceBootstrap: true,
  });
  assert.throws(() => bootstrapOptionsFromEnv({ ARC_AUTH_FORCE_BOOTSTRAP: 'maybe' }), /ARC_AUTH_FORCE_BOOTSTRAP/);
  await assert.rejects(
    AuthService.open({ dbPath: path.join(tempDir('arc-auth-'), 'arc.db'), hashIterations: FAST, bootstrap: bootstrapOptionsFromEnv({ ARC_AUTH_BOOTSTRAP_TOKEN: 'too-short' }) }),
    /ARC_AUTH_BOOTSTRAP_TOKEN must be at least 32 characters/,
  );
});

/** A minimal dispatcher wired as the server should: route permission checked before the handler. */
async function serve(auth: AuthService): Promise<{ url: string; close: () => Promise<void> }> {
  const routes: Route[] = authRoutes(auth);
  const router = new Router(routes);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = router.match(req.method ?? 'GET', url.pathname);
    if (match.kind !== 'found') return sendJson(res, 404, { error: 'not found' });
    const route = match.route as Route;
    const context = { req, res, path: url.pathname, rawQuery: url.search.slice(1), params: match.params, startedAt: performance.now(), principal: null };
    void Promise.resolve(auth.check(req.headers, context.rawQuery, route.permission))
      .then(async (outcome) => {
        if (!outcome.ok) return sendJson(res, outcome.status, { success: false, error: outcome.error });
        await route.handler(context);
      })
      .catch((err: unknown) => sendJson(res, 500, { error: (err as Error).message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test("token API routes answer Arc's bodies", async () => {
  const auth = await openAuth({ bootstrap: {} });
  const server = await serve(auth);
  const admin = auth.bootstrapTokens[0]!.token;
  const call = async (method: string, urlPath: string, body?: string, token: string | null = admin) => {
    const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
    const response = await fetch(server.url + urlPath, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  try {
    assert.deepEqual(await call('GET', '/api/v1/auth/verify', undefined, null), { status: 401, json: { valid: false, error: 'No token provided' } });
    assert.deepEqual(await call('GET', '/api/v1/auth/verify', undefined, 'bogus'), { status: 401, json: { valid: false, error: 'Invalid or expired token' } });
    const verified = await call('GET', '/api/v1/auth/verify');
    assert.equal(verified.status, 200);
    assert.equal(verified.json.valid, true);
    assert.deepEqual(verified.json.permissions, ['read', 'write', 'delete', 'admin']);
    assert.equal((verified.json.token_info as { name: string }).name, 'admin');

    const created = await call('POST', '/api/v1/auth/tokens', JSON.stringify({ name: 'grafana', description: 'dashboards', permissions: ['read'], expires_in: '7d' }));
    assert.equal(created.status, 201);
    assert.equal(created.json.success, true);
    assert.match(String(created.json.token), /^[A-Za-z0-9_-]{43}=$/);
    assert.match(String(created.json.message), /cannot be retrieved again/);
    const grafana = String(created.json.token);
    assert.deepEqual((await call('GET', '/api/v1/auth/tokens', undefined, grafana)), { status: 403, json: { success: false, error: 'Permission denied: admin required' } });

    const listed = await call('GET', '/api/v1/auth/tokens');
    assert.equal(listed.json.count, 2);
    const info = (listed.json.tokens as Array<Record<string, unknown>>).find((t) => t.name === 'grafana')!;
    // It was used (the 403 above), so last_used_at is present, in Arc's key order.
    assert.deepEqual(Object.keys(info), ['id', 'name', 'description', 'permissions', 'created_at', 'last_used_at', 'enabled', 'expires_at']);
    assert.match(String(info.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const id = info.id as number;
    assert.deepEqual((await call('GET', `/api/v1/auth/tokens/${id}`)).json.token, info);

    assert.deepEqual(await call('POST', '/api/v1/auth/tokens', '{}'), { status: 400, json: { success: false, error: 'Token name is required' } });
    assert.deepEqual(await call('POST', '/api/v1/auth/tokens', JSON.stringify({ name: 'x', permissions: ['root'] })), {
      status: 400,
      json: { success: false, error: 'Invalid permission: root. Valid permissions are: read, write, delete, admin' },
    });
    assert.deepEqual(await call('POST', '/api/v1/auth/tokens', JSON.stringify({ name: 'x', expires_in: '1y' })), {
      status: 400,
      json: { success: false, error: "Invalid expires_in format. Use duration like '24h' or '7d'" },
    });
    const invalidJson = await call('POST', '/api/v1/auth/tokens', '{"name":');
    assert.equal(invalidJson.status, 400);
    assert.match(String(invalidJson.json.error), /^Invalid request body: /);
    assert.equal((await call('POST', '/api/v1/auth/tokens', JSON.stringify({ name: 'grafana' }))).status, 409);
    assert.deepEqual(await call('GET', '/api/v1/auth/tokens/999'), { status: 404, json: { success: false, error: 'Token not found' } });
    assert.deepEqual(await call('GET', '/api/v1/auth/tokens/abc'), { status: 400, json: { success: false, error: 'Invalid token ID' } });

    assert.deepEqual(await call('PATCH', `/api/v1/auth/tokens/${id}`, JSON.stringify({ permissions: ['read', 'write'] })), {
      status: 200,
      json: { success: true, message: 'Token updated successfully' },
    });
    assert.deepEqual((await call('GET', '/api/v1/auth/verify', undefined, grafana)).json.permissions, ['read', 'write']);

    const rotated = await call('POST', `/api/v1/auth/tokens/${id}/rotate`);
    assert.equal(rotated.json.success, true);
    assert.match(String(rotated.json.message), /^Token rotated successfully/);
    const newSecret = String(rotated.json.new_token);
    assert.equal((await call('GET', '/api/v1/auth/verify', undefined, grafana)).status, 401);
    assert.equal((await call('GET', '/api/v1/auth/verify', undefined, newSecret)).status, 200);

    assert.deepEqual(await call('POST', `/api/v1/auth/tokens/${id}/revoke`), { status: 200, json: { success: true, message: 'Token revoked successfully' } });
    assert.equal((await call('GET', '/api/v1/auth/verify', undefined, newSecret)).status, 401);
    assert.deepEqual(await call('DELETE', `/api/v1/auth/tokens/${id}`), { status: 200, json: { success: true, message: 'Token deleted successfully' } });
    assert.equal((await call('DELETE', `/api/v1/auth/tokens/${id}`)).status, 404);

    const stats = await call('GET', '/api/v1/auth/cache/stats');
    assert.equal(stats.json.success, true);
    assert.equal(typeof (stats.json.stats as Record<string, unknown>).cache_hits, 'number');
    assert.deepEqual(await call('POST', '/api/v1/auth/cache/invalidate'), { status: 200, json: { success: true, message: 'Cache invalidated successfully' } });
  } finally {
    await server.close();
    await auth.close();
  }
});

test('every route of the family is admin-only except verify', async () => {
  const auth = await openAuth();
  try {
    const routes = authRoutes(auth);
    assert.equal(routes.length, 10);
    for (const route of routes) {
      assert.equal(route.envelope, 'plain');
      assert.equal(route.permission, route.path === '/api/v1/auth/verify' ? 'public' : 'admin', route.path);
    }
  } finally {
    await auth.close();
  }
});

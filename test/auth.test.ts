import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encode, u64 } from './helpers/msgpack.js';
import { runArc, startServer, tempDir, type TestServer } from './helpers/server.js';
import { Reader, quote } from './helpers/duckdb.js';

/** Authentication (issue #7): on by default, Arc's token forms and tiers, tokens stored hashed. */
const ADMIN = 'admin-token-for-tests-0123456789-abcdefghij';
let server: TestServer;
let cwd: string;
let reader = '';
let writer = '';

async function call(method: string, urlPath: string, options: { token?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(server.url + urlPath, { method, headers, body: options.body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (204, Arrow, Prometheus text)
  }
  return { status: response.status, json, text };
}

before(async () => {
  cwd = tempDir('arc-auth-');
  server = await startServer({ cwd, env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN } });
  const create = async (name: string, permissions: string[]) => {
    const response = await call('POST', '/api/v1/auth/tokens', { token: ADMIN, body: JSON.stringify({ name, permissions }), headers: { 'content-type': 'application/json' } });
    assert.equal(response.status, 201, response.text);
    return String(response.json.token);
  };
  reader = await create('grafana', ['read']);
  writer = await create('telegraf', ['write']);
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

const msgpack = encode({ m: 'cpu', columns: { time: [u64(1_732_000_000_000_000)], v: [1.5] } });
const json = (sql: string) => JSON.stringify({ sql });

/** Route families with the permission each needs (arc-spec §2 tiers). */
const ROUTES: Array<{ method: string; path: string; body?: string | Uint8Array; needs: 'any' | 'read' | 'write' | 'admin'; ok: number }> = [
  { method: 'POST', path: '/api/v1/write/msgpack', body: msgpack, needs: 'write', ok: 204 },
  { method: 'POST', path: '/write?db=auth', body: 'm v=1', needs: 'write', ok: 204 },
  { method: 'POST', path: '/api/v2/write?bucket=auth', body: 'm v=1', needs: 'write', ok: 204 },
  { method: 'POST', path: '/api/v1/write/line-protocol', body: 'm v=1', needs: 'write', ok: 204 },
  { method: 'POST', path: '/api/v1/query', body: json('SELECT 1 AS one'), needs: 'read', ok: 200 },
  { method: 'POST', path: '/api/v1/query/arrow', body: json('SELECT 1 AS one'), needs: 'read', ok: 200 },
  { method: 'POST', path: '/api/v1/query/estimate', body: json('SELECT 1 AS one'), needs: 'read', ok: 200 },
  // msgpack answers in msgpack, but the auth layer's 401/403 stay JSON (as in Arc)
  { method: 'POST', path: '/api/v1/query/msgpack', body: json('SELECT 1 AS one'), needs: 'read', ok: 200 },
  { method: 'GET', path: '/api/v1/write/msgpack/stats', needs: 'any', ok: 200 },
  { method: 'GET', path: '/api/v1/write/line-protocol/health', needs: 'any', ok: 200 },
  { method: 'GET', path: '/api/v1/schedulers', needs: 'any', ok: 200 },
  { method: 'GET', path: '/api/v1/measurements', needs: 'read', ok: 200 },
  { method: 'GET', path: '/api/v1/query/cpu?limit=1', needs: 'read', ok: 200 },
  { method: 'GET', path: '/api/v1/databases', needs: 'any', ok: 200 },
  { method: 'GET', path: '/metrics', needs: 'any', ok: 200 },
  { method: 'GET', path: '/api/v1/metrics', needs: 'any', ok: 200 },
  { method: 'POST', path: '/api/v1/write/flush', needs: 'admin', ok: 200 },
  { method: 'POST', path: '/api/v1/write/line-protocol/flush', needs: 'admin', ok: 200 },
  { method: 'POST', path: '/api/v1/databases', body: JSON.stringify({ name: 'made_by_admin' }), needs: 'admin', ok: 201 },
  { method: 'GET', path: '/api/v1/auth/tokens', needs: 'admin', ok: 200 },
  { method: 'GET', path: '/api/v1/auth/cache/stats', needs: 'admin', ok: 200 },
  { method: 'POST', path: '/api/v1/debug/profile?seconds=0.2', needs: 'admin', ok: 200 },
  { method: 'GET', path: '/api/v1/delete/config', needs: 'admin', ok: 200 },
  { method: 'GET', path: '/api/v1/retention', needs: 'any', ok: 200 },
  { method: 'POST', path: '/api/v1/schedulers/retention/trigger', needs: 'admin', ok: 200 },
];

test('every route family: no token 401, bad token 401, missing permission 403, right token passes', async () => {
  for (const route of ROUTES) {
    const where = `${route.method} ${route.path}`;
    const none = await call(route.method, route.path, { body: route.body });
    assert.equal(none.status, 401, where);
    assert.deepEqual(none.json, { success: false, error: 'Authentication required', code: 'ARC_ERR_UNAUTHORIZED' }, where);
    const bad = await call(route.method, route.path, { token: 'not-a-real-token', body: route.body });
    assert.equal(bad.status, 401, where);
    assert.equal(bad.json.error, 'Invalid or expired token', where);
    if (route.needs !== 'any') {
      const lacking = route.needs === 'read' ? writer : reader;
      const denied = await call(route.method, route.path, { token: lacking, body: route.body });
      assert.equal(denied.status, 403, where);
      assert.deepEqual(denied.json, { success: false, error: `Permission denied: ${route.needs} required`, code: 'ARC_ERR_FORBIDDEN' }, where);
    }
    const token = route.needs === 'admin' ? ADMIN : route.needs === 'write' ? writer : reader;
    const allowed = await call(route.method, route.path, { token, body: route.body });
    assert.equal(allowed.status, route.ok, `${where}: ${allowed.text.slice(0, 200)}`);
  }
});

test('public routes need no token; an unknown route without a token is 401, with one 404', async () => {
  for (const [method, urlPath] of [['GET', '/health'], ['GET', '/ready'], ['GET', '/ping'], ['HEAD', '/ping']] as const) {
    assert.ok((await call(method, urlPath)).status < 300, urlPath);
  }
  assert.equal((await call('GET', '/api/v1/nope')).status, 401);
  assert.equal((await call('GET', '/api/v1/nope', { token: reader })).status, 404);
  const verified = await call('GET', '/api/v1/auth/verify', { token: reader });
  assert.equal(verified.status, 200);
  assert.equal(verified.json.valid, true);
  assert.deepEqual(verified.json.permissions, ['read']);
  const unverified = await call('GET', '/api/v1/auth/verify');
  assert.deepEqual([unverified.status, unverified.json.valid, unverified.json.error], [401, false, 'No token provided']);
});

test('every token form Arc accepts, plus HTTP Basic with the token as password', async () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const forms: Array<[string, { headers?: Record<string, string>; query?: string }]> = [
    ['Bearer', { headers: { authorization: `Bearer ${writer}` } }],
    ['Token (InfluxDB 2.x)', { headers: { authorization: `Token ${writer}` } }],
    ['raw Authorization', { headers: { authorization: writer } }],
    ['x-api-key', { headers: { 'x-api-key': writer } }],
    ['?p= (InfluxDB 1.x)', { query: `&p=${encodeURIComponent(writer)}` }],
    ['?u=&p=', { query: `&u=telegraf&p=${encodeURIComponent(writer)}` }],
    ['Basic user:token', { headers: { authorization: basic('telegraf', writer) } }],
  ];
  for (const [name, form] of forms) {
    const response = await fetch(`${server.url}/write?db=forms${form.query ?? ''}`, { method: 'POST', body: `forms,via=x v=1`, headers: form.headers });
    assert.equal(response.status, 204, `${name}: ${await response.text()}`);
  }
});

test('rotation and revocation take effect at once (the verified-token cache is invalidated)', async () => {
  const created = await call('POST', '/api/v1/auth/tokens', { token: ADMIN, body: JSON.stringify({ name: 'short-lived', permissions: ['read', 'write'] }) });
  const secret = String(created.json.token);
  assert.equal((await call('GET', '/api/v1/databases', { token: secret })).status, 200); // now cached
  const list = await call('GET', '/api/v1/auth/tokens', { token: ADMIN });
  const id = (list.json.tokens as Array<{ id: number; name: string }>).find((t) => t.name === 'short-lived')!.id;
  const rotated = await call('POST', `/api/v1/auth/tokens/${id}/rotate`, { token: ADMIN });
  assert.equal(rotated.status, 200);
  const fresh = String(rotated.json.new_token);
  assert.equal((await call('GET', '/api/v1/databases', { token: secret })).status, 401, 'the old secret stopped working');
  assert.equal((await call('GET', '/api/v1/databases', { token: fresh })).status, 200);
  assert.equal((await call('POST', `/api/v1/auth/tokens/${id}/revoke`, { token: ADMIN })).status, 200);
  assert.equal((await call('GET', '/api/v1/databases', { token: fresh })).status, 401, 'revoked at once');
});

test('arc bench (with --verify, which flushes) and arc profile work with --token', async () => {
  const run = async (args: string[]) => {
    const { code, stdout, stderr } = await runArc(args);
    return { code, out: stdout + stderr };
  };
  const bench = await run(['bench', '--url', server.url, '--data', server.root, '--duration', '1', '--workers', '1', '--pregenerate', '10', '--quiet', '--verify', '--token', ADMIN]);
  assert.equal(bench.code, 0, bench.out);
  assert.match(bench.out, /verify {8}OK/);
  const denied = await run(['bench', '--url', server.url, '--duration', '0.5', '--workers', '1', '--pregenerate', '5', '--quiet']);
  assert.match(denied.out, /401/);
  const out = tempDir('arc-auth-profile-');
  const profile = await run(['profile', '0.5', '--url', server.url, '--out', out, '--token', ADMIN]);
  assert.equal(profile.code, 0, profile.out);
  assert.ok(fs.readdirSync(out).some((f) => f.endsWith('.cpuprofile')));
  const refused = await run(['profile', '0.5', '--url', server.url, '--out', out, '--token', reader]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.out, /403/);
  // One generated token in 64 starts with '-': the value must reach the server, not be taken for an option.
  const dashed = await run(['bench', '--url', server.url, '--duration', '0.5', '--workers', '1', '--pregenerate', '5', '--quiet', '--token', '-' + ADMIN.slice(1)]);
  assert.doesNotMatch(dashed.out, /ambiguous/);
  assert.match(dashed.out, /401/);
});

test('tokens are stored as salted hashes, never in clear; a first start prints its token once', async () => {
  const root = path.join(tempDir(), 'data');
  const dir = tempDir('arc-auth-first-');
  const first = await startServer({ root, cwd: dir, env: { ARC_AUTH_ENABLED: 'true' } });
  const banner = /Admin API token \(id \d+, name admin\): (\S+)/.exec(first.output());
  assert.ok(banner, first.output());
  const generated = banner[1]!;
  assert.equal(generated.length, 44);
  const firstResponse = await fetch(`${first.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${generated}` } });
  assert.equal(firstResponse.status, 200);
  assert.equal(await first.stop(), 0);
  assert.doesNotMatch(first.output().split('FIRST RUN')[0]!, new RegExp(generated), 'not in the log before the banner');

  const dbFile = path.join(dir, 'data', 'arc.db');
  assert.ok(!fs.readFileSync(dbFile).includes(Buffer.from(generated)), 'the token is not in the store file');
  const db = await Reader.open();
  try {
    await db.query(`ATTACH ${quote(dbFile)} AS tokens (READ_ONLY)`);
    const [stored] = await db.query(`SELECT hash, lookup FROM tokens.api_tokens WHERE name = 'admin'`);
    assert.match(String(stored!.hash), /^\$pbkdf2-sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.notEqual(stored!.hash, generated);
    assert.equal(String(stored!.lookup).length, 16);
  } finally {
    db.close();
  }
  const again = await startServer({ root, cwd: dir, env: { ARC_AUTH_ENABLED: 'true' } });
  assert.doesNotMatch(again.output(), /FIRST RUN/, 'printed once only');
  assert.equal(await again.stop(), 0);
});

test('/metrics opens without a token when auth.metrics_public is set', async () => {
  const open = await startServer({ cwd: tempDir('arc-auth-metrics-'), env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN, ARC_AUTH_METRICS_PUBLIC: 'true' } });
  try {
    assert.equal((await fetch(`${open.url}/metrics`)).status, 200);
    assert.equal((await fetch(`${open.url}/api/v1/databases`)).status, 401);
  } finally {
    assert.equal(await open.stop(), 0);
  }
});

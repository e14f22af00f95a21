import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/server.js';
import { AuthService } from '../auth/auth-service.js';
import { TokenStore } from '../auth/token-store.js';
import { SERVER_INFO_FILE } from '../server/arc-server.js';
import { authRoutes, type TokenInfoJson } from '../server/auth-routes.js';
import { sendJson } from '../server/respond.js';
import { Router, type Route } from '../server/router.js';
import { token } from './token-command.js';

interface Workspace {
  cwd: string;
  root: string;
  dbPath: string;
  env: NodeJS.ProcessEnv;
}

/** A data directory and token store in a temp dir; a temp cwd keeps the repository's arc.toml out. */
function workspace(): Workspace {
  const base = tempDir('arc-token-cli-');
  const root = path.join(base, 'data', 'arc');
  const dbPath = path.join(base, 'data', 'arc.db');
  return { cwd: base, root, dbPath, env: { ARC_STORAGE_LOCAL_PATH: root, ARC_AUTH_DB_PATH: dbPath } };
}

async function run(space: Workspace, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await token(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: space.env, cwd: space.cwd });
  return { code, stdout, stderr };
}

async function listJson(space: Workspace): Promise<TokenInfoJson[]> {
  const listed = await run(space, 'list', '--json');
  assert.equal(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout) as TokenInfoJson[];
}

async function verifies(dbPath: string, secret: string): Promise<boolean> {
  const store = await TokenStore.open({ path: dbPath });
  try {
    return (await store.verify(secret)) !== null;
  } finally {
    await store.close();
  }
}

test('without a server: create, list, revoke and rotate work on the token store file', async () => {
  const space = workspace();
  const empty = await run(space, 'list');
  assert.equal(empty.code, 0);
  assert.match(empty.stdout, /no tokens/);
  assert.equal(fs.existsSync(space.dbPath), false, 'listing does not create the store');

  const admin = await run(space, 'create', '--name', 'first-admin', '--permissions', 'read,write,delete,admin');
  assert.equal(admin.code, 0, admin.stderr);
  const adminSecret = admin.stdout.trim();
  assert.match(adminSecret, /^[A-Za-z0-9_-]{43}=$/, 'stdout holds only the token');
  assert.match(admin.stderr, /created token 1 'first-admin' \(read,write,delete,admin\)/);

  const reader = await run(space, 'create', '--name', 'reader', '--permissions', 'read', '--expires-in', '7d', '--description', 'grafana');
  assert.equal(reader.code, 0, reader.stderr);
  const readerSecret = reader.stdout.trim();

  const table = await run(space, 'list');
  assert.match(table.stdout, /^ID\s+NAME\s+PERMISSIONS/);
  assert.match(table.stdout, /first-admin\s+read,write,delete,admin\s+all\s+yes\s+never/);
  assert.match(table.stdout, /reader\s+read\s+all\s+yes\s+\d{4}-/);
  assert.ok(!table.stdout.includes(adminSecret), 'secrets are never listed');
  const tokens = await listJson(space);
  assert.deepEqual(tokens.map((t) => [t.id, t.name, t.description]), [[1, 'first-admin', undefined], [2, 'reader', 'grafana']]);
  assert.equal(await verifies(space.dbPath, readerSecret), true);

  const revoked = await run(space, 'revoke', '2');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, 'revoked token 2\n');
  assert.equal((await listJson(space)).find((t) => t.id === 2)?.enabled, false);
  assert.equal(await verifies(space.dbPath, readerSecret), false);

  const rotated = await run(space, 'rotate', '1');
  assert.equal(rotated.code, 0, rotated.stderr);
  const newSecret = rotated.stdout.trim();
  assert.notEqual(newSecret, adminSecret);
  assert.equal(await verifies(space.dbPath, adminSecret), false);
  assert.equal(await verifies(space.dbPath, newSecret), true);
});

test('usage and operation errors: exit 2 and 1, with the reason on stderr', async () => {
  const space = workspace();
  assert.equal((await run(space, 'create')).code, 2, '--name is required');
  assert.equal((await run(space, 'frobnicate')).code, 2);
  assert.equal((await run(space, 'revoke')).code, 2);
  assert.equal((await run(space, 'revoke', 'abc')).code, 2);
  assert.equal((await run(space, 'list', '--bogus')).code, 2);
  assert.equal((await run(space, '--help')).code, 0);

  const badPermission = await run(space, 'create', '--name', 'x', '--permissions', 'read,root');
  assert.equal(badPermission.code, 1);
  assert.match(badPermission.stderr, /Invalid permission: root/);
  const badExpiry = await run(space, 'create', '--name', 'x', '--expires-in', 'soon');
  assert.equal(badExpiry.code, 1);
  assert.match(badExpiry.stderr, /Invalid expires_in format/);
  assert.equal((await run(space, 'create', '--name', 'dup')).code, 0);
  assert.match((await run(space, 'create', '--name', 'dup')).stderr, /already exists/);
  const missing = await run(space, 'revoke', '999');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Token not found/);
});

test('a stale server record (dead pid) does not stop direct access', async () => {
  const space = workspace();
  fs.mkdirSync(space.root, { recursive: true });
  fs.writeFileSync(path.join(space.root, SERVER_INFO_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, url: 'http://127.0.0.1:1', port: 1 }));
  const created = await run(space, 'create', '--name', 'offline');
  assert.equal(created.code, 0, created.stderr);
});

/** A stand-in server on the data directory: the token routes behind an admin check, recorded like arc serve does. */
async function fakeServer(space: Workspace): Promise<{ auth: AuthService; adminToken: string; close: () => Promise<void> }> {
  const auth = await AuthService.open({ dbPath: path.join(space.cwd, 'server-auth.db'), hashIterations: 1000 });
  const router = new Router(authRoutes(auth));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = router.match(req.method ?? 'GET', url.pathname);
    if (match.kind !== 'found') return sendJson(res, 404, { error: `Cannot ${req.method} ${url.pathname}` });
    const route = match.route as Route;
    const context = { req, res, path: url.pathname, rawQuery: url.search.slice(1), params: match.params, startedAt: performance.now(), principal: null };
    void Promise.resolve(auth.check(req.headers, context.rawQuery, route.permission))
      .then(async (outcome) => (outcome.ok ? route.handler(context) : sendJson(res, outcome.status, { success: false, error: outcome.error })))
      .catch((err: unknown) => sendJson(res, 500, { error: (err as Error).message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fs.mkdirSync(space.root, { recursive: true });
  fs.writeFileSync(path.join(space.root, SERVER_INFO_FILE), JSON.stringify({ pid: process.pid, url: `http://127.0.0.1:${port}`, port }));
  return {
    auth,
    adminToken: auth.bootstrapTokens[0]!.token,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await auth.close();
    },
  };
}

test('with a server running on the data directory: the token API, with an admin token', async () => {
  const space = workspace();
  const server = await fakeServer(space);
  try {
    const refused = await run(space, 'list');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--token or ARC_TOKEN/);
    const wrong = await run(space, 'list', '--token', 'not-a-token');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401 Invalid or expired token/);
    // One generated token in 64 starts with '-': it is a value, not an option.
    const dashed = await run(space, 'list', '--token', '-not-a-token');
    assert.equal(dashed.code, 1);
    assert.match(dashed.stderr, /401 Invalid or expired token/);

    const created = await run(space, 'create', '--name', 'remote', '--permissions', 'write', '--token', server.adminToken);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /created token 2 'remote' \(write\) on http/);
    const secret = created.stdout.trim();
    assert.equal((await server.auth.authenticate(secret))?.name, 'remote');

    space.env.ARC_TOKEN = server.adminToken;
    const names = (await listJson(space)).map((t) => t.name);
    assert.deepEqual(names, ['admin', 'remote']);
    const rotated = await run(space, 'rotate', '2');
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal(await server.auth.authenticate(secret), null);
    assert.equal((await server.auth.authenticate(rotated.stdout.trim()))?.tokenId, 2);
    assert.equal((await run(space, 'revoke', '2')).code, 0);
    assert.equal(await server.auth.authenticate(rotated.stdout.trim()), null);
    assert.match((await run(space, 'revoke', '99')).stderr, /404 Token not found/);
    assert.equal(fs.existsSync(space.dbPath), false, 'the store file of the data directory was never opened');
  } finally {
    await server.close();
  }
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import duckdbApi from '@duckdb/node-api';
import { hashToken, lookupKey } from '../src/auth/token-store.js';
import { encode, u64 } from './helpers/msgpack.js';
import { runArc, startServer, tempDir, type TestServer } from './helpers/server.js';

/**
 * Tokens scoped to databases (issue #13, beyond Arc): a token with a database list reaches only
 * those databases, through every route class; a token without one (every Arc token) reaches all.
 */
const ADMIN = 'admin-token-for-scope-tests-0123456789-abcdef';
const T0 = 1_732_000_000_000_000;
let server: TestServer;
let scoped = ''; // read, write on alpha and beta
let scopedAdmin = ''; // every permission, on alpha only

interface Answer {
  status: number;
  json: Record<string, unknown>;
  text: string;
}

async function call(method: string, urlPath: string, token: string, body?: string | Uint8Array | FormData, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(server.url + urlPath, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // 204 and Arrow answers
  }
  return { status: response.status, json, text };
}

const JSON_TYPE = { 'content-type': 'application/json' };
const query = (token: string, sql: string, headers: Record<string, string> = {}, route = '/api/v1/query') =>
  call('POST', route, token, JSON.stringify({ sql }), { ...JSON_TYPE, ...headers });
const points = (measurement: string, values: number[]) =>
  encode({ m: measurement, columns: { time: values.map((_, i) => u64(T0 + i * 1_000_000)), v: values } });

/** The exact refusal of a scoped token: 403 naming the database and the token's allowed ones. */
function assertForbidden(answer: Answer, database: string, allowed: string[], name = allowed.length === 1 ? 'scoped-admin' : 'scoped', where = ''): void {
  assert.equal(answer.status, 403, `${where}: ${answer.text}`);
  const error = `token '${name}' is scoped to database${allowed.length === 1 ? '' : 's'} ${allowed.join(', ')}; it cannot reach database '${database}'`;
  const { error: gotError, code, database: gotDatabase, allowed_databases } = answer.json;
  assert.deepEqual({ error: gotError, code, database: gotDatabase, allowed_databases }, { error, code: 'ARC_ERR_DATABASE_FORBIDDEN', database, allowed_databases: allowed }, where);
}

function assertAllDatabasesRequired(answer: Answer, what: string, where = what): void {
  assert.equal(answer.status, 403, `${where}: ${answer.text}`);
  assert.deepEqual(answer.json, {
    error: `${what} spans every database; token 'scoped-admin' is scoped to alpha and cannot use it (use a token without a database list)`,
    code: 'ARC_ERR_ALL_DATABASES_REQUIRED',
    allowed_databases: ['alpha'],
  }, where);
}

before(async () => {
  server = await startServer({ cwd: tempDir('arc-scopes-'), env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN, ARC_DELETE_ENABLED: 'true' } });
  const create = async (body: object) => {
    const response = await call('POST', '/api/v1/auth/tokens', ADMIN, JSON.stringify(body), JSON_TYPE);
    assert.equal(response.status, 201, response.text);
    return String(response.json.token);
  };
  scoped = await create({ name: 'scoped', permissions: ['read', 'write'], databases: ['beta', 'alpha', 'alpha'] });
  scopedAdmin = await create({ name: 'scoped-admin', permissions: ['read', 'write', 'delete', 'admin'], databases: ['alpha'] });
  for (const database of ['alpha', 'beta', 'gamma']) {
    const written = await call('POST', '/api/v1/write/msgpack', ADMIN, points('cpu', [1, 2, 3]), { 'x-arc-database': database });
    assert.equal(written.status, 204, written.text);
  }
  assert.equal((await call('POST', '/api/v1/write/flush', ADMIN)).status, 200);
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

test('token API: databases are validated, listed, kept on rotate, changed by PATCH', async () => {
  const refused: Array<[unknown, string]> = [
    [[], 'databases must list at least one database (omit it for every database)'],
    [['1bad'], 'Invalid database name in databases: "1bad": must start with a letter and contain only alphanumeric characters, underscores, or hyphens (max 64 characters)'],
    ['alpha', 'Invalid request body: databases must be an array of database names'],
    [[7], 'Invalid request body: databases must be an array of database names'],
  ];
  for (const [databases, error] of refused) {
    const response = await call('POST', '/api/v1/auth/tokens', ADMIN, JSON.stringify({ name: 'refused', databases }), JSON_TYPE);
    assert.deepEqual([response.status, response.json], [400, { success: false, error }], JSON.stringify(databases));
  }
  const created = await call('POST', '/api/v1/auth/tokens', ADMIN, JSON.stringify({ name: 'rotating', databases: ['beta'] }), JSON_TYPE);
  assert.equal(created.status, 201);
  assert.deepEqual(created.json.databases, ['beta']);

  const listed = (await call('GET', '/api/v1/auth/tokens', ADMIN)).json.tokens as Array<{ id: number; name: string; databases?: string[] }>;
  const byName = new Map(listed.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('scoped')!.databases, ['alpha', 'beta'], 'sorted, duplicates dropped');
  assert.equal('databases' in byName.get('admin')!, false, 'an unscoped token shows no list (Arc shape)');

  const verified = await call('GET', '/api/v1/auth/verify', scoped);
  assert.deepEqual((verified.json.token_info as { databases: string[] }).databases, ['alpha', 'beta']);

  const id = byName.get('rotating')!.id;
  const rotated = await call('POST', `/api/v1/auth/tokens/${id}/rotate`, ADMIN);
  const secret = String(rotated.json.new_token);
  assertForbidden(await call('POST', '/write?db=alpha', secret, 'm v=1'), 'alpha', ['beta'], 'rotating', 'rotated token keeps its scope');
  assert.equal((await call('POST', '/write?db=beta', secret, 'm v=1')).status, 204);

  const widened = await call('PATCH', `/api/v1/auth/tokens/${id}`, ADMIN, JSON.stringify({ databases: null }), JSON_TYPE);
  assert.equal(widened.status, 200, widened.text);
  assert.equal((await call('POST', '/write?db=alpha', secret, 'm v=1')).status, 204, 'PATCH databases: null lifts the scope');
  const narrowed = await call('PATCH', `/api/v1/auth/tokens/${id}`, ADMIN, JSON.stringify({ databases: ['gamma'] }), JSON_TYPE);
  assert.equal(narrowed.status, 200, narrowed.text);
  assertForbidden(await call('POST', '/write?db=alpha', secret, 'm v=1'), 'alpha', ['gamma'], 'rotating', 'PATCH narrows at once');
  const emptied = await call('PATCH', `/api/v1/auth/tokens/${id}`, ADMIN, JSON.stringify({ databases: [] }), JSON_TYPE);
  assert.deepEqual([emptied.status, emptied.json.error], [400, 'databases must list at least one database (omit it for every database)']);
});

test('writes: msgpack, line protocol and the InfluxDB routes check the target database', async () => {
  assert.equal((await call('POST', '/api/v1/write/msgpack', scoped, points('mem', [1]), { 'x-arc-database': 'alpha' })).status, 204);
  assertForbidden(await call('POST', '/api/v1/write/msgpack', scoped, points('mem', [1]), { 'x-arc-database': 'gamma' }), 'gamma', ['alpha', 'beta'], undefined, 'msgpack');
  assertForbidden(await call('POST', '/api/v1/write/msgpack', scoped, points('mem', [1])), 'default', ['alpha', 'beta'], undefined, 'msgpack without a header is the default database');
  assert.equal((await call('POST', '/write?db=beta', scoped, 'mem v=1')).status, 204);
  assertForbidden(await call('POST', '/write?db=gamma', scoped, 'mem v=1'), 'gamma', ['alpha', 'beta'], undefined, '/write?db=');
  assertForbidden(await call('POST', '/api/v2/write?bucket=gamma', scoped, 'mem v=1'), 'gamma', ['alpha', 'beta'], undefined, '/api/v2/write?bucket=');
  assertForbidden(await call('POST', '/write?db=alpha', scoped, 'mem v=1', { 'x-arc-database': 'gamma' }), 'gamma', ['alpha', 'beta'], undefined, 'the header wins over db');
  assertForbidden(await call('POST', '/api/v1/write/line-protocol', scoped, 'mem v=1', { 'x-arc-database': 'gamma' }), 'gamma', ['alpha', 'beta'], undefined, 'line-protocol');
  // Nothing reached gamma.
  const rows = await query(ADMIN, "SELECT count(*) AS n FROM gamma.cpu");
  assert.deepEqual(rows.json.data, [[3]]);
  const mem = await query(ADMIN, 'SHOW TABLES FROM gamma');
  assert.deepEqual((mem.json.data as unknown[][]).map((row) => row[1]), ['cpu']);
});

test('queries: every referenced table is checked (joins, subqueries, CTEs, UNION, DESCRIBE)', async () => {
  const allowed = await query(scoped, 'SELECT count(*) AS n FROM alpha.cpu AS a JOIN beta.cpu AS b ON a.time = b.time');
  assert.deepEqual([allowed.status, allowed.json.data], [200, [[3]]], allowed.text);
  const header = await query(scoped, 'SELECT count(*) AS n FROM cpu WHERE v > 1', { 'x-arc-database': 'beta' });
  assert.deepEqual([header.status, header.json.data], [200, [[2]]], header.text);
  assert.equal((await query(scoped, 'SELECT 1 AS one')).status, 200, 'a statement without tables reaches no database');

  const refused: Array<[string, string, Record<string, string>?]> = [
    ['SELECT * FROM gamma.cpu', 'gamma'],
    ['SELECT * FROM cpu', 'default'],
    ['SELECT * FROM cpu', 'gamma', { 'x-arc-database': 'gamma' }],
    ['SELECT * FROM gamma.no_such_measurement', 'gamma'],
    ['SELECT a.v, g.v FROM alpha.cpu AS a JOIN gamma.cpu AS g ON a.time = g.time', 'gamma'],
    ['SELECT a.v FROM alpha.cpu AS a, gamma.cpu AS g WHERE a.time = g.time', 'gamma'],
    ['WITH hidden AS (SELECT * FROM gamma.cpu) SELECT count(*) FROM hidden', 'gamma'],
    ['WITH cpu AS (SELECT 1 AS v) SELECT * FROM cpu, gamma.cpu AS g', 'gamma'],
    ['SELECT count(*) FROM alpha.cpu WHERE v IN (SELECT v FROM gamma.cpu)', 'gamma'],
    ['SELECT (SELECT max(v) FROM gamma.cpu) AS m', 'gamma'],
    ['SELECT * FROM (SELECT * FROM (SELECT v FROM gamma.cpu) AS inner_q) AS outer_q', 'gamma'],
    ['SELECT v FROM alpha.cpu UNION ALL SELECT v FROM gamma.cpu', 'gamma'],
    ['SELECT * FROM alpha.cpu AS a WHERE EXISTS (SELECT 1 FROM gamma.cpu AS g WHERE g.time = a.time)', 'gamma'],
    ['DESCRIBE gamma.cpu', 'gamma'],
    ['SUMMARIZE SELECT * FROM gamma.cpu', 'gamma'],
    ['EXPLAIN SELECT * FROM gamma.cpu', 'gamma'],
  ];
  for (const [sql, database, headers] of refused) {
    const answer = await query(scoped, sql, headers);
    assertForbidden(answer, database, ['alpha', 'beta'], 'scoped', sql);
    assert.equal(answer.json.success, false, sql);
  }
  assertForbidden(await query(scoped, 'SELECT * FROM gamma.cpu', {}, '/api/v1/query/arrow'), 'gamma', ['alpha', 'beta'], 'scoped', 'arrow');
  assertForbidden(await query(scoped, 'SELECT * FROM gamma.cpu', {}, '/api/v1/query/estimate'), 'gamma', ['alpha', 'beta'], 'scoped', 'estimate');
  const msgpack = await query(scoped, 'SELECT * FROM gamma.cpu', {}, '/api/v1/query/msgpack');
  assert.equal(msgpack.status, 403, 'msgpack (its body is MessagePack)');
  assertForbidden(await call('GET', '/api/v1/query/cpu?database=gamma', scoped), 'gamma', ['alpha', 'beta'], 'scoped', 'GET /api/v1/query/:measurement');
  const byParameter = await call('GET', '/api/v1/query/cpu?database=alpha', scoped);
  assert.deepEqual([byParameter.status, (byParameter.json.data as unknown[]).length], [200, 3]);
});

test('SHOW and the database routes: listings are filtered, another database is refused', async () => {
  const databases = await query(scoped, 'SHOW DATABASES');
  assert.deepEqual(databases.json.data, [['alpha'], ['beta']]);
  const everything = await query(ADMIN, 'SHOW DATABASES');
  assert.deepEqual((everything.json.data as string[][]).flat().filter((d) => ['alpha', 'beta', 'gamma'].includes(d)), ['alpha', 'beta', 'gamma']);
  assertForbidden(await query(scoped, 'SHOW TABLES FROM gamma'), 'gamma', ['alpha', 'beta'], 'scoped', 'SHOW TABLES FROM');
  assertForbidden(await query(scoped, 'SHOW MEASUREMENTS'), 'default', ['alpha', 'beta'], 'scoped', 'SHOW MEASUREMENTS of the default database');
  const tables = await query(scoped, 'SHOW MEASUREMENTS', { 'x-arc-database': 'alpha' });
  // mem: written by the scoped token; m: by the token whose scope PATCH lifted.
  assert.deepEqual((tables.json.data as unknown[][]).map((row) => row[1]), ['cpu', 'm', 'mem']);

  const listed = await call('GET', '/api/v1/databases', scoped);
  assert.deepEqual((listed.json.databases as Array<{ name: string }>).map((d) => d.name), ['alpha', 'beta']);
  assert.equal(listed.json.count, 2);
  assertForbidden(await call('GET', '/api/v1/databases/gamma', scoped), 'gamma', ['alpha', 'beta'], 'scoped', 'GET database');
  assertForbidden(await call('GET', '/api/v1/databases/gamma/measurements', scoped), 'gamma', ['alpha', 'beta'], 'scoped', 'GET database measurements');
  assert.equal((await call('GET', '/api/v1/databases/alpha/measurements', scoped)).status, 200);
  assertForbidden(await call('GET', '/api/v1/measurements?database=gamma', scoped), 'gamma', ['alpha', 'beta'], 'scoped', 'GET measurements');
  assertForbidden(await call('GET', '/api/v1/measurements', scoped), 'default', ['alpha', 'beta'], 'scoped', 'GET measurements (default)');
  assertForbidden(await call('POST', '/api/v1/databases', scopedAdmin, JSON.stringify({ name: 'delta' }), JSON_TYPE), 'delta', ['alpha'], 'scoped-admin', 'create database');
});

test('import, continuous queries and compaction check their databases', async () => {
  const upload = (database: string) => {
    const form = new FormData();
    form.append('file', new Blob([`disk used=1 ${T0 * 1000}\n`]), 'upload.lp');
    return call('POST', `/api/v1/import/lp?db=${database}`, scopedAdmin, form);
  };
  const imported = await upload('alpha');
  assert.equal(imported.status, 200, imported.text);
  assertForbidden(await upload('beta'), 'beta', ['alpha'], 'scoped-admin', 'import');

  const cq = (database: string, source: string, name: string) => JSON.stringify({
    name,
    database,
    source_measurement: 'cpu',
    destination_measurement: 'cpu_1m',
    query: `SELECT time_bucket(INTERVAL '1 minute', time) AS time, avg(v) AS v FROM ${source} WHERE time >= {start_time} AND time < {end_time} GROUP BY 1`,
    interval: '1m',
    is_active: true,
  });
  const mine = await call('POST', '/api/v1/continuous_queries', scopedAdmin, cq('alpha', 'alpha.cpu', 'mine'), JSON_TYPE);
  assert.equal(mine.status, 201, mine.text);
  assertForbidden(await call('POST', '/api/v1/continuous_queries', scopedAdmin, cq('beta', 'cpu', 'into_beta'), JSON_TYPE), 'beta', ['alpha'], 'scoped-admin', 'CQ writing into another database');
  assertForbidden(await call('POST', '/api/v1/continuous_queries', scopedAdmin, cq('alpha', 'gamma.cpu', 'from_gamma'), JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'CQ reading another database');
  const theirs = await call('POST', '/api/v1/continuous_queries', ADMIN, cq('gamma', 'cpu', 'theirs'), JSON_TYPE);
  assert.equal(theirs.status, 201, theirs.text);
  const reading = await call('POST', '/api/v1/continuous_queries', ADMIN, cq('alpha', 'gamma.cpu', 'alpha_from_gamma'), JSON_TYPE);
  assert.equal(reading.status, 201, reading.text);
  const listed = await call('GET', '/api/v1/continuous_queries', scopedAdmin);
  assert.deepEqual((JSON.parse(listed.text) as Array<{ name: string }>).map((q) => q.name).sort(), ['alpha_from_gamma', 'mine']);
  const theirsId = Number(theirs.json.id);
  assertForbidden(await call('GET', `/api/v1/continuous_queries/${theirsId}`, scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'GET CQ');
  assertForbidden(await call('PUT', `/api/v1/continuous_queries/${theirsId}`, scopedAdmin, cq('alpha', 'alpha.cpu', 'theirs'), JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'PUT CQ');
  assertForbidden(await call('DELETE', `/api/v1/continuous_queries/${theirsId}`, scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'DELETE CQ');
  assertForbidden(await call('POST', `/api/v1/continuous_queries/${theirsId}/execute`, scopedAdmin, '{}', JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'execute CQ');
  assertForbidden(await call('GET', `/api/v1/continuous_queries/${theirsId}/executions`, scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'CQ executions');
  assertForbidden(await call('POST', `/api/v1/continuous_queries/${Number(reading.json.id)}/execute`, scopedAdmin, '{}', JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'executing an alpha CQ that reads gamma');
  const ran = await call('POST', `/api/v1/continuous_queries/${Number(mine.json.id)}/execute`, scopedAdmin, JSON.stringify({ dry_run: true }), JSON_TYPE);
  assert.equal(ran.status, 200, ran.text);
  assert.equal((await call('GET', `/api/v1/continuous_queries/${theirsId}`, ADMIN)).status, 200, 'still there');

  const trigger = await call('POST', '/api/v1/compaction/trigger?database=alpha', scopedAdmin);
  assert.equal(trigger.status, 200, trigger.text);
  assertForbidden(await call('POST', '/api/v1/compaction/trigger?database=gamma', scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'compaction of gamma');
  assertAllDatabasesRequired(await call('POST', '/api/v1/compaction/trigger', scopedAdmin), 'a compaction of every database (no database parameter)');
  assertAllDatabasesRequired(await call('GET', '/api/v1/compaction/candidates', scopedAdmin), 'compaction candidates');
  assert.equal((await call('GET', '/api/v1/compaction/status', scopedAdmin)).status, 200, 'counters only');

  const policy = (database: string, name: string) => JSON.stringify({ name, database, measurement: 'cpu', retention_days: 3650, buffer_days: 0, is_active: true });
  const ownPolicy = await call('POST', '/api/v1/retention', scopedAdmin, policy('alpha', 'alpha-keep'), JSON_TYPE);
  assert.equal(ownPolicy.status, 201, ownPolicy.text);
  assertForbidden(await call('POST', '/api/v1/retention', scopedAdmin, policy('gamma', 'gamma-keep'), JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'retention create');
  const otherPolicy = await call('POST', '/api/v1/retention', ADMIN, policy('gamma', 'gamma-keep'), JSON_TYPE);
  assert.equal(otherPolicy.status, 201, otherPolicy.text);
  const policies = JSON.parse((await call('GET', '/api/v1/retention', scopedAdmin)).text) as Array<{ name: string }>;
  assert.deepEqual(policies.map((p) => p.name), ['alpha-keep']);
  const otherId = Number(otherPolicy.json.id);
  assertForbidden(await call('GET', `/api/v1/retention/${otherId}`, scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'retention get');
  assertForbidden(await call('PUT', `/api/v1/retention/${otherId}`, scopedAdmin, policy('alpha', 'gamma-keep'), JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'retention update');
  assertForbidden(await call('PUT', `/api/v1/retention/${Number(ownPolicy.json.id)}`, scopedAdmin, policy('gamma', 'alpha-keep'), JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'retention moved to another database');
  assertForbidden(await call('POST', `/api/v1/retention/${otherId}/execute`, scopedAdmin, JSON.stringify({ dry_run: true }), JSON_TYPE), 'gamma', ['alpha'], 'scoped-admin', 'retention execute');
  assertForbidden(await call('DELETE', `/api/v1/retention/${otherId}`, scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'retention delete');
  assertAllDatabasesRequired(await call('POST', '/api/v1/schedulers/retention/trigger', scopedAdmin), 'a retention run of every policy');

  const remove = (database: string) => call('POST', '/api/v1/delete', scopedAdmin, JSON.stringify({ database, measurement: 'cpu', where: 'v = 1', dry_run: true }), JSON_TYPE);
  const preview = await remove('alpha');
  assert.deepEqual([preview.status, preview.json.deleted_count], [200, 1], preview.text);
  const refusedDelete = await remove('gamma');
  assertForbidden(refusedDelete, 'gamma', ['alpha'], 'scoped-admin', 'delete');
  assert.deepEqual([refusedDelete.json.success, refusedDelete.json.deleted_count, refusedDelete.json.dry_run], [false, 0, true], "Arc's DeleteResponse fields stay");
});

test('routes that span every database refuse a scoped admin and serve an unscoped one', async () => {
  const routes: Array<[string, string, string]> = [
    ['POST', '/api/v1/backup', 'backup'],
    ['GET', '/api/v1/backup', 'backup'],
    ['GET', '/api/v1/auth/tokens', 'token management'],
    ['POST', '/api/v1/auth/tokens', 'token management'],
    ['POST', '/api/v1/auth/cache/invalidate', 'token management'],
    ['POST', '/api/v1/write/flush', 'flushing every buffer'],
    ['POST', '/api/v1/debug/profile?seconds=0.1', 'profiling the server'],
  ];
  for (const [method, urlPath, what] of routes) {
    const body = method === 'POST' && urlPath === '/api/v1/auth/tokens' ? JSON.stringify({ name: 'escalated' }) : undefined;
    assertAllDatabasesRequired(await call(method, urlPath, scopedAdmin, body, JSON_TYPE), what, `${method} ${urlPath}`);
  }
  const names = ((await call('GET', '/api/v1/auth/tokens', ADMIN)).json.tokens as Array<{ name: string }>).map((t) => t.name);
  assert.equal(names.includes('escalated'), false, 'a scoped admin cannot mint an unscoped token');
  assert.equal((await call('POST', '/api/v1/write/flush', ADMIN)).status, 200);
  // The permission tier is still checked first: a scoped read/write token gets the usual 403.
  const notAdmin = await call('GET', '/api/v1/auth/tokens', scoped);
  assert.deepEqual([notAdmin.status, notAdmin.json.code], [403, 'ARC_ERR_FORBIDDEN']);
});

test('deleting a database: another one is refused, its own is allowed', async () => {
  assertForbidden(await call('DELETE', '/api/v1/databases/gamma?confirm=true', scopedAdmin), 'gamma', ['alpha'], 'scoped-admin', 'database delete');
  assert.deepEqual((await query(ADMIN, 'SELECT count(*) AS n FROM gamma.cpu')).json.data, [[3]], 'gamma is intact');
  const own = await call('DELETE', '/api/v1/databases/alpha?confirm=true', scopedAdmin);
  assert.equal(own.status, 200, own.text);
  assert.deepEqual((await query(scoped, 'SHOW DATABASES')).json.data, [['beta']]);
});

test('a token store made before database scopes opens, keeps its tokens and gains the column', async () => {
  const cwd = tempDir('arc-scopes-migrate-');
  const dbPath = path.join(cwd, 'old-auth.db');
  const secret = 'pre-scope-admin-token-0123456789-abcdefghijkl';
  const instance = await duckdbApi.DuckDBInstance.create(dbPath);
  const connection = await instance.connect();
  // The schema as it was before the databases column.
  await connection.run(`CREATE SEQUENCE api_tokens_id_seq START 1`);
  await connection.run(`CREATE TABLE api_tokens (
    id BIGINT PRIMARY KEY DEFAULT nextval('api_tokens_id_seq'), name VARCHAR NOT NULL, description VARCHAR NOT NULL DEFAULT '',
    hash VARCHAR NOT NULL, lookup VARCHAR NOT NULL, permissions VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP, enabled BOOLEAN NOT NULL DEFAULT true, expires_at TIMESTAMP)`);
  await connection.run(`INSERT INTO api_tokens (name, hash, lookup, permissions, created_at) VALUES ('old-admin', $1, $2, 'read,write,delete,admin', now()::TIMESTAMP)`, [
    await hashToken(secret, 1000),
    lookupKey(secret),
  ]);
  connection.closeSync();
  instance.closeSync();

  const old = await startServer({ cwd, env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_DB_PATH: dbPath } });
  try {
    const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
    const written = await fetch(`${old.url}/write?db=anything`, { method: 'POST', headers, body: 'm v=1' });
    assert.equal(written.status, 204, 'the old token reaches every database');
    const listed = (await (await fetch(`${old.url}/api/v1/auth/tokens`, { headers })).json()) as { tokens: Array<Record<string, unknown>> };
    assert.deepEqual(listed.tokens.map((t) => [t.name, 'databases' in t]), [['old-admin', false]]);
    const created = await fetch(`${old.url}/api/v1/auth/tokens`, { method: 'POST', headers, body: JSON.stringify({ name: 'new-scoped', databases: ['anything'] }) });
    assert.equal(created.status, 201);
  } finally {
    assert.equal(await old.stop(), 0);
  }
  const reopened = await duckdbApi.DuckDBInstance.create(dbPath);
  const check = await reopened.connect();
  const rows = (await check.runAndReadAll('SELECT name, databases FROM api_tokens ORDER BY id')).getRowObjectsJS();
  check.closeSync();
  reopened.closeSync();
  assert.deepEqual(rows, [{ name: 'old-admin', databases: null }, { name: 'new-scoped', databases: 'anything' }]);
});

test('arc token create --databases and list', async () => {
  const cwd = tempDir('arc-scopes-cli-');
  const created = await runArc(['token', 'create', '--name', 'ci', '--permissions', 'read,write', '--databases', 'prod, staging'], cwd);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, /created token 1 'ci' \(read,write, databases prod,staging\)/);
  const refused = await runArc(['token', 'create', '--name', 'bad', '--databases', '9x'], cwd);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /Invalid database name in databases: "9x"/);
  const plain = await runArc(['token', 'create', '--name', 'everything'], cwd);
  assert.equal(plain.code, 0, plain.stderr);
  const list = await runArc(['token', 'list'], cwd);
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.match(lines[0]!, /^ID\s+NAME\s+PERMISSIONS\s+DATABASES\s+ENABLED/);
  assert.match(lines[1]!, /^1\s+ci\s+read,write\s+prod,staging\s+yes/);
  assert.match(lines[2]!, /^2\s+everything\s+read,write\s+all\s+yes/);
  const json = await runArc(['token', 'list', '--json'], cwd);
  assert.deepEqual((JSON.parse(json.stdout) as Array<{ databases?: string[] }>).map((t) => t.databases ?? null), [['prod', 'staging'], null]);
  assert.ok(fs.existsSync(path.join(cwd, 'data', 'arc.db')));
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/server.js';
import {
  TokenStore,
  TokenStoreError,
  generateToken,
  hashToken,
  lookupKey,
  parseExpiresIn,
  parsePermissions,
  verifyTokenHash,
  type TokenStoreOptions,
} from './token-store.js';

/** Few iterations: the tests check behaviour, not hashing cost. */
const FAST = 1000;

async function openStore(options: Partial<TokenStoreOptions> = {}): Promise<TokenStore> {
  return TokenStore.open({ path: path.join(tempDir('arc-auth-'), 'data', 'arc.db'), hashIterations: FAST, ...options });
}

async function rejectsWith(promise: Promise<unknown>, status: number, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TokenStoreError, `expected TokenStoreError, got ${String(err)}`);
    assert.equal(err.status, status);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('generated tokens are base64url of 32 random bytes, padded like Arc (44 chars)', () => {
  const token = generateToken();
  assert.equal(token.length, 44);
  assert.match(token, /^[A-Za-z0-9_-]{43}=$/);
  assert.notEqual(generateToken(), token);
});

test('the stored hash is PBKDF2 in Arc format, is not the token, and verifies only the token', async () => {
  const token = generateToken();
  const hash = await hashToken(token, FAST);
  assert.match(hash, /^\$pbkdf2-sha256\$1000\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  assert.ok(!hash.includes(token));
  assert.notEqual(await hashToken(token, FAST), hash, 'salted: two hashes of one token differ');
  assert.equal(await verifyTokenHash(token, hash), true);
  assert.equal(await verifyTokenHash(`${token}x`, hash), false);
  assert.equal(await verifyTokenHash(token, 'not-a-hash'), false);
  assert.equal(await verifyTokenHash(token, '$pbkdf2-sha256$0$AAAA$AAAA'), false);
});

test('the lookup key is the first 16 hex chars of sha256(token)', () => {
  const token = 'some-token-value';
  assert.equal(lookupKey(token), createHash('sha256').update(token).digest('hex').slice(0, 16));
  assert.match(lookupKey(generateToken()), /^[0-9a-f]{16}$/);
});

test('expires_in takes Go durations and whole days; nonsense and non-positive spans are refused', () => {
  assert.equal(parseExpiresIn('24h'), 86_400_000);
  assert.equal(parseExpiresIn('7d'), 7 * 86_400_000);
  assert.equal(parseExpiresIn('1h30m'), 5_400_000);
  assert.equal(parseExpiresIn('1.5h'), 5_400_000);
  assert.equal(parseExpiresIn('250ms'), 250);
  for (const bad of ['', 'd', '7', 'abc', '1x', '-1h', '0s', '0d', '1.5d', 'h1']) assert.equal(parseExpiresIn(bad), null, bad);
});

test('permissions are exactly read, write, delete, admin; unknown ones are Arc 400s', () => {
  assert.deepEqual(parsePermissions(['admin', 'read', 'read']), ['read', 'admin']);
  assert.deepEqual(parsePermissions([]), []);
  assert.throws(() => parsePermissions(['read', 'superuser']), (err: unknown) => {
    assert.ok(err instanceof TokenStoreError);
    assert.equal(err.status, 400);
    assert.equal(err.message, 'Invalid permission: superuser. Valid permissions are: read, write, delete, admin');
    return true;
  });
});

test('create, list, get, update and delete', async () => {
  const store = await openStore();
  try {
    const first = await store.create({ name: 'ingest', description: 'telegraf' });
    assert.equal(first.token.length, 44);
    assert.deepEqual(first.info.permissions, ['read', 'write'], 'default permissions');
    assert.equal(first.info.enabled, true);
    assert.equal(first.info.expiresAt, null);
    assert.equal(first.info.lastUsedAt, null);
    const second = await store.create({ name: 'ops', permissions: ['admin'], expiresIn: '7d' });
    assert.ok(second.info.id > first.info.id);
    const expires = second.info.expiresAt!.getTime() - Date.now();
    assert.ok(Math.abs(expires - 7 * 86_400_000) < 60_000, `expires in ${expires} ms`);

    assert.deepEqual((await store.list()).map((t) => t.name), ['ingest', 'ops']);
    assert.equal((await store.get(first.info.id))?.description, 'telegraf');
    assert.equal(await store.get(9999), null);

    const updated = await store.update(first.info.id, { name: 'ingest-2', permissions: ['write'], description: 'vector' });
    assert.equal(updated.name, 'ingest-2');
    assert.deepEqual(updated.permissions, ['write']);
    assert.equal(updated.description, 'vector');
    assert.equal((await store.update(first.info.id, {})).name, 'ingest-2', 'an empty update changes nothing');
    assert.equal((await store.verify(first.token))?.name, 'ingest-2', 'update keeps the secret');

    await store.delete(first.info.id);
    assert.equal(await store.get(first.info.id), null);
    assert.equal(await store.verify(first.token), null, 'a deleted token is rejected');
    assert.deepEqual((await store.list()).map((t) => t.name), ['ops']);
  } finally {
    await store.close();
  }
});

test('create and update refuse what Arc refuses, with Arc messages', async () => {
  const store = await openStore();
  try {
    await rejectsWith(store.create({ name: '' }), 400, 'Token name is required');
    await rejectsWith(store.create({ name: 'x', permissions: ['root'] }), 400, /^Invalid permission: root\./);
    await rejectsWith(store.create({ name: 'x', expiresIn: 'soon' }), 400, "Invalid expires_in format. Use duration like '24h' or '7d'");
    const { info } = await store.create({ name: 'taken' });
    await store.create({ name: 'other' });
    await rejectsWith(store.create({ name: 'taken' }), 409, "token with name 'taken' already exists");
    await rejectsWith(store.update(info.id, { name: 'other' }), 409, "token with name 'other' already exists");
    assert.equal((await store.update(info.id, { name: 'taken' })).name, 'taken', 'keeping its own name is no conflict');
    await rejectsWith(store.update(info.id, { expiresIn: 'later' }), 400, 'Invalid expires_in format');
    await rejectsWith(store.update(info.id, { permissions: ['read', 'nope'] }), 400, /^Invalid permission: nope\./);
    await rejectsWith(store.update(424242, { name: 'ghost' }), 404, 'Token not found');
    await rejectsWith(store.delete(424242), 404, 'Token not found');
    await rejectsWith(store.rotate(424242), 404, 'Token not found');
    await rejectsWith(store.revoke(424242), 404, 'Token not found');
  } finally {
    await store.close();
  }
});

test('rotate gives a new secret to the same id; the old one stops working', async () => {
  const store = await openStore();
  try {
    const { token: old, info } = await store.create({ name: 'svc', permissions: ['read'] });
    const rotated = await store.rotate(info.id);
    assert.notEqual(rotated.token, old);
    assert.equal(rotated.info.id, info.id);
    assert.deepEqual(rotated.info.permissions, ['read']);
    assert.equal(await store.verify(old), null);
    assert.equal((await store.verify(rotated.token))?.id, info.id);
  } finally {
    await store.close();
  }
});

test('revoked and expired tokens are rejected', async () => {
  let now = Date.now();
  const store = await openStore({ now: () => now });
  try {
    const revoked = await store.create({ name: 'revoked' });
    assert.ok(await store.verify(revoked.token));
    const info = await store.revoke(revoked.info.id);
    assert.equal(info.enabled, false);
    assert.equal(await store.verify(revoked.token), null);
    assert.equal((await store.revoke(revoked.info.id)).enabled, false, 'revoking twice is fine');
    assert.equal((await store.list()).find((t) => t.id === revoked.info.id)?.enabled, false, 'a revoked token stays listed');

    const expiring = await store.create({ name: 'expiring', expiresIn: '1h' });
    assert.ok(await store.verify(expiring.token));
    now += 3_600_001;
    assert.equal(await store.verify(expiring.token), null);
    await store.update(expiring.info.id, { expiresIn: '1h' });
    assert.ok(await store.verify(expiring.token), 'a new expires_in counts from now');
  } finally {
    await store.close();
  }
});

test('unknown, empty and oversized tokens are rejected', async () => {
  const store = await openStore();
  try {
    await store.create({ name: 'a' });
    assert.equal(await store.verify(generateToken()), null);
    assert.equal(await store.verify(''), null);
    assert.equal(await store.verify('x'.repeat(5000)), null);
  } finally {
    await store.close();
  }
});

test('a token matching no lookup key is rejected without PBKDF2 work', async () => {
  const store = await openStore({ hashIterations: 1_000_000 }); // a verification that hashes takes a visible time
  try {
    const { token } = await store.create({ name: 'slow-hash' });
    let started = performance.now();
    assert.ok(await store.verify(token));
    const hashed = performance.now() - started;
    started = performance.now();
    for (let i = 0; i < 10; i++) assert.equal(await store.verify(generateToken()), null);
    const unknown = (performance.now() - started) / 10;
    assert.ok(unknown < hashed / 5, `unknown token ${unknown.toFixed(2)} ms vs hashed ${hashed.toFixed(2)} ms`);
  } finally {
    await store.close();
  }
});

test('last_used_at is recorded at most once a minute per token', async () => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const store = await openStore({ now: () => now });
  try {
    const { token, info } = await store.create({ name: 'busy' });
    await store.verify(token);
    const firstUse = (await store.get(info.id))!.lastUsedAt;
    assert.equal(firstUse?.getTime(), now);
    now += 30_000;
    await store.verify(token);
    assert.equal((await store.get(info.id))!.lastUsedAt?.getTime(), firstUse?.getTime(), 'within a minute: not written');
    now += 31_000;
    await store.verify(token);
    assert.equal((await store.get(info.id))!.lastUsedAt?.getTime(), now);
  } finally {
    await store.close();
  }
});

test('tokens survive closing and reopening the file, which holds no plaintext', async () => {
  const file = path.join(tempDir('arc-auth-'), 'arc.db');
  const first = await TokenStore.open({ path: file, hashIterations: FAST });
  const { token } = await first.create({ name: 'persisted', permissions: ['read', 'delete'] });
  await first.close();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.ok(!fs.readFileSync(file).includes(token), 'the plaintext is not in the file');
  const second = await TokenStore.open({ path: file, hashIterations: FAST });
  try {
    const info = await second.verify(token);
    assert.equal(info?.name, 'persisted');
    assert.deepEqual(info?.permissions, ['read', 'delete']);
  } finally {
    await second.close();
  }
});

test('bootstrap: an empty table gets an admin token with every permission, once', async () => {
  const store = await openStore();
  try {
    const created = await store.bootstrap({});
    assert.equal(created.length, 1);
    assert.equal(created[0]!.name, 'admin');
    const info = await store.verify(created[0]!.token);
    assert.deepEqual(info?.permissions, ['read', 'write', 'delete', 'admin']);
    assert.deepEqual(await store.bootstrap({}), [], 'not again when tokens exist');
    assert.equal((await store.list()).length, 1);
  } finally {
    await store.close();
  }
});

test('bootstrap: ARC_AUTH_BOOTSTRAP_TOKEN sets the admin secret; too short is an error naming it', async () => {
  const store = await openStore();
  try {
    await assert.rejects(store.bootstrap({ bootstrapToken: 'short' }), /ARC_AUTH_BOOTSTRAP_TOKEN must be at least 32 characters/);
    assert.equal((await store.list()).length, 0, 'nothing created on error');
    const secret = 'a-known-bootstrap-token-of-40-characters!';
    const created = await store.bootstrap({ bootstrapToken: secret });
    assert.deepEqual(created.map((c) => [c.name, c.token]), [['admin', secret]]);
    assert.equal((await store.verify(secret))?.name, 'admin');
    assert.deepEqual(await store.bootstrap({ bootstrapToken: secret }), [], 'a restart with the variable set is a no-op');
  } finally {
    await store.close();
  }
});

test('bootstrap: ARC_AUTH_FORCE_BOOTSTRAP adds an arc-recovery admin token next to existing ones', async () => {
  const store = await openStore();
  try {
    const [admin] = await store.bootstrap({});
    const secret = 'recovery-token-value-that-is-long-enough';
    const [recovery] = await store.bootstrap({ bootstrapToken: secret, forceBootstrap: true });
    assert.equal(recovery?.name, 'arc-recovery');
    assert.equal(recovery?.token, secret);
    assert.deepEqual((await store.verify(secret))?.permissions, ['read', 'write', 'delete', 'admin']);
    assert.ok(await store.verify(admin!.token), 'existing tokens are preserved');
    assert.deepEqual(await store.bootstrap({ bootstrapToken: secret, forceBootstrap: true }), [], 'same value again: nothing to do');

    await store.revoke(recovery!.id);
    const [again] = await store.bootstrap({ forceBootstrap: true });
    assert.equal(again?.id, recovery!.id, 'the recovery token is re-keyed, not duplicated');
    assert.ok(await store.verify(again!.token), 'and re-enabled with a fresh secret');
    assert.equal(await store.verify(secret), null);
    assert.deepEqual((await store.list()).map((t) => t.name), ['admin', 'arc-recovery']);
  } finally {
    await store.close();
  }
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { encode, u64 } from './helpers/msgpack.js';
import { Reader } from './helpers/duckdb.js';
import { get, post, startServer, tempDir } from './helpers/server.js';

/**
 * Issue #13 item 6: a failing token store (here: its disk is full, so DuckDB cannot commit) must
 * cost at most the request that needed it — a JSON 5xx — never the process and the rows it buffers.
 */
const ADMIN = 'admin-token-for-store-faults-0123456789-abc';

function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, 'filler'), 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
}

test('token store on a full disk: token changes are a 503 naming the full disk, uncached tokens still answered, the server keeps serving and loses no row', { timeout: 120_000 }, async (t) => {
  const meta = tempDir('arc-token-full-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', meta], { stdio: 'ignore' });
  } catch {
    t.skip('mounting a tmpfs needs root');
    return;
  }
  try {
    const server = await startServer({
      env: { ARC_AUTH_ENABLED: 'true', ARC_AUTH_BOOTSTRAP_TOKEN: ADMIN, ARC_AUTH_DB_PATH: path.join(meta, 'arc.db'), ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' },
    });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const json = { ...admin, 'content-type': 'application/json' };
    const created = await post(server, '/api/v1/auth/tokens', JSON.stringify({ name: 'telegraf', permissions: ['write', 'read'] }), json);
    assert.equal(created.status, 201, created.text);
    const uncached = String(created.json.token);

    const rows = (from: number, n: number) =>
      encode({ m: 'faults', columns: { time: Array.from({ length: n }, (_, i) => u64(1_732_420_800_000_000 + from + i)), seq: Array.from({ length: n }, (_, i) => from + i) } });
    assert.equal((await post(server, '/api/v1/write/msgpack', rows(0, 5000), admin)).status, 204, 'buffered before the fault');

    fill(meta);
    // Changing tokens needs a commit: once the log's last page is used up, each attempt is answered in
    // JSON with a 503 that says why, none is a crash.
    let refusals = 0;
    for (let i = 0; i < 400 && refusals < 3; i++) {
      const attempt = await post(server, '/api/v1/auth/tokens', JSON.stringify({ name: `grafana-${i}`, description: 'x'.repeat(200), permissions: ['read'] }), json);
      if (attempt.status === 201) continue;
      if (refusals++ === 0) t.diagnostic(`refused: ${attempt.status} ${attempt.text}`);
      assert.equal(attempt.status, 503, `token create on a full disk: ${attempt.text}`);
      assert.equal(attempt.json.code, 'ARC_ERR_AUTH_UNAVAILABLE', attempt.text);
      assert.match(String(attempt.json.error), /token store could not be read or written \(no space left on device\)/);
      assert.equal(attempt.headers.get('retry-after'), '1');
    }
    assert.equal(refusals, 3, 'the full disk refused token changes');
    // A token never verified before is looked up in the store (and its last use recorded, which fails).
    const write = await post(server, '/api/v1/write/msgpack', rows(5000, 1000), { authorization: `Bearer ${uncached}` });
    assert.ok(write.status === 204 || write.status === 503, `uncached token: ${write.status} ${write.text}`);
    t.diagnostic(`uncached token on the full disk: ${write.status}`);
    if (write.status === 503) assert.equal(write.json.code, 'ARC_ERR_AUTH_UNAVAILABLE');
    const acknowledged = write.status === 204 ? 6000 : 5000;
    // The failed background update of last_used_at is logged, not fatal.
    assert.equal((await get(server, '/health')).status, 200, 'still serving');
    assert.equal((await post(server, '/api/v1/write/msgpack', rows(acknowledged, 1000), admin)).status, 204, 'cached tokens keep writing');
    assert.equal(server.child.exitCode, null, 'the server is still running');

    fs.rmSync(path.join(meta, 'filler')); // space returns
    const later = await post(server, '/api/v1/auth/tokens', JSON.stringify({ name: 'after-space-returns', permissions: ['read'] }), json);
    assert.equal(later.status, 201, `the token store works again: ${later.text}`);

    assert.equal(await server.stop(), 0, 'a clean stop after the fault');
    const reader = await Reader.open();
    try {
      const stored = await reader.query(`SELECT count(*)::INTEGER AS n, count(DISTINCT seq)::INTEGER AS d FROM read_parquet('${server.root}/default/faults/**/*.parquet')`);
      assert.deepEqual(stored, [{ n: acknowledged + 1000, d: acknowledged + 1000 }], 'every acknowledged row stored once');
    } finally {
      reader.close();
    }
  } finally {
    execFileSync('umount', ['-l', meta]);
  }
});

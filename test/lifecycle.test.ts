import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { Reader } from './helpers/duckdb.js';
import { encode, u64 } from './helpers/msgpack.js';
import { REPO, attach, get, listFiles, startExpectingFailure, startServer, tempDir, writeMsgpack } from './helpers/server.js';

const payload = (m: string, first: number, n: number) =>
  encode({ m, columns: { time: Array.from({ length: n }, (_, i) => u64(1_732_000_000_000_000 + first + i)), seq: Array.from({ length: n }, (_, i) => first + i) } });

test('/health and /ready answer as Arc does', async () => {
  const server = await startServer();
  try {
    const health = await get(server, '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    assert.match(String(health.json.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.match(String(health.json.uptime), /^(\d+h)?(\d+m)?\d+(\.\d+)?(s|ms|µs)$/);
    assert.equal(typeof health.json.uptime_sec, 'number');
    const ready = await get(server, '/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.json.status, 'ready');
    assert.equal(typeof ready.json.uptime_sec, 'number');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('SIGTERM before the age flush loses nothing; a restart keeps old files and adds new ones', async () => {
  const root = path.join(tempDir(), 'data');
  const env = { ARC_INGEST_MAX_BUFFER_AGE_MS: '600000', ARC_INGEST_MAX_BUFFER_SIZE: '1000000' };
  const first = await startServer({ root, env });
  for (let i = 0; i < 20; i++) assert.equal((await writeMsgpack(first, payload('kept', i * 100, 100), 'life')).status, 204);
  assert.deepEqual(listFiles(path.join(root, 'life')), [], 'nothing flushed before shutdown');
  assert.equal(await first.stop('SIGTERM'), 0);
  assert.match(first.output(), /every acknowledged row is on disk/);
  const before = listFiles(path.join(root, 'life'));
  assert.ok(before.length > 0);

  const second = await startServer({ root, env });
  assert.equal((await writeMsgpack(second, payload('kept', 2000, 100), 'life')).status, 204);
  assert.equal(await second.stop('SIGINT'), 0);
  const afterRestart = listFiles(path.join(root, 'life'));
  for (const file of before) assert.ok(afterRestart.includes(file), `${file} kept`);
  assert.ok(afterRestart.length > before.length, 'new files added');

  const reader = await Reader.open();
  try {
    const rows = await reader.rows(root, 'life', 'kept', 'seq');
    assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: 2100 }, (_, i) => i));
  } finally {
    reader.close();
  }
});

test('a second server on the same data directory refuses to start', async () => {
  const root = path.join(tempDir(), 'data');
  const first = await startServer({ root });
  try {
    const second = await startExpectingFailure({ ARC_STORAGE_LOCAL_PATH: root });
    assert.equal(second.code, 1);
    assert.match(second.output, new RegExp(`another arc-ts server \\(pid ${first.pid}\\) is using`));
  } finally {
    assert.equal(await first.stop(), 0);
  }
});

test('a bad configuration value stops start-up with a message naming the key', async () => {
  for (const [env, message] of [
    [{ ARC_SERVER_PORT: 'eighty' }, /configuration error: invalid value for server\.port from environment variable ARC_SERVER_PORT/],
    [{ ARC_SERVER_MAX_PAYLOAD_SIZE: '12 parsecs' }, /server\.max_payload_size/],
    [{ ARC_INGEST_COMPRESSION: 'brotli' }, /ingest\.compression .*snappy, zstd, gzip, none/],
    [{ ARC_WAL_SYNC_MODE: 'never' }, /wal\.sync_mode .*fdatasync, fsync, async/],
  ] as const) {
    const result = await startExpectingFailure({ ARC_STORAGE_LOCAL_PATH: path.join(tempDir(), 'data'), ...env });
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, message);
  }
});

test('./start.sh native execs the server itself, so SIGTERM reaches it', async () => {
  const root = path.join(tempDir(), 'data');
  const child = spawn(path.join(REPO, 'start.sh'), ['native'], {
    cwd: tempDir('arc-cwd-'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ARC_SERVER_PORT: '0', ARC_SERVER_HOST: '127.0.0.1', ARC_STORAGE_LOCAL_PATH: root, ARC_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = await attach(child, root);
  assert.equal(server.pid, child.pid, 'the process start.sh started is the server (exec, no wrapper)');
  assert.equal((await get(server, '/health')).status, 200);
  assert.equal(await server.stop('SIGTERM'), 0);
});

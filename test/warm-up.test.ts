import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { encode, f64, u64 } from './helpers/msgpack.js';
import { flush, listFiles, metric, post, startServer, tempDir, writeMsgpack } from './helpers/server.js';

/**
 * The start-up warm-up of the write path (#17) runs a few hundred synthetic writes through decoding,
 * buffering and Parquet encoding before the server listens. None of it may be visible: no rows, no
 * database, no files in the data directory or the temporary one, nothing in the write-ahead log.
 */

function rows(n: number): Uint8Array {
  const time = Array.from({ length: n }, (_, i) => u64(1_732_420_800_000_000 + i));
  return encode({ m: 'probe', columns: { time, host: time.map((_, i) => `h${i % 7}`), v: time.map((_, i) => f64(i + 0.5)) } });
}

function warmUpLine(output: string): { requests: number; rows: number; flushes: number } | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('write path warmed up')) continue;
    return JSON.parse(line) as { requests: number; rows: number; flushes: number };
  }
  return undefined;
}

async function count(url: string, sql: string): Promise<number> {
  const answer = await post({ url }, '/api/v1/query', JSON.stringify({ sql, format: 'json' }), { 'Content-Type': 'application/json' });
  assert.equal(answer.status, 200, answer.text);
  return Number((JSON.parse(answer.text) as { data: unknown[][] }).data[0]![0]);
}

test('the warm-up runs before the server listens and leaves no row, database or file behind, with the WAL on and after a kill -9', { timeout: 120_000 }, async () => {
  const dir = tempDir('arc-warm-');
  const scratch = path.join(dir, 'tmp');
  fs.mkdirSync(scratch);
  const env = {
    ARC_INGEST_WARM_UP_REQUESTS: '120',
    ARC_INGEST_MAX_BUFFER_SIZE: '20000', // so the warm-up flushes: the workers' encoder is part of what it warms
    ARC_WAL_ENABLED: 'true',
    ARC_WAL_DIRECTORY: path.join(dir, 'wal'),
    TMPDIR: scratch,
  };
  // Scratch directories left by a server killed during its warm-up are removed; a running one's are not.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  const abandoned = `arc-warm-up-${gone}-abc123`;
  const inUse = `arc-warm-up-${process.pid}-def456`;
  fs.mkdirSync(path.join(scratch, abandoned, 'db'), { recursive: true });
  fs.mkdirSync(path.join(scratch, inUse));
  const root = path.join(dir, 'data');
  let server = await startServer({ root, env });
  const warm = warmUpLine(server.output());
  assert.ok(warm, `the warm-up is logged:\n${server.output()}`);
  assert.equal(warm.requests, 120);
  assert.equal(warm.rows, 120_000);
  assert.ok(warm.flushes >= 4, `the warm-up flushed (${warm.flushes} flushes)`);
  assert.deepEqual(fs.readdirSync(scratch), [inUse], 'its scratch directory and the abandoned one are removed');
  fs.rmdirSync(path.join(scratch, inUse));

  assert.equal((await writeMsgpack(server, rows(500), 'app')).status, 204);
  const databases = await post(server, '/api/v1/query', JSON.stringify({ sql: 'SHOW DATABASES', format: 'json' }), { 'Content-Type': 'application/json' });
  assert.equal(databases.status, 200, databases.text);
  assert.deepEqual((JSON.parse(databases.text) as { data: string[][] }).data.map((row) => row[0]), ['app']);
  assert.equal(await count(server.url, 'SELECT count(*) FROM app.probe'), 500);
  assert.equal(await metric(server, 'arc_ingest_records_total', 'format="msgpack"'), 500, 'the warm-up is not counted as ingested records');

  // A crash replays the log: only the real write is in it.
  assert.equal(await server.stop('SIGKILL'), null);
  server = await startServer({ root, env });
  try {
    assert.equal(await count(server.url, 'SELECT count(*) FROM app.probe'), 500);
    await flush(server);
    const stored = listFiles(root).filter((file) => file.endsWith('.parquet'));
    assert.ok(stored.length > 0);
    assert.ok(stored.every((file) => file.startsWith('app/')), `only the real database has files: ${stored.join(', ')}`);
    assert.equal(await count(server.url, 'SELECT count(*) FROM app.probe'), 500);
  } finally {
    await server.stop();
  }
  assert.deepEqual(fs.readdirSync(scratch), []);
});

test('ingest.warm_up_requests = 0 starts without a warm-up', { timeout: 60_000 }, async () => {
  const server = await startServer({ env: { ARC_INGEST_WARM_UP_REQUESTS: '0' } });
  try {
    assert.equal(warmUpLine(server.output()), undefined);
    assert.equal((await writeMsgpack(server, rows(10))).status, 204);
  } finally {
    await server.stop();
  }
});

test('a warm-up that cannot run (no temporary directory) only costs a warning: the server starts and takes writes', { timeout: 60_000 }, async () => {
  const server = await startServer({ env: { ARC_INGEST_WARM_UP_REQUESTS: '50', TMPDIR: path.join(tempDir('arc-warm-'), 'missing') } });
  try {
    assert.equal(warmUpLine(server.output()), undefined);
    assert.match(server.output(), /write path warm-up failed; serving without it/);
    assert.equal((await writeMsgpack(server, rows(10))).status, 204);
    assert.equal(await count(server.url, 'SELECT count(*) FROM probe'), 10);
  } finally {
    await server.stop();
  }
});

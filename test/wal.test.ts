import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCrashTest } from '../bench/crash-test.js';
import { encode, f64, u64 } from './helpers/msgpack.js';
import { Reader } from './helpers/duckdb.js';
import { flush, get, listFiles, post, startServer, tempDir, writeMsgpack, type TestServer } from './helpers/server.js';

/** The write-ahead log (issue #6): a 204 survives kill -9; damage is cut, reported and survived. */

function walEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ARC_WAL_ENABLED: 'true', ARC_WAL_DIRECTORY: path.join(dir, 'wal'), ARC_INGEST_MAX_BUFFER_AGE_MS: '600000', ...extra };
}

/** Rows seq = start..start+n-1 of measurement `m`, one request. */
function seqRows(m: string, start: number, n: number): Uint8Array {
  const seq = Array.from({ length: n }, (_, i) => start + i);
  return encode({ m, columns: { time: seq.map((s) => u64(1_732_420_800_000_000 + s)), seq, v: seq.map((s) => f64(s / 4)) } });
}

async function storedSeqs(root: string, database: string, measurement: string): Promise<number[]> {
  const reader = await Reader.open();
  try {
    return (await reader.rows(root, database, measurement, 'seq')).map((row) => Number(row.seq));
  } finally {
    await reader.close();
  }
}

async function killed(server: TestServer): Promise<void> {
  assert.equal(await server.stop('SIGKILL'), null);
}

test('crash test: 3 rounds of kill -9 under load lose and duplicate nothing acknowledged', { timeout: 180_000 }, async () => {
  const result = await runCrashTest({ rounds: 3, writers: 3, minMs: 400, maxMs: 1500, dir: tempDir('arc-crash-') });
  assert.ok(result.acknowledged > 10_000, `enough load to matter (${result.acknowledged} acknowledged)`);
  assert.equal(result.lost, 0, 'every acknowledged record is stored');
  assert.equal(result.duplicated, 0, 'no record is stored twice');
  assert.deepEqual(result.badFiles, [], 'every visible file is complete and readable');
  assert.ok(result.recoveries.length >= 3, 'each restart replayed the log');
});

test('a 204 means logged: kill -9 before any flush, restart, every row is back exactly once', async () => {
  const dir = tempDir('arc-wal-');
  const root = path.join(dir, 'data');
  let server = await startServer({ root, env: walEnv(dir) });
  for (let r = 0; r < 5; r++) assert.equal((await writeMsgpack(server, seqRows('kept', r * 100, 100), 'w')).status, 204);
  assert.equal(listFiles(root).filter((f) => f.endsWith('.parquet')).length, 0, 'nothing flushed yet');
  await killed(server);

  server = await startServer({ root, env: walEnv(dir) });
  assert.match(server.output(), /write-ahead log replayed.*"rows":500/);
  const counted = await post(server, '/api/v1/query', JSON.stringify({ sql: 'SELECT count(*) AS n, count(DISTINCT seq) AS d FROM kept' }), { 'x-arc-database': 'w' });
  assert.deepEqual(counted.json.data, [[500, 500]], 'replayed rows are queryable before any flush');
  await flush(server);
  await killed(server); // flushed and recorded: the next replay must not add these rows again

  // Either the first segment is already deleted (all its rows are in files) or replay skips its rows.
  server = await startServer({ root, env: walEnv(dir) });
  assert.match(server.output(), /write-ahead log replayed.*"writes":0,"rows":0,"rows_already_in_files":(0|500),/);
  assert.equal(await server.stop(), 0);
  assert.deepEqual(await storedSeqs(root, 'w', 'kept'), Array.from({ length: 500 }, (_, i) => i));
  assert.deepEqual(listFiles(path.join(dir, 'wal')).filter((f) => f.endsWith('.wal')), [], 'a clean stop leaves no segment behind');
});

for (const mode of ['fsync', 'async']) {
  test(`sync mode ${mode}: writes across several segments survive kill -9, each row once`, async () => {
    const dir = tempDir(`arc-wal-${mode}-`);
    const root = path.join(dir, 'data');
    // 1 MB segments: 30 requests of ~55 KB rotate a few times; no flush before the kill, so no segment is deleted yet.
    const env = walEnv(dir, { ARC_WAL_SYNC_MODE: mode, ARC_WAL_MAX_SIZE_MB: '1', ARC_INGEST_MAX_BUFFER_SIZE: '100000' });
    let server = await startServer({ root, env });
    for (let r = 0; r < 30; r++) assert.equal((await writeMsgpack(server, seqRows('modes', r * 2000, 2000), 'w')).status, 204);
    const segments = listFiles(path.join(dir, 'wal')).filter((f) => f.endsWith('.wal'));
    assert.ok(segments.length >= 2, `the log rotated (${segments.length} segments)`);
    assert.equal(listFiles(root).filter((f) => f.endsWith('.parquet')).length, 0, 'nothing flushed yet');
    await killed(server);

    server = await startServer({ root, env });
    assert.match(server.output(), /write-ahead log replayed.*"rows":60000,/);
    assert.equal(await server.stop(), 0);
    assert.deepEqual(await storedSeqs(root, 'w', 'modes'), Array.from({ length: 60_000 }, (_, i) => i));
  });
}

/** Entry offsets of a segment, read the way the format defines them. */
function entryOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  for (let at = 8; at + 12 <= bytes.length; at += 12 + bytes.readUInt32LE(at + 4)) offsets.push(at);
  return offsets;
}

async function fiveLoggedWrites(dir: string): Promise<{ root: string; segment: string }> {
  const root = path.join(dir, 'data');
  const server = await startServer({ root, env: walEnv(dir) });
  for (let r = 0; r < 5; r++) assert.equal((await writeMsgpack(server, seqRows('cut', r * 10, 10), 'w')).status, 204);
  await killed(server);
  const segments = listFiles(path.join(dir, 'wal')).filter((f) => f.endsWith('.wal'));
  assert.equal(segments.length, 1);
  return { root, segment: path.join(dir, 'wal', segments[0]!) };
}

test('a torn last entry (crash mid-write) is cut and reported; everything before it is replayed', async () => {
  const dir = tempDir('arc-wal-torn-');
  const { root, segment } = await fiveLoggedWrites(dir);
  const offsets = entryOffsets(segment);
  assert.equal(offsets.length, 5);
  fs.truncateSync(segment, offsets[4]! + 30); // the last entry loses its end

  const server = await startServer({ root, env: walEnv(dir) });
  assert.match(server.output(), /write-ahead log: cut damaged bytes.*torn entry at the end/);
  assert.match(server.output(), /write-ahead log replayed.*"rows":40.*"damaged_ranges":1/);
  assert.equal((await get(server, '/ready')).status, 200);
  assert.equal((await writeMsgpack(server, seqRows('cut', 100, 10), 'w')).status, 204, 'and it takes writes again');
  assert.equal(await server.stop(), 0);
  assert.deepEqual(await storedSeqs(root, 'w', 'cut'), [...Array.from({ length: 40 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => 100 + i)]);
});

test('a flipped byte inside an entry: that entry is skipped and reported, the ones after it are replayed', async () => {
  const dir = tempDir('arc-wal-flip-');
  const { root, segment } = await fiveLoggedWrites(dir);
  const offsets = entryOffsets(segment);
  const bytes = fs.readFileSync(segment);
  const middle = Math.floor((offsets[2]! + offsets[3]!) / 2);
  bytes[middle] = bytes[middle]! ^ 0x5a;
  fs.writeFileSync(segment, bytes);

  const server = await startServer({ root, env: walEnv(dir) });
  assert.match(server.output(), /write-ahead log: cut damaged bytes.*checksum mismatch \(damaged entry\); skipped to the next intact entry/);
  assert.match(server.output(), /write-ahead log replayed.*"rows":40/);
  assert.equal(await server.stop(), 0);
  assert.deepEqual(await storedSeqs(root, 'w', 'cut'), [...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => 30 + i)]);
});

test('a damaged length field: recovery finds the next entry by its marker', async () => {
  const dir = tempDir('arc-wal-length-');
  const { root, segment } = await fiveLoggedWrites(dir);
  const offsets = entryOffsets(segment);
  const bytes = fs.readFileSync(segment);
  bytes.writeUInt32LE(0x7fffffff, offsets[1]! + 4); // entry 2 claims to run far past the end
  fs.writeFileSync(segment, bytes);

  const server = await startServer({ root, env: walEnv(dir) });
  assert.match(server.output(), /write-ahead log: cut damaged bytes/);
  assert.equal(await server.stop(), 0);
  assert.deepEqual(await storedSeqs(root, 'w', 'cut'), [...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 30 }, (_, i) => 20 + i)]);
});

/** A small tmpfs (needs root): writes must hit a really full disk. */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('disk full: writes get 503, nothing acknowledged is lost, no partial file shows, and it recovers when space returns', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('arc-wal-full-');
  if (!mountTmpfs(dir, '6m')) {
    t.skip('mounting a tmpfs needs root');
    return;
  }
  try {
    const root = path.join(dir, 'data');
    const env = walEnv(dir, { ARC_INGEST_MAX_BUFFER_SIZE: '2000', ARC_INGEST_MAX_BUFFER_AGE_MS: '100', ARC_INGEST_COMPRESSION: 'none' });
    const server = await startServer({ root, env });
    const acked: number[] = [];
    let refused = 0;
    let refusal: Record<string, unknown> | null = null;
    let seq = 0;
    for (let i = 0; i < 400 && refused < 20; i++) {
      const response = await writeMsgpack(server, seqRows('full', seq, 1000), 'w');
      if (response.status === 204) acked.push(seq);
      else {
        assert.equal(response.status, 503, response.text);
        assert.ok(response.headers.get('retry-after'));
        refusal = response.json;
        refused++;
      }
      seq += 1000;
    }
    assert.ok(refused > 0, `the disk filled up (${acked.length} writes acknowledged first)`);
    t.diagnostic(`${acked.length} writes acknowledged, then ${refused} refused: ${String(refusal?.error)}`);
    assert.equal(refusal?.code, 'ARC_ERR_WAL_UNAVAILABLE');
    assert.match(String(refusal?.error), /the write-ahead log could not be written \(ENOSPC\); nothing of this request was kept/);
    assert.equal((await get(server, '/health')).status, 200, 'still serving');
    for (const file of listFiles(root)) assert.ok(!file.endsWith('.parquet') || !path.basename(file).startsWith('.'), `no temporary file is visible: ${file}`);

    execFileSync('mount', ['-o', 'remount,size=256m', dir]); // space returns
    let recovered = false;
    for (let i = 0; i < 100 && !recovered; i++) {
      const response = await writeMsgpack(server, seqRows('full', seq, 1000), 'w');
      if (response.status === 204) {
        acked.push(seq);
        recovered = true;
      } else await new Promise((resolve) => setTimeout(resolve, 100));
      seq += 1000;
    }
    assert.ok(recovered, 'writes succeed again');
    await flush(server);
    assert.equal(await server.stop(), 0);
    const stored = await storedSeqs(root, 'w', 'full');
    const expected = acked.flatMap((start) => Array.from({ length: 1000 }, (_, i) => start + i));
    const storedSet = new Set(stored);
    assert.equal(stored.length, storedSet.size, 'no record stored twice');
    assert.deepEqual(expected.filter((s) => !storedSet.has(s)), [], 'every acknowledged record is stored');
  } finally {
    execFileSync('umount', ['-l', dir]);
  }
});

test('with the WAL off a clean stop still loses nothing, and the data directory has no log', async () => {
  const dir = tempDir('arc-nowal-');
  const root = path.join(dir, 'data');
  const server = await startServer({ root, env: { ARC_WAL_DIRECTORY: path.join(dir, 'wal'), ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
  assert.equal((await writeMsgpack(server, seqRows('off', 0, 50), 'w')).status, 204);
  assert.equal(await server.stop(), 0);
  assert.deepEqual(await storedSeqs(root, 'w', 'off'), Array.from({ length: 50 }, (_, i) => i));
  assert.ok(!fs.existsSync(path.join(dir, 'wal')));
});

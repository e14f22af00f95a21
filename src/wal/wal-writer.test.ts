import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EntryKind } from './wal-format.js';
import { WalWriter } from './wal-writer.js';

function writer(directory: string, syncIntervalMs: number): WalWriter {
  return new WalWriter({
    directory,
    syncMode: 'async',
    // One large segment: rotation syncs too, and must not be what keeps the gaps short here.
    maxSegmentBytes: 1024 ** 3,
    maxSegmentAgeMs: 3_600_000,
    maxBacklogBytes: 256 * 1024 ** 2,
    nextLsn: 1,
    syncIntervalMs,
  });
}

// Issue #13 item 9: the background sync timer skipped whenever a batch was being written, so under
// writes that never let the queue empty nothing was synced until the segment rotated (8.3 s seen).
test('async mode syncs on schedule while the queue never empties, and the log is private (0600)', async () => {
  const directory = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'arc-wal-writer-')), 'wal');
  const intervalMs = 250;
  const log = writer(directory, intervalMs);
  const payload = Buffer.alloc(64, 7);
  let running = true;
  let batchesWhileBusy = 0;
  // Eight writers that append again as soon as their entry is written: another entry is always
  // queued behind the batch in flight, so the drain loop never returns to idle.
  const chains = Array.from({ length: 8 }, async () => {
    while (running) {
      const { durable } = log.append(EntryKind.Msgpack, { db: 'default' }, payload);
      if (log.backlogBytes > 0) batchesWhileBusy++;
      await durable;
    }
  });
  const started = performance.now();
  // Run until several intervals have passed (bounded); the count of syncs is what is checked.
  while (performance.now() - started < 12 * intervalMs) await new Promise((resolve) => setTimeout(resolve, 20));
  const during = log.syncStats;
  running = false;
  await Promise.all(chains);
  await log.close();

  assert.ok(batchesWhileBusy > 100, `the queue stayed busy (${batchesWhileBusy} appends found a backlog)`);
  assert.ok(during.syncs >= 4, `synced ${during.syncs} times in ${12 * intervalMs} ms of sustained writes (interval ${intervalMs} ms)`);
  // Generous against a slow disk, but far below "not until the segment rotates".
  assert.ok(during.longestUnsyncedMs < 8 * intervalMs, `longest unsynced ${during.longestUnsyncedMs.toFixed(0)} ms`);
  const segments = fs.readdirSync(directory);
  assert.ok(segments.length >= 1);
  for (const name of segments) assert.equal(fs.statSync(path.join(directory, name)).mode & 0o777, 0o600, name);
  assert.equal(fs.statSync(directory).mode & 0o777, 0o700);
});

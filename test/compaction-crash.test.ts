import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCompactionCrash } from '../bench/compaction-crash.js';
import { tempDir } from './helpers/server.js';

test('compaction crash test: kill -9 during jobs (3 rounds, more until a compaction finished), writes and queries lose, duplicate and double-count nothing', { timeout: 300_000 }, async () => {
  const result = await runCompactionCrash({ rounds: 3, extraRoundsUntilCompacted: 6, writers: 2, minMs: 800, maxMs: 2500, dir: tempDir('arc-compaction-crash-') });
  assert.ok(result.acknowledged > 0);
  assert.equal(result.lost, 0, 'acknowledged records lost');
  assert.equal(result.duplicated, 0, 'records stored twice');
  assert.deepEqual(result.badFiles, []);
  assert.deepEqual(result.queryErrors, [], 'queries failed or counted a record twice');
  assert.ok(result.queries > 0);
  assert.ok(result.compactedFiles > 0, 'compaction ran during the rounds');
});

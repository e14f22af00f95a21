import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCompactionCrash } from '../bench/compaction-crash.js';
import { tempDir } from './helpers/server.js';

test('compaction crash test: 3 rounds of kill -9 during jobs, writes and queries lose, duplicate and double-count nothing', { timeout: 180_000 }, async () => {
  const result = await runCompactionCrash({ rounds: 3, writers: 2, minMs: 800, maxMs: 2500, dir: tempDir('arc-compaction-crash-') });
  assert.ok(result.acknowledged > 0);
  assert.equal(result.lost, 0, 'acknowledged records lost');
  assert.equal(result.duplicated, 0, 'records stored twice');
  assert.deepEqual(result.badFiles, []);
  assert.deepEqual(result.queryErrors, [], 'queries failed or counted a record twice');
  assert.ok(result.queries > 0);
  assert.ok(result.compactedFiles > 0, 'compaction ran during the rounds');
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ERROR_TABLE, formatSize } from './errors.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

test('docs/errors.md lists exactly the codes of the error table, with their status', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs/errors.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `(ARC_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_TABLE).sort());
  for (const [code, { status }] of Object.entries(ERROR_TABLE)) assert.equal(documented.get(code), status, code);
});

test('sizes in messages read like Arc\'s', () => {
  assert.equal(formatSize(2 ** 30), '1GB');
  assert.equal(formatSize(100 * 2 ** 20), '100MB');
  assert.equal(formatSize(1536), '1.5KB');
  assert.equal(formatSize(10), '10B');
});

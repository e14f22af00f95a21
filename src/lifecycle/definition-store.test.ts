import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DefinitionStore, METADATA_DIR } from './definition-store.js';

interface Policy {
  id: number;
  name: string;
  days: number;
}

test('definitions survive a reopen, ids are never reused, concurrent changes are all kept', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-defs-'));
  try {
    const store = DefinitionStore.open<Policy>(root, 'retention');
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => store.insert({ name: `p${i}`, days: i })));
    assert.deepEqual(created.map((p) => p.id), Array.from({ length: 20 }, (_, i) => i + 1));
    await store.update(3, (old) => ({ ...old, days: 99 }));
    assert.equal(await store.update(404, (old) => old), undefined);
    assert.equal((await store.remove((p) => p.id === 20)).length, 1);
    const reopened = DefinitionStore.open<Policy>(root, 'retention');
    assert.equal(reopened.list().length, 19);
    assert.equal(reopened.get(3)?.days, 99);
    assert.equal((await reopened.insert({ name: 'next', days: 1 })).id, 21);
    assert.equal((fs.statSync(reopened.file).mode & 0o777).toString(8), '600');
    assert.deepEqual(fs.readdirSync(path.join(root, METADATA_DIR)), ['retention.json']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a corrupt store is an error, not an empty store that would drop every definition', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-defs-'));
  try {
    fs.mkdirSync(path.join(root, METADATA_DIR));
    fs.writeFileSync(path.join(root, METADATA_DIR, 'cq.json'), '{"format": 1, "next_id": 1, "items": [');
    assert.throws(() => DefinitionStore.open(root, 'cq'), SyntaxError);
    fs.writeFileSync(path.join(root, METADATA_DIR, 'cq.json'), '{"format": 7, "items": []}');
    assert.throws(() => DefinitionStore.open(root, 'cq'), /not a definition store of format 1/);
    assert.throws(() => DefinitionStore.open(root, '../escape'), /invalid definition store name/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileCatalog, parsePath } from './catalog.js';

const HOUR = 3_600_000_000;
const T0 = Date.UTC(2026, 2, 1, 10) * 1000; // µs

function root(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'arc-catalog-'));
}

function put(base: string, relative: string, bytes = 10): string {
  const file = path.join(base, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.alloc(bytes));
  return file;
}

test('load: one walk finds hour and day files, skips temporaries, internal names and odd paths', async () => {
  const base = root();
  put(base, 'db/cpu/2026/03/01/10/cpu_20260301_103000_000000001.parquet', 5);
  put(base, 'db/cpu/2026/03/01/11/cpu_20260301_113000_000000002.parquet', 7);
  put(base, 'db/cpu/2026/03/01/cpu_20260302_030000_1772420400000000000_b1_daily.parquet', 11);
  put(base, 'db/cpu/2026/03/01/11/.cpu_20260301_113000_000000003.parquet.tmp');
  put(base, 'db/cpu/2026/03/01/11/_internal.parquet');
  put(base, 'db/cpu/stray.parquet');
  put(base, '_compaction_state/hourly/db/x.parquet');
  put(base, 'other/mem/2026/03/01/10/mem_20260301_103000_000000004.parquet');
  const catalog = await FileCatalog.load(base);
  assert.deepEqual(catalog.databases(), ['db', 'other']);
  assert.deepEqual(catalog.measurementsOf('db'), [{ database: 'db', measurement: 'cpu', fileCount: 3, totalBytes: 23 }]);
  const all = catalog.snapshot('db', 'cpu', null, null);
  assert.equal(all.files.length, 3);
  assert.equal(all.partitions, 3);
  assert.deepEqual(all.files.map((f) => f.kind).sort(), ['daily', 'flush', 'flush']);
  all.release();
});

test('snapshot: pruned by partition (a day file counts for every hour of its day); in-flight flushes left out', async () => {
  const base = root();
  const catalog = FileCatalog.empty(base);
  catalog.add([
    { path: path.join(base, 'db/cpu/2026/03/01/10/cpu_20260301_103000_000000001.parquet'), bytes: 1, flushStamp: 1n },
    { path: path.join(base, 'db/cpu/2026/03/01/12/cpu_20260301_123000_000000002.parquet'), bytes: 1, flushStamp: 2n },
    { path: path.join(base, 'db/cpu/2026/02/28/cpu_20260301_030000_1772334000000000000_b1_daily.parquet'), bytes: 1 },
  ]);
  const names = (lo: number | null, hi: number | null, inFlight?: Set<bigint>) => {
    const snapshot = catalog.snapshot('db', 'cpu', lo, hi, inFlight);
    snapshot.release();
    return snapshot.files.map((f) => path.basename(f.path)).sort();
  };
  assert.equal(names(T0 + 30 * 60e6, T0 + 45 * 60e6).length, 1, 'inside hour 10');
  assert.deepEqual(names(T0 + HOUR, T0 + HOUR + 1), [], 'hour 11 has no file');
  assert.equal(names(T0, T0 + 2 * HOUR).length, 2);
  assert.equal(names(T0 - 11 * HOUR, T0 - 11 * HOUR).length, 1, 'the day file covers 23:00 of Feb 28');
  assert.equal(names(null, null).length, 3);
  assert.equal(names(null, null, new Set([2n])).length, 2, 'a flush still in flight is read from memory instead');
  assert.equal(catalog.latest('db', 'cpu').files.length, 1);
});

test('replace: one atomic change; a pinned file outlives its removal until the last snapshot is released', async () => {
  const base = root();
  const a = put(base, 'db/cpu/2026/03/01/10/cpu_20260301_103000_000000001.parquet');
  const b = put(base, 'db/cpu/2026/03/01/10/cpu_20260301_103500_000000002.parquet');
  const catalog = await FileCatalog.load(base);
  const generation = catalog.generation;
  const reader = catalog.snapshot('db', 'cpu', null, null);
  const second = catalog.snapshot('db', 'cpu', null, null);
  const c = put(base, 'db/cpu/2026/03/01/10/cpu_20260301_120000_1772366400000000000_b1_compacted.parquet', 3);
  const swapped = catalog.replace('db', 'cpu', [a, b], [{ path: c, bytes: 3 }]);
  assert.ok(catalog.generation > generation);
  const after = catalog.snapshot('db', 'cpu', null, null);
  assert.deepEqual(after.files.map((f) => f.path), [c], 'new readers see the output only');
  assert.equal(catalog.pendingUnlinks, 2);
  assert.ok(fs.existsSync(a) && fs.existsSync(b), 'the running readers still have their files');
  reader.release();
  reader.release(); // idempotent
  assert.ok(fs.existsSync(a), 'still pinned by the second reader');
  second.release();
  await swapped;
  assert.ok(!fs.existsSync(a) && !fs.existsSync(b));
  assert.equal(catalog.pendingUnlinks, 0);
  assert.ok(fs.existsSync(c));
  after.release();
  assert.throws(() => catalog.replace('db', 'mem', [], [{ path: c, bytes: 3 }]), /not a file of db\.mem/);
});

test('parsePath refuses what is not the layout', () => {
  assert.equal(parsePath('/r', '/r/db/cpu/2026/13/01/10/x.parquet'), null);
  assert.equal(parsePath('/r', '/r/db/cpu/2026/03/01/24/x.parquet'), null);
  assert.equal(parsePath('/r', '/r/db/cpu/2026/03/01/10/x.csv'), null);
  assert.equal(parsePath('/r', '/r/db/cpu/2026/03/01/10/extra/x.parquet'), null);
  assert.equal(parsePath('/r', '/r/db/cpu/2026/03/01/10/x.parquet')?.partitionStart, T0);
});

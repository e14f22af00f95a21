import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedCopy, type ColumnBatch } from '../columnar/column-batch.js';
import { ArrayPool } from './array-pool.js';
import { MeasurementBuffer } from './measurement-buffer.js';

function batch(rows: number, offset: number, dictionary: string[]): ColumnBatch {
  const time = new BigInt64Array(rows);
  const level = new BigInt64Array(rows);
  const value = new Float64Array(rows);
  const valid = new Uint8Array(rows);
  const ids = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) {
    time[i] = BigInt(offset + i);
    level[i] = BigInt(offset + i) * 3n;
    value[i] = (offset + i) / 2;
    valid[i] = i % 3 === 0 ? 0 : 1;
    ids[i] = i % dictionary.length;
  }
  return {
    measurement: 'm',
    rowCount: rows,
    time,
    columns: [
      { name: 'host', type: 'string', ids, dictionary, valid: null },
      { name: 'level', type: 'int64', values: level, valid: null },
      { name: 'value', type: 'float64', values: value, valid },
    ],
    tagColumns: ['host'],
  };
}

/** Rows as plain values, NULLs as null, strings resolved: what a reader of the buffer sees. */
function rowsOf(b: ColumnBatch): unknown[][] {
  const rows: unknown[][] = [];
  for (let i = 0; i < b.rowCount; i++) {
    const row: unknown[] = [b.time[i]];
    for (const column of b.columns) {
      if (column.valid !== null && column.valid[i] === 0) row.push(null);
      else if (column.type === 'string') row.push(column.dictionary[column.ids[i]!]);
      else row.push(column.values[i]);
    }
    rows.push(row);
  }
  return rows;
}

test('an empty buffer keeps a shared batch without copying it, and later appends grow past it correctly', () => {
  const buffer = new MeasurementBuffer('db', 'm', new ArrayPool(1 << 24));
  const first = sharedCopy(batch(1000, 0, ['a', 'b', 'c']));
  buffer.append(first);
  const second = batch(700, 1000, ['c', 'd']);
  buffer.append(second);
  assert.deepEqual(rowsOf(buffer.snapshot()!), [...rowsOf(first), ...rowsOf(second)]);
  assert.ok(buffer.bytes > 0);

  const kept = new MeasurementBuffer('db', 'm', new ArrayPool(1 << 24));
  const shared = sharedCopy(batch(5000, 0, ['x', 'y']));
  kept.append(shared);
  const sealed = kept.seal(1n);
  assert.equal(sealed.batch.time.buffer, shared.time.buffer, 'the time array is the batch\'s own');
  assert.ok(sealed.buffers.includes(shared.columns[2]!.valid!.buffer as SharedArrayBuffer), 'so is the validity');
  assert.deepEqual(rowsOf(sealed.batch), rowsOf(shared));
});

test('a shared batch whose dictionary repeats a value, or a batch not marked as owning its arrays, is copied', () => {
  const repeated = sharedCopy(batch(50, 0, ['a', 'a', 'b']));
  const buffer = new MeasurementBuffer('db', 'm', new ArrayPool(1 << 24));
  buffer.append(repeated);
  const sealed = buffer.seal(1n);
  assert.notEqual(sealed.batch.time.buffer, repeated.time.buffer);
  assert.deepEqual(rowsOf(sealed.batch), rowsOf(repeated));

  const unmarked = { ...sharedCopy(batch(50, 0, ['a'])) };
  delete unmarked.ownsSharedArrays;
  const other = new MeasurementBuffer('db', 'm', new ArrayPool(1 << 24));
  other.append(unmarked);
  assert.notEqual(other.seal(1n).batch.time.buffer, unmarked.time.buffer);
});

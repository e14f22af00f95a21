import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ColumnBatch } from '../columnar/column-batch.js';
import { END_TIME_US, MIN_TIME_US } from '../columnar/time.js';
import { hourRanges, reorder, sortPermutation } from './time-order.js';

const HOUR = 3_600_000_000n;

function reference(times: bigint[]): number[] {
  return times.map((t, i) => [t, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1])).map(([, i]) => i);
}

function floorHour(t: bigint): bigint {
  const q = t / HOUR;
  return (t < 0n && q * HOUR !== t ? q - 1n : q) * HOUR;
}

let seed = 42;
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};

const cases: Array<[string, () => bigint]> = [
  ['seconds apart, µs precision', () => 1_700_000_000_000_000n + BigInt(Math.floor(random() * 5_000_000))],
  ['many ties', () => 1_700_000_000_000_000n + BigInt(Math.floor(random() * 4))],
  ['around the epoch', () => BigInt(Math.floor(random() * 20_000_000_000)) - 10_000_000_000n],
  ['whole range, beyond 2^53', () => BigInt(MIN_TIME_US) + (BigInt(Math.floor(random() * 2 ** 53)) * BigInt(END_TIME_US - MIN_TIME_US)) / 2n ** 53n],
  ['hour boundaries ±1', () => 1_700_002_800_000_000n + BigInt(Math.floor(random() * 5) - 2) * HOUR + BigInt(Math.floor(random() * 3) - 1)],
  ['year 9999', () => BigInt(END_TIME_US) - 1n - BigInt(Math.floor(random() * 10_000_000_000))],
];

for (const [name, make] of cases) {
  test(`sortPermutation is a stable sort (${name})`, () => {
    for (const n of [1, 2, 7, 1000, 5000]) {
      const times = Array.from({ length: n }, make);
      const array = BigInt64Array.from(times);
      const permutation = sortPermutation(array, n);
      const expected = reference(times);
      const sorted = expected.every((v, i) => v === i);
      if (sorted) assert.equal(permutation, null);
      else assert.deepEqual(Array.from(permutation!), expected);
    }
  });

  test(`hourRanges splits sorted times at exact UTC hours (${name})`, () => {
    const times = Array.from({ length: 3000 }, make).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const ranges = hourRanges(BigInt64Array.from(times), times.length);
    let expectedStart = 0;
    for (const range of ranges) {
      assert.equal(range.start, expectedStart);
      for (let i = range.start; i < range.end; i++) assert.equal(floorHour(times[i]!), BigInt(range.hourStartMicros), `row ${i}`);
      if (range.end < times.length) assert.notEqual(floorHour(times[range.end]!), BigInt(range.hourStartMicros));
      expectedStart = range.end;
    }
    assert.equal(expectedStart, times.length);
  });
}

test('reorder moves every column and NULL marker with its row', () => {
  const batch: ColumnBatch = {
    measurement: 'm',
    rowCount: 3,
    time: BigInt64Array.from([30n, 10n, 20n]),
    tagColumns: null,
    columns: [
      { name: 'b', type: 'bool', values: Uint8Array.from([1, 0, 1]), valid: Uint8Array.from([1, 1, 0]) },
      { name: 'f', type: 'float64', values: Float64Array.from([3, 1, 2]), valid: null },
      { name: 'i', type: 'int64', values: BigInt64Array.from([-3n, 2n ** 62n, 0n]), valid: Uint8Array.from([0, 1, 1]) },
      { name: 's', type: 'string', ids: Uint32Array.from([2, 0, 1]), dictionary: ['a', 'b', 'c'], valid: null },
    ],
  };
  const permutation = sortPermutation(batch.time, 3)!;
  const out = reorder(batch, permutation);
  assert.deepEqual(Array.from(out.time), [10n, 20n, 30n]);
  const [b, f, i, s] = out.columns as [any, any, any, any];
  assert.deepEqual([Array.from(b.values), Array.from(b.valid)], [[0, 1, 1], [1, 0, 1]]);
  assert.deepEqual(Array.from(f.values), [1, 2, 3]);
  assert.deepEqual([Array.from(i.values), Array.from(i.valid)], [[2n ** 62n, 0n, -3n], [1, 1, 0]]);
  assert.deepEqual(Array.from(s.ids), [0, 1, 2]);
});

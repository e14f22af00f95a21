import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Reader, quote } from '../../../test/helpers/duckdb.js';
import { tempDir } from '../../../test/helpers/server.js';
import type { Column, ColumnBatch } from '../../columnar/column-batch.js';
import type { Compression } from '../../config/config.js';
import { DuckDBParquetEncoder } from '../../duckdb/parquet-writer.js';
import { NativeParquetEncoder, ROW_GROUP_ROWS } from './parquet-writer.js';

/**
 * The hand-written encoder must produce the same table as DuckDB's COPY (the reference) for any
 * batch: same rows, values, NULLs and types; and its own metadata must be what readers rely on.
 */
let reader: Reader;
let duckdb: DuckDBParquetEncoder;
const native = new NativeParquetEncoder('arc-ts test');
const dir = tempDir('arc-parquet-');

before(async () => {
  reader = await Reader.open();
  duckdb = await DuckDBParquetEncoder.open(1);
});
after(() => {
  reader.close();
  duckdb.close();
});

let seed = 9;
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};

function randomBatch(rows: number, nullRate: number, dictionarySize: number): ColumnBatch {
  const valid = () => {
    if (nullRate === 0) return null;
    const v = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) v[i] = random() < nullRate ? 0 : 1;
    return v;
  };
  const time = new BigInt64Array(rows);
  let t = 1_700_000_000_000_000n;
  for (let i = 0; i < rows; i++) time[i] = t += BigInt(Math.floor(random() * 3));
  const specials = [NaN, Infinity, -Infinity, -0, 0, Number.MAX_VALUE, Number.MIN_VALUE];
  const floats = Float64Array.from({ length: rows }, () => (random() < 0.01 ? specials[Math.floor(random() * specials.length)]! : random() * 2000 - 1000));
  const ints = BigInt64Array.from({ length: rows }, () => BigInt(Math.floor(random() * 2 ** 53)) * (random() < 0.5 ? -1024n : 1024n));
  const bools = Uint8Array.from({ length: rows }, () => (random() < 0.3 ? 1 : 0));
  const dictionary = Array.from({ length: dictionarySize }, (_, i) => (i === 0 ? '' : i === 1 ? '\uFEFFbom' : i === 2 ? 'ünï ☃ 𝄞' : `value-${i}`));
  const ids = Uint32Array.from({ length: rows }, () => Math.floor(random() * dictionarySize));
  const columns: Column[] = [
    { name: 'b', type: 'bool', values: bools, valid: valid() },
    { name: 'f', type: 'float64', values: floats, valid: valid() },
    { name: 'i', type: 'int64', values: ints, valid: valid() },
    { name: 'one', type: 'string', ids: new Uint32Array(rows), dictionary: ['only'], valid: null },
    { name: 's', type: 'string', ids, dictionary, valid: valid() },
    { name: 'z', type: 'string', ids: new Uint32Array(rows), dictionary: [], valid: new Uint8Array(rows) },
  ];
  return { measurement: 'm', rowCount: rows, time, columns, tagColumns: ['s'] };
}

async function same(batch: ColumnBatch, start: number, end: number, compression: Compression): Promise<string> {
  const nativePath = path.join(dir, `native-${compression}-${start}-${end}.parquet`);
  const duckPath = path.join(dir, `duck-${compression}-${start}-${end}.parquet`);
  const options = { compression, metadata: { 'arc:tags': 's' } };
  await native.write(batch, start, end, nativePath, options);
  await duckdb.write(batch, start, end, duckPath, options);
  for (const [a, b] of [[nativePath, duckPath], [duckPath, nativePath]] as const) {
    const rows = await reader.query(`SELECT count(*)::INT AS n FROM (SELECT * FROM ${quote(a)} EXCEPT ALL SELECT * FROM ${quote(b)})`);
    assert.equal(rows[0]!.n, 0, `${path.basename(a)} has rows ${path.basename(b)} lacks`);
  }
  const count = await reader.query(`SELECT count(*)::INT AS n FROM ${quote(nativePath)}`);
  assert.equal(count[0]!.n, end - start);
  assert.deepEqual(await reader.types(nativePath), await reader.types(duckPath));
  return nativePath;
}

for (const compression of ['snappy', 'zstd', 'gzip', 'none'] as const) {
  test(`native and DuckDB encoders write the same table (${compression})`, async () => {
    await same(randomBatch(2000, 0.1, 50), 0, 2000, compression);
    await same(randomBatch(500, 0, 3), 100, 400, compression);
  });
}

test('same table across several row groups, big dictionaries and NULL-heavy columns', async () => {
  const rows = ROW_GROUP_ROWS * 2 + 17;
  const file = await same(randomBatch(rows, 0.6, 70_000), 0, rows, 'snappy');
  const groups = await reader.query(`SELECT count(DISTINCT row_group_id)::INT AS n FROM parquet_metadata(${quote(file)})`);
  assert.equal(groups[0]!.n, 3);
});

test('time is INT64 TIMESTAMP(MICROS, UTC) read as TIMESTAMPTZ; strings are UTF8; arc:tags is kept', async () => {
  const file = path.join(dir, 'meta.parquet');
  await native.write(randomBatch(100, 0, 5), 0, 100, file, { compression: 'snappy', metadata: { 'arc:tags': 's' } });
  const schema = await reader.query(`SELECT name, type, converted_type, logical_type, repetition_type FROM parquet_schema(${quote(file)})`);
  const time = schema.find((r) => r.name === 'time')!;
  assert.equal(time.type, 'INT64');
  assert.equal(time.converted_type, 'TIMESTAMP_MICROS');
  assert.match(String(time.logical_type), /isAdjustedToUTC=1/);
  assert.equal(time.repetition_type, 'OPTIONAL');
  assert.equal(schema.find((r) => r.name === 's')!.converted_type, 'UTF8');
  assert.equal((await reader.types(file)).time, 'TIMESTAMP WITH TIME ZONE');
  const kv = await reader.query(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${quote(file)})`);
  assert.deepEqual(kv, [{ k: 'arc:tags', v: 's' }]);
});

test('row-group statistics are exact, so DuckDB can skip row groups by them', async () => {
  const rows = ROW_GROUP_ROWS + 500;
  const batch = randomBatch(rows, 0.2, 30);
  const file = path.join(dir, 'stats.parquet');
  await native.write(batch, 0, rows, file, { compression: 'snappy', metadata: {} });
  const stats = await reader.query(
    `SELECT row_group_id::INT AS g, path_in_schema AS c, stats_min_value AS lo, stats_max_value AS hi, stats_null_count::INT AS nulls FROM parquet_metadata(${quote(file)})`,
  );
  const actual = await reader.query(
    `SELECT (rn // ${ROW_GROUP_ROWS})::INT AS g, min(time)::VARCHAR AS tmin, max(time)::VARCHAR AS tmax, min(i)::VARCHAR AS imin, max(i)::VARCHAR AS imax,
            count(*) FILTER (WHERE i IS NULL)::INT AS inulls, min(s) AS smin, max(s) AS smax
       FROM (SELECT *, row_number() OVER () - 1 AS rn FROM ${quote(file)}) GROUP BY g ORDER BY g`,
  );
  for (const group of actual) {
    const of = (c: string) => stats.find((s) => s.g === group.g && s.c === c)!;
    assert.equal(of('time').lo, group.tmin);
    assert.equal(of('time').hi, group.tmax);
    assert.equal(of('i').lo, group.imin);
    assert.equal(of('i').hi, group.imax);
    assert.equal(of('i').nulls, group.inulls);
    assert.equal(of('s').lo, group.smin);
    assert.equal(of('s').hi, group.smax);
  }
});

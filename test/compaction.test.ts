import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Reader, quote } from './helpers/duckdb.js';
import { encode, f64, u64 } from './helpers/msgpack.js';
import { flush, get, listFiles, post, startServer, writeMsgpack, type TestServer } from './helpers/server.js';

/**
 * Compaction (issue #12): known rows in several past hours, written in many small flushes by line
 * protocol (tags), msgpack rows (tags map + h) and msgpack columnar (tag_keys), with duplicates
 * whose later value differs; a forced cycle leaves one file per hour, one row per (tags, time), the
 * later value, and every other query answering as before.
 */
let server: TestServer;
let reader: Reader;
const HOUR_US = 3_600_000_000;
const BASE_US = Date.UTC(2026, 0, 5, 10) * 1000; // 2026-01-05T10:00Z: long closed
const DB = 'comp';

async function sql(text: string): Promise<unknown[][]> {
  const response = await post(server, '/api/v1/query', JSON.stringify({ sql: text }), { 'content-type': 'application/json', 'x-arc-database': DB });
  assert.equal(response.status, 200, response.text);
  return response.json.data as unknown[][];
}

async function compact(query: string): Promise<void> {
  const response = await post(server, `/api/v1/compaction/trigger?${query}`);
  assert.equal(response.status, 200, response.text);
  await waitIdle(response.json.cycle_id as number);
}

async function waitIdle(cycle = 0): Promise<void> {
  for (;;) {
    const status = (await get(server, '/api/v1/compaction/status')).json as { cycle_running: boolean; current_cycle_id: number };
    if (!status.cycle_running && status.current_cycle_id >= cycle) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function filesOf(measurement: string): string[] {
  return listFiles(path.join(server.root, DB, measurement)).filter((f) => f.endsWith('.parquet'));
}

/** Writes key k (0..keys-1) of every hour with `value`, as three formats, in one request each. */
async function writeRound(keys: number, value: number, hours: number): Promise<void> {
  const lines: string[] = [];
  const rows: unknown[] = [];
  const columns = { time: [] as unknown[], host: [] as string[], v: [] as unknown[] };
  for (let h = 0; h < hours; h++) {
    for (let k = 0; k < keys; k++) {
      const t = BASE_US + h * HOUR_US + k * 1000;
      lines.push(`lp,host=h${k % 3},dc=d${k % 2} v=${value} ${t * 1000}`);
      rows.push({ m: 'rows', t: u64(t), h: `h${k % 3}`, tags: { dc: `d${k % 2}` }, fields: { v: f64(value) } });
      columns.time.push(u64(t));
      columns.host.push(`h${k % 3}`);
      columns.v.push(f64(value));
    }
  }
  assert.equal((await post(server, `/write?db=${DB}`, lines.join('\n'))).status, 204);
  assert.equal((await writeMsgpack(server, encode(rows as never), DB)).status, 204);
  assert.equal((await writeMsgpack(server, encode({ m: 'cols', columns, tag_keys: ['host', 'nope', 'host'] } as never), DB)).status, 204);
  // Same rows without tag_keys: nothing declares a key, so nothing may be collapsed.
  assert.equal((await writeMsgpack(server, encode({ m: 'plain', columns } as never), DB)).status, 204);
  await flush(server);
}

before(async () => {
  server = await startServer({ env: { ARC_INGEST_MAX_BUFFER_AGE_MS: '600000', ARC_COMPACTION_MAX_FILES_PER_BATCH: '30' } });
  reader = await Reader.open();
});

after(async () => {
  reader.close();
  assert.equal(await server.stop(), 0);
});

test('tag_keys: bad entries are a 400 naming them; time is refused', async () => {
  const columns = { time: [u64(BASE_US)], host: ['a'], v: [f64(1)] };
  const bad = async (tagKeys: unknown, pattern: RegExp) => {
    const response = await writeMsgpack(server, encode({ m: 'x', columns, tag_keys: tagKeys } as never), DB);
    assert.equal(response.status, 400, response.text);
    assert.match(String(response.json.error), pattern);
  };
  await bad(['time'], /must not name 'time'/);
  await bad(['ho st'], /"ho st" is not a valid tag name/);
  await bad([1], /entry 0 must be a string/);
  await bad('host', /must be an array/);
});

test('hourly then daily compaction: one file per partition, one row per key, the later value wins, other queries unchanged', async () => {
  const keys = 12;
  const hours = 2;
  // Six rounds of small flushes; every round rewrites every key with a larger value.
  for (let round = 1; round <= 6; round++) await writeRound(keys, round, hours);
  // A duplicate inside one request: the later row of the request wins.
  const t0 = BASE_US;
  assert.equal((await post(server, `/write?db=${DB}`, `lp,host=h0,dc=d0 v=100 ${t0 * 1000}\nlp,host=h0,dc=d0 v=200 ${t0 * 1000}`)).status, 204);
  await flush(server);
  const before = {
    plain: await sql('SELECT count(*), sum(v) FROM plain'),
    groups: await sql('SELECT host, count(DISTINCT time) FROM lp GROUP BY host ORDER BY host'),
    window: await sql(`SELECT count(*) FROM plain WHERE time >= '2026-01-05 11:00:00+00' AND time < '2026-01-05 12:00:00+00'`),
  };
  assert.equal(filesOf('lp').length, 7 * hours - (hours - 1), 'one file per flush and hour');
  assert.deepEqual(await sql('SELECT count(*) FROM lp'), [[6 * keys * hours + 2]]);

  const candidates = (await get(server, '/api/v1/compaction/candidates')).json as { count: number; candidates: Array<{ tier: string; file_count: number; partition_path: string }> };
  assert.equal(candidates.candidates.filter((c) => c.tier === 'hourly').length, 0, 'without force: fewer than hourly_min_files (10) files per hour');
  // The day (long past, so its newest-file check is skipped) has 13 hour-level files of lp: at least daily_min_files (12).
  assert.deepEqual(candidates.candidates.find((c) => c.partition_path === `${DB}/lp/2026/01/05`), { database: DB, measurement: 'lp', partition_path: `${DB}/lp/2026/01/05`, file_count: 13, tier: 'daily' });
  await compact('tier=hourly&force=true');

  for (const measurement of ['lp', 'rows', 'cols', 'plain']) {
    const files = filesOf(measurement);
    assert.equal(files.length, hours, `${measurement}: one file per hour, got ${files.join(', ')}`);
    assert.ok(files.every((f) => /_b1_compacted\.parquet$/.test(f)), files.join(', '));
  }
  // Later values won, one row per (tags, time).
  for (const measurement of ['lp', 'rows', 'cols']) {
    const [[count, distinct, min, max]] = (await sql(`SELECT count(*), count(DISTINCT (host, time)), min(v), max(v) FROM ${measurement} WHERE time <> TIMESTAMPTZ '2026-01-05 10:00:00+00'`)) as number[][];
    assert.equal(count, keys * hours - 1, measurement);
    assert.equal(distinct, count, `${measurement}: no key twice`);
    assert.deepEqual([min, max], [6, 6], `${measurement}: the last write's value everywhere`);
  }
  assert.deepEqual(await sql(`SELECT v FROM lp WHERE time = TIMESTAMPTZ '2026-01-05 10:00:00+00'`), [[200]], 'later row of one request wins');
  assert.deepEqual(await sql('SELECT count(*), sum(v) FROM plain'), before.plain, 'no tags declared: nothing collapsed');
  assert.deepEqual(await sql('SELECT host, count(DISTINCT time) FROM lp GROUP BY host ORDER BY host'), before.groups);
  assert.deepEqual(await sql(`SELECT count(*) FROM plain WHERE time >= '2026-01-05 11:00:00+00' AND time < '2026-01-05 12:00:00+00'`), before.window);

  // The outputs: sorted by tags then time, zstd, arc:tags carried over, an acknowledgement stamp recorded.
  const lpGlob = quote(path.join(server.root, DB, 'lp', '**', '*.parquet'));
  const meta = await reader.query(`SELECT DISTINCT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${lpGlob}) WHERE decode(key) = 'arc:tags'`);
  assert.deepEqual(meta, [{ k: 'arc:tags', v: 'dc,host' }]);
  const colsTags = await reader.query(`SELECT DISTINCT decode(value) AS v FROM parquet_kv_metadata(${quote(path.join(server.root, DB, 'cols', '**', '*.parquet'))}) WHERE decode(key) = 'arc:tags'`);
  assert.deepEqual(colsTags, [{ v: 'host' }], 'tag_keys kept the column names of the payload, sorted, once');
  const codecs = await reader.query(`SELECT DISTINCT compression FROM parquet_metadata(${lpGlob})`);
  assert.deepEqual(codecs, [{ compression: 'ZSTD' }]);
  const one = path.join(server.root, DB, 'lp', filesOf('lp')[0]!);
  const order = await reader.query(`SELECT dc, host, epoch_us(time) AS t FROM read_parquet(${quote(one)})`);
  const sorted = [...order].sort((a, b) => String(a.dc).localeCompare(String(b.dc)) || String(a.host).localeCompare(String(b.host)) || Number(a.t) - Number(b.t));
  assert.deepEqual(order, sorted, 'rows sorted by the tag columns, then time');

  // Late data into compacted hours: merged with the earlier output next time; the newer value wins.
  for (let round = 7; round <= 8; round++) await writeRound(keys, round, hours);
  assert.equal(filesOf('lp').length, hours * 3);
  await compact('tier=hourly&force=true');
  assert.equal(filesOf('lp').length, hours);
  assert.deepEqual(await sql(`SELECT count(*), min(v), max(v) FROM lp WHERE time <> TIMESTAMPTZ '2026-01-05 10:00:00+00'`), [[keys * hours - 1, 8, 8]]);

  // Daily: the hours of the day become one file in the day directory.
  await compact('tier=daily&force=true');
  const daily = filesOf('lp');
  assert.equal(daily.length, 1, daily.join(', '));
  assert.match(daily[0]!, /^2026\/01\/05\/lp_\d{8}_\d{6}_\d+_b1_daily\.parquet$/);
  assert.deepEqual(await sql('SELECT count(*), count(DISTINCT (host, time)) FROM lp'), [[keys * hours, keys * hours]]);
  assert.deepEqual(await sql('SELECT count(*) FROM plain'), [[8 * keys * hours]], 'nothing collapsed without tags');
  assert.deepEqual(await sql(`SELECT count(*) FROM lp WHERE time >= '2026-01-05 11:00:00+00' AND time < '2026-01-05 12:00:00+00'`), [[keys]], 'pruning still finds the rows of one hour inside a day file');

  const history = (await get(server, '/api/v1/compaction/history?limit=100')).json as { total_jobs: number; recent_jobs: Array<Record<string, unknown>> };
  assert.ok(history.total_jobs >= 4 * hours * 2 + 4);
  const job = history.recent_jobs.find((j) => j.measurement === 'lp' && j.tier === 'hourly' && String(j.partition_path).endsWith('/10'))!;
  for (const key of ['database', 'measurement', 'partition_path', 'tier', 'files_compacted', 'bytes_before', 'bytes_after', 'success', 'compression_ratio']) assert.ok(key in job, key);
  assert.equal(job.partition_path, `${DB}/lp/2026/01/05/10`);
  const stats = (await get(server, '/api/v1/compaction/stats')).json as Record<string, unknown>;
  assert.ok((stats.total_rows_deduplicated as number) > 0);
  assert.equal(stats.cycle_running, false);
  const metrics = (await get(server, '/metrics')).text;
  assert.match(metrics, /arc_compaction_jobs_total\{result="success"\} [1-9]/);
  assert.match(metrics, /arc_compaction_rows_deduplicated_total [1-9]/);
  assert.deepEqual((await get(server, '/api/v1/compaction/jobs')).json, { active_jobs: 0, jobs: [] });
});

test('trigger: bad tier and database are 400s; a running cycle is a 409 with its cycle_id', async () => {
  const badTier = await post(server, '/api/v1/compaction/trigger?tier=weekly');
  assert.equal(badTier.status, 400);
  assert.match(String(badTier.json.error), /unknown compaction tier "weekly"/);
  const badDb = await post(server, '/api/v1/compaction/trigger?database=1bad');
  assert.equal(badDb.status, 400);
  assert.match(String(badDb.json.error), /^Invalid database name/);
  // Enough work that the cycle is still running when the second trigger arrives.
  for (let i = 0; i < 3; i++) {
    assert.equal((await post(server, '/write?db=busy', Array.from({ length: 20 }, (_, k) => `m${k},host=a v=${i} ${(BASE_US + k) * 1000}`).join('\n'))).status, 204);
    await flush(server);
  }
  const first = await post(server, '/api/v1/compaction/trigger?database=busy&force=true');
  assert.equal(first.status, 200, first.text);
  const second = await post(server, '/api/v1/compaction/trigger?database=busy&force=true');
  assert.equal(second.status, 409, second.text);
  assert.equal(second.json.error, 'Compaction cycle already running');
  assert.equal(second.json.cycle_id, first.json.cycle_id);
  assert.equal(second.json.is_running, true);
  const status = (await get(server, '/api/v1/compaction/status')).json as { manager: { active_jobs: number }; schedulers: Record<string, { schedule: string; next_run: string }> };
  assert.equal(status.schedulers.hourly!.schedule, '5 * * * *');
  assert.match(status.schedulers.daily!.next_run, /^\d{4}-\d\d-\d\dT03:00:00/);
  await waitIdle(first.json.cycle_id as number);
  assert.equal(filesOf('../busy/m0').length, 1, 'the busy cycle compacted its hour');
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Reader, quote } from './helpers/duckdb.js';
import { flush, get, listFiles, post, startServer, tempDir, type HttpResult, type TestServer } from './helpers/server.js';

/**
 * Races between compaction, delete, retention and queries on one partition (issue #14: "a deleted
 * row never comes back ... not from a compaction that read the file before the delete"; "a query
 * running meanwhile sees the state before or after, never a mix"). Each interleaving is forced
 * with the server's test-only hold points (src/hold-point.ts, ARC_TEST_HOLD_DIR): a process that
 * reaches an armed point says so with a file and waits for a go file, so nothing here depends on
 * timing. Every measurement gets four flushes into one hour of 2026-01-05 (long closed): 40 keys
 * of its own each, plus 10 keys every flush writes again (compaction keeps the last flush's row).
 */
const HOUR_MS = Date.UTC(2026, 0, 5, 10);
const FLUSHES = 4;
const SHARED = Array.from({ length: 10 }, (_, i) => 1000 + i);
const JSON_HEADERS = { 'content-type': 'application/json' };
const NEVER = '0 0 1 1 *'; // cron: no scheduled cycle or retention run meets these tests

let server: TestServer;
let holds: string;
let reader: Reader;

interface Row {
  k: number;
  host: string;
  v: number;
}

function keysOf(flushNumber: number): number[] {
  return [...Array.from({ length: 40 }, (_, i) => flushNumber * 40 + i), ...SHARED];
}

function rowOf(flushNumber: number, k: number): Row {
  return { k, host: `h${k % 4}`, v: flushNumber * 10_000 + k };
}

/** Every row written, duplicates included: what queries see before compaction. */
function rawRows(): Row[] {
  return Array.from({ length: FLUSHES }, (_, r) => keysOf(r).map((k) => rowOf(r, k))).flat();
}

/** One row per key, the last flush's: what queries see after compaction. */
function mergedRows(rows: Row[]): Row[] {
  const byKey = new Map<number, Row>();
  for (const row of rows) byKey.set(row.k, row); // rows are in flush order
  return [...byKey.values()];
}

const isH1 = (row: Row) => row.host === 'h1';
const WHERE_H1 = "host = 'h1'";

function sorted(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => a.k - b.k || a.v - b.v);
}

async function writeFlushes(db: string): Promise<void> {
  for (let r = 0; r < FLUSHES; r++) {
    const lines = keysOf(r).map((k) => {
      const row = rowOf(r, k);
      return `m,host=${row.host} v=${row.v},k=${k}i ${(HOUR_MS + k * 1000) * 1e6}`;
    });
    const response = await post(server, `/write?db=${db}`, lines.join('\n'));
    assert.equal(response.status, 204, response.text);
    await flush(server);
  }
  assert.equal(dataFiles(db).length, FLUSHES, 'one file per flush');
}

async function sql(db: string, text: string): Promise<unknown[][]> {
  const response = await post(server, '/api/v1/query', JSON.stringify({ sql: text }), { ...JSON_HEADERS, 'x-arc-database': db });
  assert.equal(response.status, 200, response.text);
  return response.json.data as unknown[][];
}

async function queryRows(db: string): Promise<Row[]> {
  return ((await sql(db, 'SELECT k, host, v FROM m ORDER BY k, v')) as Array<[number, string, number]>).map(([k, host, v]) => ({ k: Number(k), host, v: Number(v) }));
}

/** Every row of every visible Parquet file of the measurement, read by DuckDB directly. */
async function fileRows(db: string): Promise<Row[]> {
  const files = dataFiles(db).map((f) => quote(path.join(server.root, db, 'm', f)));
  if (files.length === 0) return [];
  const rows = await reader.query(`SELECT k, host, v FROM read_parquet([${files.join(', ')}]) ORDER BY k, v`);
  return rows.map((r) => ({ k: Number(r.k), host: String(r.host), v: Number(r.v) }));
}

/** Every file under the measurement, hidden temporaries included. */
function allFiles(db: string): string[] {
  return listFiles(path.join(server.root, db, 'm'));
}

function dataFiles(db: string): string[] {
  return allFiles(db).filter((f) => f.endsWith('.parquet') && !path.basename(f).startsWith('.'));
}

/** Waits for a condition the server brings about (not for a time span); fails after 20 s. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function arm(point: string): void {
  fs.writeFileSync(path.join(holds, `${point}.arm`), '');
}

async function waitHeld(point: string): Promise<number> {
  const file = path.join(holds, `${point}.held`);
  await until(`hold point ${point}`, () => fs.existsSync(file) && fs.readFileSync(file, 'utf8') !== '');
  return Number(fs.readFileSync(file, 'utf8'));
}

async function release(point: string): Promise<void> {
  fs.writeFileSync(path.join(holds, `${point}.go`), '');
  await until(`hold point ${point} to go on`, () => !fs.existsSync(path.join(holds, `${point}.held`)));
}

async function trigger(db: string): Promise<number> {
  const response = await post(server, `/api/v1/compaction/trigger?tier=hourly&force=true&database=${db}`);
  assert.equal(response.status, 200, response.text);
  return response.json.cycle_id as number;
}

async function cycleDone(cycle: number): Promise<void> {
  await until(`compaction cycle ${cycle}`, async () => {
    const status = (await get(server, '/api/v1/compaction/status')).json as { cycle_running: boolean; current_cycle_id: number };
    return !status.cycle_running && status.current_cycle_id >= cycle;
  });
}

async function jobsOf(db: string): Promise<Array<Record<string, unknown>>> {
  const history = (await get(server, '/api/v1/compaction/history?limit=100')).json as { recent_jobs: Array<Record<string, unknown>> };
  return history.recent_jobs.filter((job) => job.database === db);
}

function del(db: string, where: string): Promise<HttpResult> {
  return post(server, '/api/v1/delete', JSON.stringify({ database: db, measurement: 'm', where, confirm: true }), JSON_HEADERS);
}

before(async () => {
  reader = await Reader.open();
  holds = tempDir('arc-holds-');
  server = await startServer({
    env: {
      ARC_TEST_HOLD_DIR: holds,
      ARC_DELETE_ENABLED: 'true',
      ARC_INGEST_MAX_BUFFER_AGE_MS: '600000',
      ARC_COMPACTION_HOURLY_SCHEDULE: NEVER,
      ARC_COMPACTION_DAILY_SCHEDULE: NEVER,
      ARC_SCHEDULER_RETENTION_SCHEDULE: NEVER,
    },
  });
});

after(async () => {
  // A failed assertion may leave a point held: let it go, so the server can stop cleanly.
  for (const name of fs.readdirSync(holds)) if (name.endsWith('.held')) fs.writeFileSync(path.join(holds, name.replace(/\.held$/, '.go')), '');
  reader.close();
  assert.equal(await server.stop(), 0);
});

test('a compaction that read its files before a delete is not published; the deleted rows never come back; the next cycle merges the rewritten files exactly', async () => {
  const db = 'race_merge_delete';
  await writeFlushes(db);
  const raw = rawRows();
  const inputs = dataFiles(db);

  arm('merge-written');
  const cycle = await trigger(db);
  const mergePid = await waitHeld('merge-written');
  assert.notEqual(mergePid, server.pid, 'held in the merge child, not in the server');
  // The merge has read all four files and written its output (which holds the rows about to be deleted).
  const jobs = (await get(server, '/api/v1/compaction/jobs')).json as { jobs: Array<Record<string, unknown>> };
  assert.deepEqual(jobs.jobs.map((job) => [job.partition_path, job.files]), [[`${db}/m/2026/01/05/10`, FLUSHES]]);
  const temp = allFiles(db).filter((f) => path.basename(f).startsWith('.'));
  assert.equal(temp.length, 1, `the merge output under its hidden name: ${allFiles(db).join(', ')}`);
  const [[mergedCount]] = (await reader.query(`SELECT count(*) FILTER (WHERE host = 'h1') AS n FROM read_parquet(${quote(path.join(server.root, db, 'm', temp[0]!))})`)).map((r) => [Number(r.n)]);
  assert.equal(mergedCount, mergedRows(raw).filter(isH1).length, 'the held output contains the rows the delete removes');

  const deleted = await del(db, WHERE_H1);
  assert.equal(deleted.status, 200, deleted.text);
  assert.equal(deleted.json.deleted_count, raw.filter(isH1).length);
  assert.deepEqual(deleted.json.files_processed, inputs.map((f) => path.basename(f)).sort());

  await release('merge-written');
  await cycleDone(cycle);
  const kept = raw.filter((row) => !isH1(row));
  assert.deepEqual(await queryRows(db), sorted(kept), 'queries: the delete stands, duplicates not yet merged');
  assert.deepEqual(await fileRows(db), sorted(kept), 'files: no deleted row anywhere');
  const [job] = await jobsOf(db);
  assert.equal(job!.success, false, 'the stale output is not swapped in');
  assert.match(String(job!.error), /^input race_merge_delete\/m\/2026\/01\/05\/10\/.+\.parquet was replaced while merging; the partition is taken again next cycle$/);
  assert.equal(job!.rows_before, raw.length);
  assert.equal(job!.files_compacted, FLUSHES);
  assert.deepEqual(allFiles(db).filter((f) => path.basename(f).startsWith('.') || f.endsWith('_compacted.parquet')), [], 'output and temporary removed');

  const next = await trigger(db);
  await cycleDone(next);
  const [, second] = await jobsOf(db);
  assert.deepEqual([second!.success, second!.files_compacted, second!.rows_before, second!.rows_after], [true, FLUSHES, kept.length, mergedRows(kept).length]);
  assert.deepEqual(dataFiles(db).map((f) => path.basename(f)), [path.basename(String(second!.output))]);
  const expected = sorted(mergedRows(kept));
  assert.deepEqual(await queryRows(db), expected, 'one row per key, the last flush\'s value, no deleted row: nothing lost, nothing doubled');
  assert.deepEqual(await fileRows(db), expected);
});

test('a retention run during a compaction that read the files: the output is not published and no expired row returns', async () => {
  const db = 'race_merge_retention';
  await writeFlushes(db);
  // A recent row the 30-day policy keeps (its own hour: one file, nothing to compact there).
  const recent = Date.now() - 86_400_000;
  assert.equal((await post(server, `/write?db=${db}`, `m,host=h9 v=-1,k=-1i ${recent * 1e6}`)).status, 204);
  await flush(server);
  const created = await post(server, '/api/v1/retention', JSON.stringify({ name: '30d', database: db, measurement: 'm', retention_days: 30, buffer_days: 0, is_active: true }), JSON_HEADERS);
  assert.equal(created.status, 201, created.text);

  arm('merge-written');
  const cycle = await trigger(db);
  await waitHeld('merge-written');
  const run = await post(server, `/api/v1/retention/${created.json.id as number}/execute`, JSON.stringify({ confirm: true }), JSON_HEADERS);
  assert.equal(run.status, 200, run.text);
  assert.deepEqual([run.json.deleted_count, run.json.files_deleted, run.json.files_rewritten], [rawRows().length, FLUSHES, 0]);

  await release('merge-written');
  await cycleDone(cycle);
  assert.deepEqual(await queryRows(db), [{ k: -1, host: 'h9', v: -1 }], 'only the recent row');
  assert.deepEqual(await fileRows(db), [{ k: -1, host: 'h9', v: -1 }], 'no expired row in any file');
  const jobs = await jobsOf(db);
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0]!.success, false);
  assert.match(String(jobs[0]!.error), /was replaced while merging/);
  assert.equal(dataFiles(db).length, 1);
  assert.deepEqual(allFiles(db).filter((f) => path.basename(f).startsWith('.')), []);
  await cycleDone(await trigger(db));
  assert.equal((await jobsOf(db)).length, 1, 'nothing left to compact');
});

test('a delete that scanned before a compaction swapped its files starts again on the new file: the right rows go, nothing is resurrected', async () => {
  const db = 'race_delete_merge';
  await writeFlushes(db);
  const raw = rawRows();
  const inputs = dataFiles(db).map((f) => path.join(server.root, db, 'm', f));

  arm('rewrite-prepared');
  const pending = del(db, WHERE_H1);
  assert.equal(await waitHeld('rewrite-prepared'), server.pid);
  // The delete has scanned and rewritten the four flush files; the compaction now merges the originals.
  const cycle = await trigger(db);
  await cycleDone(cycle);
  const [job] = await jobsOf(db);
  assert.equal(job!.success, true, String(job!.error));
  const output = path.join(server.root, String(job!.output));
  assert.deepEqual(await queryRows(db), sorted(mergedRows(raw)), 'the compaction is visible; the delete is not yet');
  assert.ok(inputs.every((file) => fs.existsSync(file)), 'the held delete still pins the files it scanned');

  await release('rewrite-prepared');
  const deleted = await pending;
  assert.equal(deleted.status, 200, deleted.text);
  // Counted on the compacted file (one row per key), not on the flush files the first attempt read.
  assert.equal(deleted.json.deleted_count, mergedRows(raw).filter(isH1).length);
  assert.deepEqual(deleted.json.files_processed, [path.basename(output)]);
  assert.equal(deleted.json.rewritten_files, 1);

  const expected = sorted(mergedRows(raw).filter((row) => !isH1(row)));
  assert.deepEqual(await queryRows(db), expected);
  await until('the replaced files to be unlinked', () => inputs.every((file) => !fs.existsSync(file)) && !fs.existsSync(output));
  assert.equal(dataFiles(db).length, 1, dataFiles(db).join(', '));
  assert.deepEqual(allFiles(db).filter((f) => path.basename(f).startsWith('.')), [], 'the first attempt left no temporary');
  assert.deepEqual(await fileRows(db), expected, 'files: exactly the kept rows, once each');
});

test('a query that took its snapshot before a compaction swap, and one before a delete swap, each see the state before, never a mix', async () => {
  const db = 'race_query_swap';
  await writeFlushes(db);
  const raw = rawRows();
  const inputs = dataFiles(db).map((f) => path.join(server.root, db, 'm', f));
  const COUNT = 'SELECT count(*), count(DISTINCT k), sum(v) FROM m';
  const stateOf = (rows: Row[]) => [[rows.length, new Set(rows.map((r) => r.k)).size, rows.reduce((n, r) => n + r.v, 0)]];
  const beforeMerge = stateOf(raw);
  const afterMerge = stateOf(mergedRows(raw));
  const afterDelete = stateOf(mergedRows(raw).filter((row) => !isH1(row)));
  assert.notDeepEqual(beforeMerge, afterMerge, 'the two valid answers differ, so a mix would show');

  // Compaction: the merge is held, a count takes its snapshot and is held, the swap happens, the count goes on.
  arm('merge-written');
  const cycle = await trigger(db);
  await waitHeld('merge-written');
  arm('query-snapshot');
  const early = sql(db, COUNT);
  await waitHeld('query-snapshot');
  await release('merge-written');
  await cycleDone(cycle);
  const [job] = await jobsOf(db);
  assert.equal(job!.success, true, String(job!.error));
  const output = path.join(server.root, String(job!.output));
  assert.ok(inputs.every((file) => fs.existsSync(file)), 'swapped out but pinned by the held query: not unlinked');
  assert.deepEqual(await sql(db, COUNT), afterMerge, 'a query started after the swap sees the merged file');
  await release('query-snapshot');
  assert.deepEqual(await early, beforeMerge, 'the held query read exactly the files of its snapshot');
  await until('the merged-away files to be unlinked', () => inputs.every((file) => !fs.existsSync(file)));

  // Delete: a count holds a snapshot of the compacted file while a delete replaces it.
  arm('query-snapshot');
  const held = sql(db, COUNT);
  await waitHeld('query-snapshot');
  const deleted = await del(db, WHERE_H1);
  assert.equal(deleted.status, 200, deleted.text);
  assert.ok(fs.existsSync(output), 'the rewritten file is pinned by the held query');
  assert.deepEqual(await sql(db, COUNT), afterDelete);
  await release('query-snapshot');
  assert.deepEqual(await held, afterMerge, 'the held query sees the state before the delete');
  await until('the rewritten file to be unlinked', () => !fs.existsSync(output));
  assert.deepEqual(await sql(db, COUNT), afterDelete);
});

test('a delete that rewrote only the oldest flush file keeps its place in acknowledgement order: the next compaction keeps the later flushes\' values', async () => {
  const db = 'race_delete_order';
  await writeFlushes(db);
  // Only flush 0's rows have v < 10000: only its file is rewritten, after the other three were written.
  const doomed = (row: Row) => isH1(row) && row.v < 10_000;
  const deleted = await del(db, `${WHERE_H1} AND v < 10000`);
  assert.equal(deleted.status, 200, deleted.text);
  assert.deepEqual([deleted.json.deleted_count, deleted.json.rewritten_files], [rawRows().filter(doomed).length, 1]);
  await cycleDone(await trigger(db));
  const [job] = await jobsOf(db);
  assert.equal(job!.success, true, String(job!.error));
  assert.deepEqual(await queryRows(db), sorted(mergedRows(rawRows().filter((row) => !doomed(row)))), 'every shared key keeps the last flush\'s value');
});

/**
 * One compaction merge, in a child process of its own (`node merge-process.js`, the job as JSON on
 * stdin, the result as JSON on stdout): DuckDB's memory is returned to the system when it exits,
 * a merge that runs out of memory cannot take the server down, and the process runs at a lower
 * CPU priority than the server, so ingestion keeps its cores.
 *
 * The merge reads every input as one relation (union by column name), keeps one row per
 * (tags, time) when the inputs declare tags — the row acknowledged last: the input with the later
 * acknowledgement order, then the later row within it — sorts by the sort keys and writes one
 * zstd Parquet file with row groups of 122,880 rows (min/max statistics per column), fsynced. It
 * writes only the hidden temporary name it was given; publishing is the server's job.
 */
import fs from 'node:fs';
import os from 'node:os';
import { DuckDBInstance } from '@duckdb/node-api';
import { holdPoint } from '../hold-point.js';
import type { FileKind } from '../storage/catalog.js';

export interface MergeInput {
  path: string;
  kind: FileKind;
  /** Flush files: the flush stamp (ns) from the name, unless the file records `arc:max_stamp` (a rewritten one); other files carry `arc:max_stamp`. */
  stamp: string | null;
}

export interface MergeJob {
  inputs: MergeInput[];
  /** Hidden temporary path to write. */
  output: string;
  /** Sort keys; "tags" expands to the tag columns. */
  sortKeys: string[];
  threads: number;
  memoryLimit: string;
  spillDirectory: string;
}

export interface MergeResult {
  /** No input has a `time` column: nothing was written. */
  skipped: boolean;
  rowsIn: number;
  rowsOut: number;
  bytesOut: number;
  tags: string[];
  /** Acknowledgement order of the output: the latest of its inputs' (ns, as text). */
  maxStamp: string;
  /** Why deduplication was off although tags were declared (a bad tag name), if so. */
  dedupWarning: string | null;
}

const TAG_NAME = /^[A-Za-z0-9_-]+$/;
const ROW_GROUP_SIZE = 122_880;

export async function merge(job: MergeJob): Promise<MergeResult> {
  fs.mkdirSync(job.spillDirectory, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(job.threads),
    memory_limit: job.memoryLimit,
    temp_directory: job.spillDirectory,
    enable_external_access: 'true',
  });
  const db = await instance.connect();
  try {
    const list = `[${job.inputs.map((input) => quote(input.path)).join(', ')}]`;
    const meta = (await db.runAndReadAll(`SELECT file_name, decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${list}) WHERE decode(key) IN ('arc:tags', 'arc:max_stamp')`)).getRowObjects();
    const tagSet = new Set<string>();
    const maxStamps = new Map<string, bigint>();
    for (const row of meta) {
      const value = String(row.v);
      if (row.k === 'arc:tags') {
        for (const tag of value.split(',')) if (tag !== '') tagSet.add(tag);
      } else if (row.k === 'arc:max_stamp' && /^\d+$/.test(value)) {
        maxStamps.set(String(row.file_name), BigInt(value));
      }
    }
    // Acknowledgement order of each input: the max stamp it records (compacted files, and flush files a
    // delete or CQ swap rewrote under a fresh name), else the flush stamp of its name.
    const ordered = job.inputs.map((input) => ({ path: input.path, stamp: maxStamps.get(input.path) ?? (input.stamp !== null ? BigInt(input.stamp) : 0n) }));
    ordered.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const maxStamp = ordered.reduce((max, input) => (input.stamp > max ? input.stamp : max), 0n);

    const columns = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${list}, union_by_name = true)`)).getRowObjects().map((row) => String(row.column_name));
    const rowsIn = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${list}, union_by_name = true)`)).getRowObjects()[0]!.n);
    if (!columns.includes('time')) return { skipped: true, rowsIn, rowsOut: 0, bytesOut: 0, tags: [], maxStamp: maxStamp.toString(), dedupWarning: null };

    const declared = [...tagSet].sort();
    const badTag = declared.find((tag) => !TAG_NAME.test(tag));
    const tags = badTag === undefined ? declared.filter((tag) => columns.includes(tag)) : [];
    const dedupWarning = badTag === undefined ? null : `tag name ${JSON.stringify(badTag)} is not [A-Za-z0-9_-]+; merged without deduplication`;
    const sortKeys = expandSortKeys(job.sortKeys, tags).filter((key) => columns.includes(key));
    if (sortKeys.length === 0) sortKeys.push('time');

    await db.run('CREATE TEMP TABLE arc_ranks (file VARCHAR, ack BIGINT)');
    const values = ordered.map((input, rank) => `(${quote(input.path)}, ${rank})`).join(', ');
    await db.run(`INSERT INTO arc_ranks VALUES ${values}`);
    const source = `read_parquet(${list}, union_by_name = true, filename = '__arc_file', file_row_number = true)`;
    const order = sortKeys.map((key) => `${ident(key)} ASC NULLS FIRST`).join(', ');
    let select: string;
    if (tags.length > 0) {
      const partition = [...tags, 'time'].map(ident).join(', ');
      select = `SELECT * EXCLUDE (__arc_file, file_row_number, __arc_ack, __arc_n) FROM (
        SELECT s.*, r.ack AS __arc_ack,
          row_number() OVER (PARTITION BY ${partition} ORDER BY r.ack DESC, s.file_row_number DESC) AS __arc_n
        FROM ${source} AS s JOIN arc_ranks AS r ON s.__arc_file = r.file
      ) WHERE __arc_n = 1 ORDER BY ${order}`;
    } else {
      select = `SELECT * EXCLUDE (__arc_file, file_row_number) FROM ${source} ORDER BY ${order}`;
    }
    const metadata = [`'arc:max_stamp': ${quote(maxStamp.toString())}`];
    if (tags.length > 0) metadata.push(`'arc:tags': ${quote(tags.join(','))}`);
    await db.run(
      `COPY (${select}) TO ${quote(job.output)} (FORMAT PARQUET, COMPRESSION ZSTD, COMPRESSION_LEVEL 3, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, KV_METADATA {${metadata.join(', ')}})`,
    );
    const rowsOut = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${quote(job.output)})`)).getRowObjects()[0]!.n);
    const fd = fs.openSync(job.output, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    await holdPoint('merge-written'); // tests: the inputs are read, the server has not seen the result yet
    return { skipped: false, rowsIn, rowsOut, bytesOut: fs.statSync(job.output).size, tags, maxStamp: maxStamp.toString(), dedupWarning };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** `tags` in a sort key list stands for the tag columns, sorted by name. */
export function expandSortKeys(keys: readonly string[], tags: readonly string[]): string[] {
  const out: string[] = [];
  for (const key of keys) {
    for (const name of key === 'tags' ? tags : [key]) if (!out.includes(name)) out.push(name);
  }
  return out;
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function main(): Promise<void> {
  try {
    os.setPriority(10); // below the server: threads DuckDB starts from here inherit it
  } catch {
    // not permitted: run at normal priority
  }
  // The server died (kill -9): nobody will publish this output; stop writing it.
  process.stdin.on('end', () => process.exit(3));
  const chunks: Buffer[] = [];
  let job: MergeJob | null = null;
  process.stdin.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    const newline = text.indexOf('\n');
    if (newline < 0 || job !== null) return;
    job = JSON.parse(text.slice(0, newline)) as MergeJob;
    merge(job).then(
      (result) => process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`, () => process.exit(0)),
      (err: Error) => process.stdout.write(`${JSON.stringify({ ok: false, error: err.message })}\n`, () => process.exit(1)),
    );
  });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main();

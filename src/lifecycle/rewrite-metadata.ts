import duckdbApi, { type DuckDBConnection } from '@duckdb/node-api';
import { flushStampOf } from '../compaction/planner.js';
import type { CatalogFile } from '../storage/catalog.js';

const { quotedString } = duckdbApi;

/**
 * The `, KV_METADATA {...}` clause (or '') of a rewritten copy of `file` (delete, retention, CQ
 * window swap): the original's `arc:` entries, plus `arc:max_stamp` — the original's flush stamp —
 * when it is a flush file that records none yet.
 *
 * Why: a rewrite gets a fresh name, and a flush file's name carries its flush stamp, which is its
 * place in acknowledgement order for compaction's "the row acknowledged last wins". Ranked by the
 * new name, the copy of an older flush would outrank every later flush of its hour, and its
 * overwritten values would come back at the next compaction. The merge ranks a file that records
 * `arc:max_stamp` by that value (compaction outputs record it too).
 */
export async function rewriteMetadata(connection: DuckDBConnection, file: CatalogFile): Promise<string> {
  const rows = (await connection.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${quotedString(file.path)}) WHERE decode(key) LIKE 'arc:%'`)).getRowObjects();
  const entries = rows.map((row) => [String(row.k), String(row.v)] as const);
  if (file.kind === 'flush' && !entries.some(([k]) => k === 'arc:max_stamp')) {
    const stamp = file.flushStamp ?? flushStampOf(file.path);
    if (stamp !== null) entries.push(['arc:max_stamp', stamp.toString()]);
  }
  return entries.length ? `, KV_METADATA {${entries.map(([k, v]) => `${quotedString(k)}: ${quotedString(v)}`).join(', ')}}` : '';
}

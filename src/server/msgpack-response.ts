import type { ServerResponse } from 'node:http';
import { encodeColumnCells, msgpackTypeName } from '../duckdb/msgpack-cells.js';
import type { OpenQuery } from '../query/query-service.js';
import { SmallMsgpack } from './msgpack-envelope.js';
import { ResponseBody } from './response-body.js';
import { ResultSpool } from './result-spool.js';
import type { RequestContext } from './router.js';

const HEADERS = { 'Content-Type': 'application/msgpack', 'X-Content-Type-Options': 'nosniff', 'Access-Control-Allow-Origin': '*' };

export interface MsgpackResultOptions {
  /** Request start, RFC 3339 seconds (Arc's `timestamp`). */
  timestamp: string;
  /** The `profile` entry, when x-arc-profile asked for it. */
  profile: unknown;
  spoolMemory: number;
  spoolDirectory: string;
}

/**
 * Arc's columnar MessagePack result (arc-spec-lifecycle §7.1): `{success, columns, types, data,
 * row_count, execution_time_ms, timestamp[, profile]}`, `data` column-major. Every array is
 * preceded by its length, so the whole result is read before the status line goes out (a
 * failure anywhere is still a proper error status); the cells wait in a ResultSpool, so memory
 * stays bounded however large the result. Resolves false when the client went away.
 */
export async function streamMsgpack(context: RequestContext, query: OpenQuery, options: MsgpackResultOptions): Promise<boolean> {
  const { req, res } = context;
  const columns = query.columns;
  const spool = new ResultSpool(columns.length, options.spoolMemory, options.spoolDirectory);
  try {
    let rows = 0;
    for (let chunk = await query.next(); chunk !== null; chunk = await query.next()) {
      for (let c = 0; c < columns.length; c++) encodeColumnCells(spool.columns[c]!.writer, chunk, columns[c]!, c, rows);
      rows += chunk.rowCount;
      await spool.spillIfNeeded();
      if (res.destroyed) return false;
    }
    const head = new SmallMsgpack();
    head.out.mapHeader(options.profile === undefined ? 7 : 8);
    head.value('success');
    head.value(true);
    head.value('columns');
    head.value(columns.map((c) => c.name));
    head.value('types');
    head.value(columns.map(msgpackTypeName));
    head.value('data');
    head.out.arrayHeader(columns.length);
    // Arc does not encode its "no files" answer (no columns at all).
    const body = ResponseBody.start(req, res, HEADERS, columns.length > 0);
    const write = (bytes: Uint8Array, sent?: () => void) => body.write(bytes, sent);
    if (!(await write(head.bytes()))) return false;
    for (let c = 0; c < columns.length; c++) {
      const header = new SmallMsgpack();
      header.out.arrayHeader(rows);
      if (!(await write(header.bytes()))) return false;
      if (!(await spool.drainColumn(c, write))) return false;
    }
    const tail = new SmallMsgpack();
    tail.value('row_count');
    tail.out.uint(rows);
    tail.value('execution_time_ms');
    tail.out.uint(Math.floor(performance.now() - context.startedAt));
    tail.value('timestamp');
    tail.value(options.timestamp);
    if (options.profile !== undefined) {
      tail.value('profile');
      tail.value(options.profile);
    }
    await body.end(tail.bytes());
    return true;
  } finally {
    await spool.close();
  }
}

/** A SHOW answer in the msgpack envelope: rows transposed to columns, never encoded. */
export function sendMsgpackTable(res: ServerResponse, columns: string[], types: string[], rows: unknown[][], elapsedMs: number, timestamp: string): void {
  const body = new SmallMsgpack();
  body.out.mapHeader(7);
  body.value('success');
  body.value(true);
  body.value('columns');
  body.value(columns);
  body.value('types');
  body.value(types);
  body.value('data');
  body.out.arrayHeader(columns.length);
  for (let c = 0; c < columns.length; c++) {
    body.out.arrayHeader(rows.length);
    for (const row of rows) {
      const cell = row[c];
      if (cell === null || cell === undefined) body.out.nil();
      else if (types[c] === 'float64') body.out.float64(Number(cell));
      else body.value(cell); // strings; Arc's file_count is the compact int here
    }
  }
  body.value('row_count');
  body.out.uint(rows.length);
  body.value('execution_time_ms');
  body.out.uint(Math.floor(elapsedMs));
  body.value('timestamp');
  body.value(timestamp);
  const bytes = body.bytes();
  res.writeHead(200, { ...HEADERS, 'Content-Length': String(bytes.length) });
  res.end(bytes);
}

import { requireDatabase } from '../auth/database-scope.js';
import { ArcError } from '../errors.js';
import { parseLineProtocol, parsePrecision, type LineProtocolResult } from '../ingest/line-protocol.js';
import { decodeMsgpackPayload, type DecodedBatch } from '../ingest/msgpack-decode.js';
import { DEFAULT_DATABASE, checkDatabaseName, isValidMeasurementName, measurementNameError } from '../ingest/names.js';
import type { Histogram } from '../metrics/registry.js';
import type { FormatCounters } from '../metrics/server-metrics.js';
import { decompressBody, sniffEncoding, type BodyEncoding } from '../ingest/body-encoding.js';
import { readBody } from './body.js';
import { sendJson, sendNoContent } from './respond.js';
import { EntryKind } from '../wal/wal-format.js';
import type { RequestContext } from './router.js';
import type { ServerState } from './server-state.js';

/** Line protocol bodies are capped at 100 MB, raw and decompressed (arc-spec §6), or less if server.max_payload_size is. */
const LINE_PROTOCOL_LIMIT = 100 * 1024 * 1024;
/**
 * Bodies up to this size (uncompressed, or once decompressed) are decoded inline: a few
 * milliseconds of work, no thread hop. Larger ones go to the decode worker pool (#13 item 5).
 */
const INLINE_BYTES = 1 << 20;
/** What `GET /ping` reports: InfluxDB clients probe it and some read the version. */
const INFLUX_VERSION = '1.8.10';

/** `x-arc-database` when set and not empty. */
function databaseHeader(context: RequestContext): string | null {
  const header = context.req.headers['x-arc-database'];
  const value = Array.isArray(header) ? header[0] : header;
  return value && value.trim() !== '' ? value.trim() : null;
}

/**
 * POST /api/v1/write/msgpack (arc-spec §5), in Arc's order of checks: empty body, size,
 * decompression, decoding, database name, measurement names, buffering. All or nothing.
 */
export async function writeMsgpack(state: ServerState, context: RequestContext): Promise<void> {
  // Before the body is read: a token scoped elsewhere costs no decoding.
  requireDatabase(context.principal, databaseHeader(context) ?? DEFAULT_DATABASE);
  const limit = state.config.server.maxPayloadSize;
  const metrics = state.metrics;
  const raw = await readBody(context.req, limit);
  if (raw.length === 0) throw new ArcError('ARC_ERR_EMPTY_PAYLOAD', 'Empty payload');
  const turn = state.turns.admit();
  // Only a request that must wait yields: an admitted one decodes in the same tick (no microtask hop in which another could be admitted too).
  if (turn !== null) await turn;
  let started = metrics.timings ? performance.now() : 0;
  const encoding = sniffEncoding(raw);
  // One "now" per request for rows without a time: the write-ahead log records it, so a replay decodes the same rows.
  const now = state.decodeContext.nowMicros();
  let payload: { batches: DecodedBatch[]; multiItem: boolean; rowCount: number };
  try {
    const inline = await inlineBody(raw, encoding, limit);
    if (inline !== null) {
      if (metrics.timings && encoding !== 'none') started = lap(metrics.stage.decompress, started);
      payload = decodeMsgpackPayload(inline, { interner: state.decodeContext.interner, nowMicros: () => now });
    } else {
      const decoded = await state.decodePool.decode('msgpack', raw, encoding, limit, now);
      payload = { batches: decoded.batches.map((batch, i) => ({ batch, item: decoded.items[i]! })), multiItem: decoded.multiItem, rowCount: decoded.rowCount };
    }
  } catch (err) {
    metrics.msgpackDecode.errors.value++;
    throw err;
  }
  metrics.msgpackDecode.decoded.value++;
  if (metrics.timings) started = lap(metrics.stage.decode, started);
  const database = databaseHeader(context) ?? DEFAULT_DATABASE;
  checkDatabaseName(database);
  for (const { batch, item } of payload.batches) {
    if (!isValidMeasurementName(batch.measurement)) {
      const where = payload.multiItem ? `item ${item}: ` : '';
      throw new ArcError('ARC_ERR_INVALID_MEASUREMENT', where + measurementNameError(batch.measurement), {
        item,
        measurement: batch.measurement,
      });
    }
  }
  const batches = state.buffers.conform(database, payload.batches.map((decoded) => decoded.batch));
  if (state.wal) {
    await countWalErrors(state, state.wal.write(state.buffers, EntryKind.Msgpack, { d: database, n: now }, raw, batches));
    if (metrics.timings) lap(metrics.stage.log, started);
  } else {
    state.buffers.write(database, batches);
    if (metrics.timings) lap(metrics.stage.append, started);
  }
  count(metrics.formats.msgpack, payload.rowCount, raw.length);
  sendNoContent(context.res);
}

/**
 * InfluxDB line protocol (arc-spec §6): POST /write (database from `db`), POST /api/v2/write (from
 * `bucket`) and POST /api/v1/write/line-protocol; `x-arc-database` overrides either. Valid lines are
 * written; if any line was rejected the answer is 400 counting them, with line numbers and reasons
 * (InfluxDB's behaviour; Arc drops bad lines silently).
 */
export async function writeLineProtocol(state: ServerState, context: RequestContext, databaseParameter: 'db' | 'bucket' | null): Promise<void> {
  const counters = state.metrics.lineProtocol;
  counters.requests.value++;
  try {
    if (!(await writeLines(state, context, databaseParameter))) counters.errors.value++;
  } catch (err) {
    counters.errors.value++;
    throw err;
  }
}

/** False when some lines were rejected (answered 400, the valid ones written). */
async function writeLines(state: ServerState, context: RequestContext, databaseParameter: 'db' | 'bucket' | null): Promise<boolean> {
  const query = new URLSearchParams(context.rawQuery);
  const database = databaseHeader(context) ?? (databaseParameter ? query.get(databaseParameter) : null) ?? DEFAULT_DATABASE;
  checkDatabaseName(database);
  requireDatabase(context.principal, database);
  const precisionText = query.get('precision') ?? undefined;
  const precision = parsePrecision(precisionText);
  if (precision === null) {
    throw new ArcError('ARC_ERR_INVALID_PRECISION', `invalid precision ${JSON.stringify(precisionText)}: must be ns, us, ms, or s (or InfluxDB 1.x n, u, m, h)`, {
      precision: precisionText,
    });
  }
  const limit = Math.min(LINE_PROTOCOL_LIMIT, state.config.server.maxPayloadSize);
  const metrics = state.metrics;
  const raw = await readBody(context.req, limit);
  if (raw.length === 0) throw new ArcError('ARC_ERR_EMPTY_PAYLOAD', 'Empty request body');
  const turn = state.turns.admit();
  if (turn !== null) await turn;
  let started = metrics.timings ? performance.now() : 0;
  const encoding = sniffEncoding(raw);
  metrics.lineProtocol.bytes.value += raw.length;
  if (encoding !== 'none') metrics.lineProtocol.compressedBytes.value += raw.length;
  const now = state.decodeContext.nowMicros();
  let result: Pick<LineProtocolResult, 'batches' | 'lines' | 'written' | 'rejected' | 'rejectedLines'>;
  const inline = await inlineBody(raw, encoding, limit);
  if (inline !== null) {
    if (metrics.timings && encoding !== 'none') started = lap(metrics.stage.decompress, started);
    result = parseLineProtocol(inline, { precision, nowMicros: now, interner: state.decodeContext.interner });
  } else {
    const decoded = await state.decodePool.decode('line-protocol', raw, encoding, limit, now, precisionText ?? 'ns');
    result = { batches: decoded.batches, ...decoded.lines! };
  }
  if (metrics.timings) started = lap(metrics.stage.decode, started);
  metrics.lineProtocol.records.value += result.written;
  if (result.lines === 0) throw new ArcError('ARC_ERR_NO_RECORDS', 'No valid records in request');
  const batches = state.buffers.conform(database, result.batches);
  if (state.wal && result.written > 0) {
    await countWalErrors(state, state.wal.write(state.buffers, EntryKind.LineProtocol, { d: database, n: now, p: precisionText ?? 'ns' }, raw, batches));
    if (metrics.timings) lap(metrics.stage.log, started);
  } else if (!state.wal) {
    state.buffers.write(database, batches);
    if (metrics.timings) lap(metrics.stage.append, started);
  }
  count(metrics.formats.lineprotocol, result.written, raw.length);
  if (result.rejected > 0) {
    metrics.rejectedLines.value += result.rejected;
    metrics.rejectedRequest('ARC_ERR_PARTIAL_WRITE');
    const error = new ArcError('ARC_ERR_PARTIAL_WRITE', `partial write: ${result.rejected} of ${result.lines} lines rejected`, {
      rejected: result.rejected,
      written: result.written,
      lines: result.rejectedLines,
    });
    sendJson(context.res, error.status, { error: error.message, code: error.code, ...error.details });
    return false;
  }
  sendNoContent(context.res);
  return true;
}

/**
 * Bodies decoded on the event loop: uncompressed up to INLINE_BYTES, or compressed ones that
 * expand to at most that (decompressed here with that cap, so a bomb costs at most INLINE_BYTES of
 * work before it goes to the decode pool). Null: decode it in the pool.
 */
async function inlineBody(raw: Buffer, encoding: BodyEncoding, limit: number): Promise<Buffer | null> {
  if (raw.length > INLINE_BYTES) return null;
  if (encoding === 'none') return raw;
  try {
    return await decompressBody(raw, encoding, Math.min(limit, INLINE_BYTES));
  } catch (err) {
    if (err instanceof ArcError && err.code === 'ARC_ERR_DECOMPRESSED_TOO_LARGE' && limit > INLINE_BYTES) return null;
    throw err;
  }
}

async function countWalErrors(state: ServerState, write: Promise<void>): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (err instanceof ArcError && err.code === 'ARC_ERR_WAL_UNAVAILABLE') state.metrics.walErrors.value++;
    throw err;
  }
}

/** GET/HEAD /ping: what InfluxDB clients probe before writing. */
export function ping({ res }: RequestContext): void {
  sendNoContent(res, ['X-Influxdb-Version', INFLUX_VERSION, 'X-Influxdb-Build', 'OSS']);
}

function count(counters: FormatCounters, records: number, bytes: number): void {
  counters.requests.value++;
  counters.records.value += records;
  counters.bytes.value += bytes;
}

/** Records the time since `started` and returns the new start. */
function lap(histogram: Histogram, started: number): number {
  const now = performance.now();
  histogram.observeMs(now - started);
  return now;
}

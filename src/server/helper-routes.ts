import { sendJson } from './respond.js';
import type { RequestContext } from './router.js';
import type { SchedulerStatusProvider, ServerState } from './server-state.js';

export type { SchedulerRegistry, SchedulerStatusProvider } from './server-state.js';

/** GET /api/v1/schedulers (arc-spec-lifecycle §10); arc-ts has no licence tiers, so no licence fields. */
export function schedulers(state: ServerState, { res }: RequestContext): void {
  const report = (provider: SchedulerStatusProvider | null, what: string) =>
    provider ? provider.schedulerStatus() : { enabled: false, reason: `this arc-ts build has no ${what} scheduler` };
  sendJson(res, 200, {
    cq_scheduler: report(state.schedulers.cq, 'continuous query'),
    retention_scheduler: report(state.schedulers.retention, 'retention'),
  });
}

/** GET /api/v1/write/msgpack/stats: Arc's shape, from arc-ts's own counters. */
export function msgpackStats(state: ServerState, { res }: RequestContext): void {
  const m = state.metrics;
  const decoded = m.msgpackDecode.decoded.value;
  const errors = m.msgpackDecode.errors.value;
  const buffers = state.buffers.stats();
  sendJson(res, 200, {
    decoder: {
      total_decoded: decoded,
      total_errors: errors,
      error_rate: decoded === 0 ? 0 : errors / decoded,
      // arc-ts has one decoder, which reads columnar and row payloads straight into columns: every decode is a "hit".
      typed_decode_hits: decoded,
      typed_decode_misses: 0,
    },
    buffer: {
      total_records_buffered: m.formats.msgpack.records.value + m.formats.lineprotocol.records.value,
      total_records_written: m.rowsWritten.value,
      total_flushes: buffers.flushesCompleted,
      total_errors: buffers.flushErrors,
      total_wal_errors: m.walErrors.value,
      total_wal_dropped: 0, // arc-ts never drops a logged write: it refuses the request instead
      total_schema_churn_exceeded: 0, // no schema-churn limit in arc-ts
      active_buffers: buffers.buffers,
      flush_queue_depth: buffers.inflightFlushes,
      flush_workers: state.config.ingest.flushWorkers,
    },
  });
}

/** GET /api/v1/write/line-protocol/stats */
export function lineProtocolStats(state: ServerState, { res }: RequestContext): void {
  const c = state.metrics.lineProtocol;
  sendJson(res, 200, {
    status: 'success',
    stats: {
      total_requests: c.requests.value,
      total_records: c.records.value,
      total_bytes: c.bytes.value,
      total_bytes_gzipped: c.compressedBytes.value,
      total_errors: c.errors.value,
    },
  });
}

/** GET /api/v1/write/line-protocol/health: constant, as in Arc. */
export function lineProtocolHealth(_state: ServerState, { res }: RequestContext): void {
  sendJson(res, 200, { status: 'healthy', service: 'line_protocol_writer' });
}

/** GET /api/v1/write/msgpack/spec: a human-readable description of the format (Arc's keys, arc-ts's words). */
export function msgpackSpec(_state: ServerState, { res }: RequestContext): void {
  const base = 1_767_225_600_000; // 2026-01-01T00:00:00Z in ms
  sendJson(res, 200, {
    version: '2.0',
    protocol: 'MessagePack',
    endpoint: '/api/v1/write/msgpack',
    content_type: 'application/msgpack',
    compression: 'Optional: gzip or zstd bodies are recognised by their magic bytes; Content-Encoding is not needed.',
    authentication: {
      header: 'x-api-key',
      note: 'A token with write permission in x-api-key or Authorization (Bearer, Token, Basic password) while auth.enabled is true.',
    },
    format: {
      columnar: 'One map {"m": measurement, "columns": {name: [values...]}}; every column has one value per row; "time" holds epoch seconds, ms, µs or ns (by magnitude) or msgpack timestamps. Fastest form.',
      row: 'One map {"m": measurement, "t": time, "h": host, "fields": {...}, "tags": {...}} per row.',
      batch: 'An array of columnar or row maps, or {"batch": [...]}: written all or nothing.',
    },
    example_columnar: { m: 'cpu', columns: { time: [base, base + 1000], host: ['server01', 'server02'], usage_idle: [95.5, 87.25] } },
    example_row: { m: 'cpu', t: base, h: 'server01', fields: { usage_idle: 95.5 }, tags: { region: 'eu-west' } },
    performance: {
      note: 'Measured figures with command and machine are in docs/benchmarks.md; run `arc bench` on your own hardware.',
    },
  });
}

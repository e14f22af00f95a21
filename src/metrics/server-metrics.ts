import type { BufferStats } from '../buffer/buffer-manager.js';
import type { FlushReport } from '../storage/write-job.js';
import { EventLoopMonitor, PROBE_MS, STALL_MS } from './event-loop.js';
import { Histogram, Registry } from './registry.js';

export type IngestFormat = 'msgpack' | 'lineprotocol';

/** What the write-ahead log reports (see WriteAheadLog.stats). */
export interface WalStats {
  segments: number;
  pendingRows: number;
  backlogBytes: number;
}

/** Per-format counters of the write path. */
export interface FormatCounters {
  requests: { value: number };
  records: { value: number };
  /** Bytes as received (compressed or not). */
  bytes: { value: number };
}

/**
 * The metrics arc-ts keeps about itself. Stage histograms answer the profiling question "where
 * does a request's time go" without a profiler: decompress, decode, buffer append on the request
 * path; sort, encode, fsync, publish in the flush workers.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  /** False when metrics.stage_timings is off: callers skip the clock reads too. */
  readonly timings: boolean;
  /** `log`: with the write-ahead log on, from a decoded request to its entry synced and its rows buffered (waiting included). */
  readonly stage: Record<'decompress' | 'decode' | 'append' | 'log' | 'flush_sort' | 'flush_encode' | 'flush_fsync' | 'flush_publish', Histogram>;
  readonly formats: Record<IngestFormat, FormatCounters>;
  readonly rejectedLines: { value: number };
  /** MessagePack bodies decoded, and those that failed to decode (GET /api/v1/write/msgpack/stats). */
  readonly msgpackDecode: { decoded: { value: number }; errors: { value: number } };
  /** Every line protocol request as Arc's GET /api/v1/write/line-protocol/stats counts it, failed ones included. */
  readonly lineProtocol: { requests: { value: number }; records: { value: number }; bytes: { value: number }; compressedBytes: { value: number }; errors: { value: number } };
  /** Write requests the write-ahead log could not take. */
  readonly walErrors: { value: number };
  readonly queries: { value: number };
  readonly filesWritten: { value: number };
  readonly rowsWritten: { value: number };
  readonly bytesWritten: { value: number };
  private readonly rejected = new Map<string, { value: number }>();
  private readonly latencyByRoute = new Map<string, Histogram>();
  readonly eventLoop: EventLoopMonitor;
  readonly unhandledErrors: { value: number };

  constructor(timings: boolean, buffers: () => BufferStats, wal?: () => WalStats) {
    this.timings = timings;
    const r = this.registry;
    const stage = (name: string) => r.histogram('arc_stage_duration_seconds', 'Time spent per pipeline stage', { stage: name });
    this.stage = {
      decompress: stage('decompress'),
      decode: stage('decode'),
      append: stage('append'),
      log: stage('log'),
      flush_sort: stage('flush_sort'),
      flush_encode: stage('flush_encode'),
      flush_fsync: stage('flush_fsync'),
      flush_publish: stage('flush_publish'),
    };
    const format = (name: IngestFormat, requestsName: string): FormatCounters => ({
      requests: r.counter(requestsName, `Accepted ${name} write requests`),
      records: r.counter('arc_ingest_records_total', 'Records accepted into buffers', { format: name }),
      bytes: r.counter('arc_ingest_bytes_total', 'Request body bytes accepted, as received', { format: name }),
    });
    this.formats = {
      msgpack: format('msgpack', 'arc_msgpack_requests_total'),
      lineprotocol: format('lineprotocol', 'arc_lineprotocol_requests_total'),
    };
    r.counterFrom('arc_buffer_flushes_total', 'Buffers handed to the flush workers', () => buffers().flushesStarted);
    this.rejectedLines = r.counter('arc_lineprotocol_rejected_lines_total', 'Line protocol lines rejected (their requests answered 400, valid lines written)');
    this.msgpackDecode = {
      decoded: r.counter('arc_msgpack_decoded_total', 'MessagePack write bodies decoded'),
      errors: r.counter('arc_msgpack_decode_errors_total', 'MessagePack write bodies that did not decode (400)'),
    };
    this.lineProtocol = {
      requests: r.counter('arc_lineprotocol_received_requests_total', 'Line protocol write requests received, failed ones included'),
      records: r.counter('arc_lineprotocol_parsed_records_total', 'Line protocol records parsed, also of requests that failed later'),
      bytes: r.counter('arc_lineprotocol_received_bytes_total', 'Line protocol request bodies received, as sent'),
      compressedBytes: r.counter('arc_lineprotocol_received_compressed_bytes_total', 'Line protocol request bodies received gzip- or zstd-compressed, as sent'),
      errors: r.counter('arc_lineprotocol_failed_requests_total', 'Line protocol write requests answered with an error'),
    };
    this.walErrors = r.counter('arc_wal_write_errors_total', 'Writes refused because the write-ahead log could not take them');
    this.queries = r.counter('arc_query_requests_total', 'Queries run (SQL, Arrow, measurement endpoints)');
    this.filesWritten = r.counter('arc_storage_files_written_total', 'Parquet files published');
    this.rowsWritten = r.counter('arc_storage_rows_written_total', 'Rows in published Parquet files');
    this.bytesWritten = r.counter('arc_storage_bytes_written_total', 'Bytes of published Parquet files');

    const gauge = (name: string, help: string, read: (s: BufferStats) => number) => r.gauge(name, help, () => read(buffers()));
    gauge('arc_buffer_rows', 'Rows buffered in memory', (s) => s.bufferedRows);
    gauge('arc_buffer_bytes', 'Bytes buffered in memory', (s) => s.bufferedBytes);
    gauge('arc_buffer_measurements', 'Measurements with buffered rows', (s) => s.buffers);
    gauge('arc_flush_inflight', 'Flushes handed to workers and not yet durable', (s) => s.inflightFlushes);
    gauge('arc_flush_inflight_bytes', 'Bytes of flushes not yet durable', (s) => s.inflightBytes);
    gauge('arc_buffer_pool_bytes', 'Free buffer memory kept for reuse', (s) => s.pooledBytes);
    r.counterFrom('arc_buffer_flush_errors_total', 'Failed flush attempts (each is retried)', () => buffers().flushErrors);
    if (wal) {
      r.gauge('arc_wal_segments', 'Write-ahead log segments on disk', () => wal().segments);
      r.gauge('arc_wal_pending_rows', 'Logged rows not yet in published Parquet files', () => wal().pendingRows);
      r.gauge('arc_wal_backlog_bytes', 'Bytes accepted for the write-ahead log and not yet written', () => wal().backlogBytes);
    }

    const loopDelay = r.histogram('arc_event_loop_delay_seconds', `Event-loop delay: how late a ${PROBE_MS} ms timer fired, i.e. how long a ready request waited for the main thread (one observation per ${PROBE_MS} ms)`);
    loopDelay.fineSnapshot = true;
    this.eventLoop = new EventLoopMonitor(loopDelay);
    this.eventLoop.start();
    r.gauge('arc_event_loop_delay_p99_seconds', 'Event-loop delay over the last minute, p99', () => this.eventLoop.recentP99Ms() / 1000);
    r.gauge('arc_event_loop_delay_max_seconds', 'Event-loop delay over the last minute, max (the longest block)', () => this.eventLoop.recentMaxMs() / 1000);
    r.counterFrom('arc_event_loop_stall_seconds_total', `Time during which a request arriving would have waited more than ${STALL_MS} ms for the event loop (its share of a window is the share of requests above ${STALL_MS} ms)`, () => this.eventLoop.stallSeconds);
    this.unhandledErrors = r.counter('arc_unhandled_errors_total', 'Promise rejections no code handled (logged; the server kept serving)');
    const started = performance.now();
    r.gauge('arc_uptime_seconds', 'Seconds since start', () => (performance.now() - started) / 1000);
    r.gauge('arc_process_resident_memory_bytes', 'Resident set size', () => process.memoryUsage.rss());
    r.gauge('arc_process_heap_used_bytes', 'V8 heap in use (main thread)', () => process.memoryUsage().heapUsed);
    r.counterFrom('arc_process_cpu_seconds_total', 'CPU time of the whole process, all threads', () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    });
  }

  unhandledError(): void {
    this.unhandledErrors.value++;
  }

  /** A flush whose files are durable. */
  flushed(report: FlushReport): void {
    if (this.timings) {
      this.stage.flush_sort.observeMs(report.timings.sortMs);
      this.stage.flush_encode.observeMs(report.timings.encodeMs);
      this.stage.flush_fsync.observeMs(report.timings.fsyncMs);
      this.stage.flush_publish.observeMs(report.timings.publishMs);
    }
    for (const file of report.files) {
      this.filesWritten.value++;
      this.rowsWritten.value += file.rows;
      this.bytesWritten.value += file.bytes;
    }
  }

  /** A refused request, by error code (the reason). */
  rejectedRequest(code: string): void {
    let counter = this.rejected.get(code);
    if (!counter) {
      counter = this.registry.counter('arc_ingest_rejected_requests_total', 'Requests answered with an error, by error code', { reason: code });
      this.rejected.set(code, counter);
    }
    counter.value++;
  }

  /** Handler time of a request to a known route. */
  httpLatency(route: string): Histogram {
    let histogram = this.latencyByRoute.get(route);
    if (!histogram) {
      histogram = this.registry.histogram('arc_http_latency_seconds', 'Request handling time by route', { route });
      this.latencyByRoute.set(route, histogram);
    }
    return histogram;
  }

  /** Starts the event-loop delay over, so it describes serving rather than start-up (module loading). */
  serving(): void {
    this.eventLoop.reset();
  }

  close(): void {
    this.eventLoop.close();
  }
}

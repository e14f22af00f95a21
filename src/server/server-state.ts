import type { AuthService } from '../auth/auth-service.js';
import type { BufferManager } from '../buffer/buffer-manager.js';
import type { CompactionManager } from '../compaction/compaction-manager.js';
import type { ArcConfig } from '../config/config.js';
import type { DecodePool } from '../ingest/decode-pool.js';
import type { DecodeContext } from '../ingest/msgpack-decode.js';
import type { CqScheduler } from '../lifecycle/cq-scheduler.js';
import type { ContinuousQueryService } from '../lifecycle/cq-service.js';
import type { RowRewriter } from '../lifecycle/row-rewrite.js';
import type { RetentionService } from '../lifecycle/retention.js';
import type { Logger } from '../log.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { QueryService } from '../query/query-service.js';
import type { FileCatalog } from '../storage/catalog.js';
import type { WriteAheadLog } from '../wal/write-ahead-log.js';
import type { LoopTurns } from './loop-turns.js';
import type { Profiler } from './profiler.js';

// The state route handlers share, in its own module so routes.ts (which lists every route module)
// and the route modules (which use the state) do not import each other.

/**
 * What a built-in scheduler reports for `GET /api/v1/schedulers`: Arc's block for it, e.g.
 * `{"running": true, "schedule": "0 3 * * *", "next_run": "…"}` for retention or
 * `{"running": true, "job_count": 1, "jobs": [{"cq_id", "cq_name", "interval"}]}` for continuous
 * queries, or `{"enabled": false, "reason": "…"}` when it is switched off by configuration.
 */
export interface SchedulerStatusProvider {
  schedulerStatus(): Record<string, unknown>;
}

/** The schedulers the server runs; a null entry is a scheduler this build does not have (yet). */
export interface SchedulerRegistry {
  cq: SchedulerStatusProvider | null;
  retention: SchedulerStatusProvider | null;
}

/** What route handlers may use; the server owns and wires it. */
export interface ServerState {
  readonly config: ArcConfig;
  readonly buffers: BufferManager;
  readonly decodeContext: DecodeContext;
  /** Worker threads for large or compressed write bodies. */
  readonly decodePool: DecodePool;
  /** Caps the write work of one event-loop turn while clients are connecting (server.turn_budget_ms). */
  readonly turns: LoopTurns;
  readonly metrics: ServerMetrics;
  readonly profiler: Profiler;
  readonly queries: QueryService;
  /** The visible Parquet files: what queries read and compaction rewrites. */
  readonly catalog: FileCatalog;
  /** Null when compaction.enabled is false (its routes are then absent, as in Arc). */
  readonly compaction: CompactionManager | null;
  /** Null when auth.enabled is false: every route is open. */
  readonly auth: AuthService | null;
  /** Null when wal.enabled is false: writes go straight to the buffers. */
  readonly wal: WriteAheadLog | null;
  /** storage.local_path, resolved. */
  readonly root: string;
  readonly log: Logger;
  /** arc-ts version (recorded in backups). */
  readonly version: string;
  /** performance.now() at start-up. */
  readonly startedAt: number;
  /** Null when continuous_query.enabled is false (its routes are then absent, as in Arc). */
  readonly continuousQueries: { service: ContinuousQueryService; scheduler: CqScheduler } | null;
  /** Row deletes and retention rewrites (one at a time). */
  readonly rewriter: RowRewriter;
  /** Null when retention.enabled is false (its routes are then absent, as in Arc). */
  readonly retention: RetentionService | null;
  /** Built-in schedulers report here for GET /api/v1/schedulers; set an entry when one is started. */
  readonly schedulers: SchedulerRegistry;
  ready: boolean;
}

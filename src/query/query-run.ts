import type { QueryEngine, QuerySession } from '../duckdb/query-engine.js';
import { ArcError } from '../errors.js';

export function queryCancelled(): ArcError {
  return new ArcError('ARC_ERR_QUERY_CANCELLED', 'Query cancelled: the client closed the connection');
}

/**
 * One query on its session, from the moment it holds the session: the time limit and the
 * client's abort stop it. Every DuckDB call of the query goes through `bounded`, which answers
 * the stop at once (the 504 does not wait for DuckDB) while DuckDB is told to interrupt. A scalar
 * function such as levenshtein does not look at the interrupt flag until it returns, so DuckDB
 * may go on for a while: the session goes back to the pool (and the query's files are unpinned)
 * only when every call has actually returned, never to another query while it is still busy.
 */
export class QueryRun {
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly stopped: Promise<never>;
  private rejectStop: (err: ArcError) => void = () => undefined;
  private reason: ArcError | null = null;
  private readonly timer: NodeJS.Timeout;
  private finished: Promise<void> | null = null;
  private readonly onAbort = () => this.stop(queryCancelled());

  constructor(
    private readonly engine: QueryEngine,
    readonly session: QuerySession,
    timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.stopped = new Promise<never>((_, reject) => (this.rejectStop = reject));
    this.stopped.catch(() => undefined); // observed by whichever call is running, if any
    this.timer = setTimeout(() => this.stop(new ArcError('ARC_ERR_QUERY_TIMEOUT', 'Query timed out')), timeoutMs);
    if (signal?.aborted) this.stop(queryCancelled());
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Why the query was stopped (time-out or cancel), or null while it may run. */
  get stopReason(): ArcError | null {
    return this.reason;
  }

  private stop(reason: ArcError): void {
    if (this.reason !== null || this.finished !== null) return;
    this.reason = reason;
    clearTimeout(this.timer);
    this.session.interrupt();
    this.rejectStop(reason);
  }

  /** Starts one DuckDB call of the query, unless it was stopped; rejects with the stop reason as soon as it is stopped. */
  async bounded<T>(start: () => Promise<T>): Promise<T> {
    if (this.reason !== null) throw this.reason;
    if (this.finished !== null) throw new Error('query run used after it finished');
    const work = start();
    this.inflight.add(work);
    const forget = () => this.inflight.delete(work);
    work.then(forget, forget);
    return Promise.race([work, this.stopped]);
  }

  /**
   * Ends the run: `cleanup` (unpinning files) and the session's return to the pool wait for DuckDB
   * to return from every call, interrupted first when a call is still running (its result is no
   * longer wanted). Resolves once the session is back, except for a stopped query, whose answer
   * must not wait for DuckDB: then it resolves at once and the release follows by itself.
   */
  finish(cleanup: () => void): Promise<void> {
    if (this.finished === null) {
      clearTimeout(this.timer);
      this.signal?.removeEventListener('abort', this.onAbort);
      if (this.inflight.size > 0) this.session.interrupt();
      this.finished = Promise.allSettled([...this.inflight]).then(async () => {
        cleanup();
        await this.engine.release(this.session);
      });
    }
    if (this.reason === null) return this.finished;
    this.finished.catch(() => undefined); // release failures are the session's own (cleanup swallows them)
    return Promise.resolve();
  }
}

import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { OpenLoopSchedule, type ScheduleStats } from './open-loop.js';
import type { Payload } from './payloads.js';

export interface LoadOptions {
  url: string;
  path: string;
  payloads: readonly Payload[];
  /** Concurrent connections (and, in closed loop, requests in flight). */
  workers: number;
  durationSec: number;
  /** Records per second for an open-loop run; undefined = closed loop, as fast as answers come. */
  rate?: number | undefined;
  headers: Record<string, string>;
  /** Opens every connection (one GET /health each) before the clock starts. */
  connectFirst?: boolean;
  onSecond?: (progress: Progress) => void;
}

export interface Progress {
  elapsedSec: number;
  recordsLastSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Open loop: sends so far that left late (see OpenLoopSchedule). */
  lateSends: number | null;
}

export interface LoadResult {
  elapsedSec: number;
  records: number;
  requests: number;
  /** Records acknowledged with 2xx, by measurement. */
  ackedByMeasurement: Record<string, number>;
  /** Non-2xx answers by status, and "network" for failed requests. */
  errors: Record<string, number>;
  /** First error bodies, to tell what went wrong. */
  errorSamples: string[];
  histogram: hdr.Histogram;
  /** Open loop only: what the schedule asked for and how far behind it the sends left. */
  schedule: ScheduleStats | null;
}

/**
 * Drives the server over keep-alive connections (undici Pool). Closed loop: each worker sends its
 * next request when the previous one is answered. Open loop (`rate`): requests leave on a fixed
 * schedule whatever the answers do, and latency counts from the scheduled time, so a server that
 * falls behind shows its queueing instead of hiding it.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.workers, pipelining: 1, keepAliveTimeout: 60_000 });
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const result: LoadResult = { elapsedSec: 0, records: 0, requests: 0, ackedByMeasurement: {}, errors: {}, errorSamples: [], histogram, schedule: null };
  let next = 0;
  let sequence = 0;
  const patching = new Set<Payload>();
  let errorCount = 0;
  let recordsThisSecond = 0;

  const send = async (payload: Payload, startedAt: number): Promise<void> => {
    let status: string;
    let body = payload.body;
    let owned = false;
    if (payload.refresh) {
      // A body still being sent must not change under undici: patch a copy then (rare: payloads
      // outnumber the requests in flight unless the server falls far behind an open loop).
      if (patching.has(payload)) body = Buffer.from(body);
      else patching.add(payload), (owned = true);
      payload.refresh(sequence++, body);
    }
    try {
      const response = await pool.request({ path: options.path, method: 'POST', body, headers: options.headers });
      const text = response.statusCode >= 300 ? await response.body.text() : (await response.body.dump(), '');
      status = String(response.statusCode);
      if (response.statusCode < 300) {
        result.records += payload.records;
        recordsThisSecond += payload.records;
        for (const [measurement, count] of Object.entries(payload.perMeasurement)) {
          result.ackedByMeasurement[measurement] = (result.ackedByMeasurement[measurement] ?? 0) + count;
        }
      } else if (result.errorSamples.length < 5) {
        result.errorSamples.push(`${status}: ${text.slice(0, 300)}`);
      }
    } catch (err) {
      status = 'network';
      if (result.errorSamples.length < 5) result.errorSamples.push(`network: ${(err as Error).message}`);
    }
    if (owned) patching.delete(payload);
    histogram.recordValue(Math.max(1, Math.round((performance.now() - startedAt) * 1000)));
    result.requests++;
    if (status[0] !== '2') {
      result.errors[status] = (result.errors[status] ?? 0) + 1;
      errorCount++;
    }
  };

  if (options.connectFirst) {
    // Concurrent, so the pool opens all of its connections.
    await Promise.all(Array.from({ length: options.workers }, () => pool.request({ path: '/health', method: 'GET' }).then((response) => response.body.dump())));
  }
  const started = performance.now();
  const end = started + options.durationSec * 1000;
  const schedule = options.rate === undefined ? null : new OpenLoopSchedule(started, end, (options.payloads[0]!.records / options.rate) * 1000);
  result.schedule = schedule?.stats ?? null;
  const ticker = setInterval(() => {
    options.onSecond?.({
      elapsedSec: (performance.now() - started) / 1000,
      recordsLastSecond: recordsThisSecond,
      p50Ms: histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.getValueAtPercentile(99) / 1000,
      errors: errorCount,
      lateSends: schedule?.stats.late ?? null,
    });
    recordsThisSecond = 0;
  }, 1000);

  try {
    if (schedule === null) {
      await Promise.all(
        Array.from({ length: options.workers }, async () => {
          while (performance.now() < end) {
            const payload = options.payloads[next++ % options.payloads.length]!;
            await send(payload, performance.now());
          }
        }),
      );
    } else {
      await openLoop(schedule, (scheduledAt) => send(options.payloads[next++ % options.payloads.length]!, scheduledAt));
    }
  } finally {
    clearInterval(ticker);
    result.elapsedSec = (performance.now() - started) / 1000;
    await pool.close();
  }
  return result;
}

/**
 * Runs the schedule: sends leave when due (a request is handed to undici, which queues it if all
 * connections are busy; that wait is the server's and is counted too, since latency starts at the
 * scheduled time). Between sends the loop sleeps until the next one is due, at most 5 ms, so a
 * late timer costs a burst of catch-up sends, never a missing one.
 */
async function openLoop(schedule: OpenLoopSchedule, send: (scheduledAt: number) => Promise<void>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  const start = (scheduledAt: number) => {
    const request = send(scheduledAt);
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
  };
  while (!schedule.done) {
    schedule.due(performance.now(), start);
    if (schedule.done) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(schedule.waitMs(performance.now()), 5)));
  }
  await Promise.all(inFlight);
}

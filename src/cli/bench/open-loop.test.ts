import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { EventLoopMonitor, PROBE_MS } from '../../metrics/event-loop.js';
import { Histogram } from '../../metrics/registry.js';
import { runLoad } from './load-runner.js';
import { LATE_MS, OpenLoopSchedule } from './open-loop.js';
import { makePayload, Random } from './payloads.js';
import { loopDelayBetween } from './process-stats.js';

test('open-loop schedule: every send is handed out at its scheduled time; sends behind schedule are counted late', () => {
  const schedule = new OpenLoopSchedule(1000, 1100, 10);
  const sent: Array<[number, number]> = [];
  const at = (now: number) => schedule.due(now, (scheduledAt) => sent.push([scheduledAt, now]));
  at(1000);
  assert.deepEqual(sent, [[1000, 1000]]);
  assert.equal(schedule.waitMs(1004), 6);
  at(1009.9); // not due yet
  assert.equal(sent.length, 1);
  at(1011); // 1 ms behind: within the timer's granularity, not late
  assert.equal(schedule.stats.late, 0);
  // The generator stalls for 25 ms: the three sends due meanwhile go out at once, with their own times.
  at(1045);
  assert.deepEqual(sent.slice(2), [[1020, 1045], [1030, 1045], [1040, 1045]]);
  assert.deepEqual(schedule.stats, { scheduled: 5, late: 3, maxLagMs: 25 });
  assert.equal(schedule.waitMs(1045), 5);
  at(5000); // long past the end: the rest is sent (late), nothing after the end
  assert.deepEqual(sent.map(([s]) => s), [1000, 1010, 1020, 1030, 1040, 1050, 1060, 1070, 1080, 1090]);
  assert.ok(schedule.done);
  assert.equal(schedule.stats.scheduled, 10);
  assert.equal(schedule.stats.late, 3 + 5);
  assert.equal(schedule.stats.maxLagMs, 5000 - 1050);
  assert.ok(LATE_MS < 25);
  assert.throws(() => new OpenLoopSchedule(0, 10, 0), /interval/);
});

test('open-loop schedule: times come from the start, so millions of sends do not drift', () => {
  const schedule = new OpenLoopSchedule(0, 400_000, 0.4);
  let last = 0;
  schedule.due(400_000, (scheduledAt) => (last = scheduledAt));
  assert.equal(schedule.stats.scheduled, 1_000_000);
  assert.equal(last, 999_999 * 0.4);
});

test('arc bench --rate against a server that cannot keep up: every request is sent, latency grows from the schedule', async () => {
  // A stand-in server that takes 20 ms per request; over one connection (pipelining 1) it answers at
  // most 50 requests a second, and the run offers 100 a second for 0.5 s.
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(204).end(), 20));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const payloads = [makePayload('columnar', 'none', 10, new Random(1))];
    const load = await runLoad({ url, path: '/w', payloads, workers: 1, durationSec: 0.5, rate: 1000, headers: {} });
    // Not slowed down to the server's pace: all 50 scheduled requests went out and were answered.
    assert.equal(load.schedule!.scheduled, 50);
    assert.equal(load.requests, 50);
    assert.deepEqual(load.errors, {});
    // 50 answers take at least 1 s, so the last (scheduled at 0.49 s) waited at least 0.51 s after its
    // scheduled time; a generator timing from when the request went out would show about 20 ms.
    assert.ok(load.elapsedSec >= 0.9, `elapsed ${load.elapsedSec}`);
    assert.ok(load.histogram.maxValue / 1000 >= 300, `max latency ${load.histogram.maxValue / 1000} ms`);
    assert.ok(load.histogram.getValueAtPercentile(50) / 1000 >= 100, 'the median request queued too');
  } finally {
    server.close();
  }
});

test('event-loop monitor: delay per probe, stall time, last-minute max and p99, and a run diffed from two snapshots', () => {
  const total = new Histogram();
  total.fineSnapshot = true;
  const monitor = new EventLoopMonitor(total);
  monitor.reset();
  const start = performance.now();
  monitor.tick(start + PROBE_MS); // on time
  monitor.tick(start + 2 * PROBE_MS + 3); // 3 ms late
  const before = total.fineBuckets().map(([bound, count]) => [Number.isFinite(bound) ? bound : null, count] as [number | null, number]);
  monitor.tick(start + 3 * PROBE_MS + 3 + 120); // blocked 120 ms
  assert.equal(total.count, 3);
  assert.ok(Math.abs(monitor.recentMaxMs() - 120) < 1e-6, `max ${monitor.recentMaxMs()}`);
  assert.ok(Math.abs(monitor.stallSeconds - 0.07) < 1e-6, `stall ${monitor.stallSeconds}`);
  assert.ok(monitor.recentP99Ms() > 100);
  const run = loopDelayBetween(before, total.fineBuckets());
  assert.equal(run.samples, 1);
  assert.ok(run.max_ms >= 119.9 && run.max_ms < 120 * 1.13, `max ${run.max_ms}`);
  assert.equal(run.p99_ms, run.max_ms);
  assert.deepEqual(loopDelayBetween(before, before), { samples: 0, p99_ms: 0, max_ms: 0 });
});

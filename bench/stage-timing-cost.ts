/**
 * What the always-on stage timings add to one msgpack write request, measured in isolation: the
 * clock reads and histogram updates routes.ts performs per request, repeated many times.
 *   node dist/bench/stage-timing-cost.js
 */
import { ServerMetrics } from '../src/metrics/server-metrics.js';

const metrics = new ServerMetrics(true, () => ({ buffers: 0, bufferedRows: 0, bufferedBytes: 0, inflightFlushes: 0, inflightBytes: 0, pooledBytes: 0, flushesStarted: 0, flushesCompleted: 0, flushErrors: 0 }));
const latency = metrics.httpLatency('/api/v1/write/msgpack');
function instrumentedRequest(): void {
  const dispatchStart = performance.now();
  let t = performance.now();
  let now = performance.now();
  metrics.stage.decode.observeMs(now - t);
  t = now;
  now = performance.now();
  metrics.stage.append.observeMs(now - t);
  metrics.formats.msgpack.requests.value++;
  metrics.formats.msgpack.records.value += 1000;
  metrics.formats.msgpack.bytes.value += 40000;
  latency.observeMs(performance.now() - dispatchStart);
}
const N = 2_000_000;
const runs: number[] = [];
for (let r = 0; r < 6; r++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) instrumentedRequest();
  runs.push(Number(process.hrtime.bigint() - start) / N);
}
runs.shift(); // warm-up
runs.sort((a, b) => a - b);
process.stdout.write(`stage-timing instrumentation per request: median ${runs[2]!.toFixed(0)} ns (runs ${runs.map((x) => x.toFixed(0)).join(' / ')} ns)\n`);
metrics.close();

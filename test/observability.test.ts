import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { XMLValidator } from 'fast-xml-parser';
import { getMetricsFromIterator } from 'prom2javascript';
import { analyze, cpuTree, type CpuProfile } from '../src/cli/profile/analyze.js';
import type { BenchReport } from '../src/cli/bench/report.js';
import { encode, u64 } from './helpers/msgpack.js';
import { get, post, runArc, startServer, tempDir, writeMsgpack, type TestServer } from './helpers/server.js';

/** The profiling workflow as commands: bench, profile, stats, /metrics (issue 3). */
let server: TestServer;

before(async () => {
  server = await startServer();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

const arc = runArc;

test('/metrics is valid Prometheus text with counters and stage histograms of real traffic', async () => {
  const records = 250;
  const body = encode({ m: 'observed', columns: { time: Array.from({ length: records }, (_, i) => u64(1_732_000_000_000_000 + i)), v: Array.from({ length: records }, (_, i) => i) } });
  assert.equal((await writeMsgpack(server, body, 'obs')).status, 204);
  assert.equal((await writeMsgpack(server, Buffer.from([0xc1]), 'obs')).status, 400);
  assert.equal((await post(server, '/api/v1/write/flush')).status, 200);

  const response = await get(server, '/metrics');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  type Sample = { labels: Record<string, string>; value?: number; buckets?: Record<string, number>; count?: number };
  const families = (await getMetricsFromIterator(response.text.split('\n')[Symbol.iterator]())) as Record<string, { type: string; data: Sample[] }>;
  for (const name of Object.keys(families)) assert.match(name, /^arc_/);
  const value = (name: string, labels: Record<string, string> = {}) =>
    Number(families[name]!.data.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))!.value);
  assert.ok(value('arc_ingest_records_total', { format: 'msgpack' }) >= records);
  assert.ok(value('arc_msgpack_requests_total') >= 1);
  assert.ok(value('arc_ingest_rejected_requests_total', { reason: 'ARC_ERR_BAD_MSGPACK' }) >= 1);
  assert.ok(value('arc_storage_rows_written_total') >= records);
  assert.ok(value('arc_storage_files_written_total') >= 1);
  assert.equal(families.arc_buffer_rows!.type, 'gauge');
  const stages = families.arc_stage_duration_seconds!;
  assert.equal(stages.type, 'histogram');
  for (const stage of ['decode', 'append', 'flush_sort', 'flush_encode', 'flush_fsync', 'flush_publish']) {
    const histogram = stages.data.find((m) => m.labels.stage === stage)!;
    assert.ok(Number(histogram.count) >= 1, `${stage} observed`);
    const buckets = Object.entries(histogram.buckets!).map(([le, count]) => [le === '+Inf' ? Infinity : Number(le), Number(count)] as const);
    buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]![1] >= buckets[i - 1]![1], 'cumulative buckets');
    assert.equal(buckets.at(-1)![1], Number(histogram.count));
  }
  // Event-loop delay: a cumulative histogram (the probe fires every 10 ms, so a running server has
  // observations) and the last minute's p99 and max as gauges.
  const loop = families.arc_event_loop_delay_seconds!;
  assert.equal(loop.type, 'histogram');
  assert.ok(Number(loop.data[0]!.count) >= 1, 'event-loop probes observed');
  for (const name of ['arc_event_loop_delay_p99_seconds', 'arc_event_loop_delay_max_seconds']) {
    assert.equal(families[name]!.type, 'gauge', name);
    assert.ok(value(name) >= 0 && value(name) < 60, `${name} = ${value(name)}`);
  }
  assert.ok(value('arc_event_loop_delay_max_seconds') >= value('arc_event_loop_delay_p99_seconds') * 0.88, 'max is not below p99 (p99 is a bucket midpoint)');
  assert.equal(families.arc_event_loop_stall_seconds_total!.type, 'counter');
  const json = await get(server, '/metrics', { accept: 'application/json' });
  assert.ok(Array.isArray(json.json.arc_stage_duration_seconds));
  const fine = (json.json.arc_event_loop_delay_seconds as Array<{ count: number; fine_buckets: Array<[number, number]> }>)[0]!;
  assert.ok(fine.fine_buckets.length >= 1);
  assert.ok(fine.fine_buckets.reduce((sum, [, count]) => sum + count, 0) >= 1);
  for (const [bound, count] of fine.fine_buckets) assert.ok(bound > 0 && count > 0);
  const api = await get(server, '/api/v1/metrics');
  assert.match(String(api.json.timestamp), /Z$/);
});

test('arc bench: counts match storage (--verify), the JSON report has every field, every mode runs', async () => {
  const dir = tempDir('arc-bench-');
  const file = path.join(dir, 'a.json');
  const common = ['bench', '--url', server.url, '--data', server.root, '--duration', '1.5', '--workers', '2', '--pregenerate', '20', '--quiet'];
  const run = await arc([...common, '--verify', '--json', file]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
  for (const key of ['settings', 'machine', 'elapsed_s', 'records', 'requests', 'records_per_sec', 'requests_per_sec', 'latency_ms', 'errors', 'server', 'bench', 'server_event_loop', 'open_loop', 'verify'] as const) {
    assert.ok(report[key] !== undefined, key);
  }
  // The server's event-loop delay over the run: probes every 10 ms for 1.5 s.
  const loop = report.server_event_loop!;
  assert.ok(loop.samples >= 20, `samples ${loop.samples}`);
  assert.ok(loop.p99_ms > 0 && loop.max_ms >= loop.p99_ms, JSON.stringify(loop));
  assert.equal(report.open_loop, null, 'closed loop');
  assert.match(run.stdout, /event loop {4}server's delay p99 [\d.]+ ms {3}max [\d.]+ ms/);
  for (const key of ['p50', 'p95', 'p99', 'p999', 'max', 'mean'] as const) assert.equal(typeof report.latency_ms[key], 'number', key);
  assert.ok(report.records > 0);
  assert.equal(report.records, report.requests * 1000);
  assert.deepEqual(report.errors, {});
  assert.equal(report.server?.pid, server.pid, 'the local server was sampled');
  assert.equal(report.server?.source, '/proc');
  assert.ok(report.server!.cpu_percent > 0 && report.server!.peak_rss_mb > 0);
  assert.ok(report.verify!.ok);
  assert.equal(report.verify!.lost, 0);
  assert.equal(report.verify!.duplicated, 0);
  assert.equal(Object.values(report.verify!.stored).reduce((a, b) => a + b, 0), report.records);
  assert.match(run.stdout, /records\/s/);
  assert.match(run.stdout, /verify {8}OK: lost 0, duplicated 0/);

  for (const extra of [['--mode', 'row', '--batch-size', '200'], ['--compress', 'gzip'], ['--compress', 'zstd']]) {
    const other = await arc([...common, '--duration', '1', '--verify', ...extra]);
    assert.equal(other.code, 0, `${extra.join(' ')}: ${other.stderr}${other.stdout}`);
    assert.match(other.stdout, /verify {8}OK/);
  }
  // Open loop: 20 requests a second for 1 s is 20 scheduled requests, all sent, late or not (with every
  // connection opened before the clock starts; the GET /health of each is not counted).
  const openFile = path.join(dir, 'open.json');
  const open = await arc([...common, '--duration', '1', '--verify', '--rate', '20000', '--connect-first', '--json', openFile]);
  assert.equal(open.code, 0, open.stderr + open.stdout);
  assert.match(open.stdout, /verify {8}OK/);
  const openReport = JSON.parse(fs.readFileSync(openFile, 'utf8')) as BenchReport;
  assert.deepEqual(Object.keys(openReport.open_loop!).sort(), ['late_sends', 'late_threshold_ms', 'max_send_lag_ms', 'offered_records_per_sec', 'scheduled_requests']);
  assert.equal(openReport.open_loop!.offered_records_per_sec, 20000);
  assert.equal(openReport.settings.connect_first, true);
  assert.equal(openReport.open_loop!.scheduled_requests, 20);
  assert.equal(openReport.requests, 20);
  assert.ok(openReport.open_loop!.late_sends >= 0 && openReport.open_loop!.late_sends <= 20);
  assert.match(open.stdout, /open loop {5}20 requests scheduled, \d+ sent late/);
  // Not a local server as far as the bench can tell (no record in --data): figures come from /api/v1/metrics.
  const remoteFile = path.join(dir, 'remote.json');
  const remote = await arc(['bench', '--url', server.url, '--data', tempDir('arc-elsewhere-'), '--duration', '2', '--workers', '1', '--pregenerate', '10', '--quiet', '--json', remoteFile]);
  assert.equal(remote.code, 0, remote.stderr);
  const remoteReport = JSON.parse(fs.readFileSync(remoteFile, 'utf8')) as BenchReport;
  assert.equal(remoteReport.server?.source, '/api/v1/metrics');
  assert.equal(remoteReport.server?.pid, null);
  assert.ok(remoteReport.server!.peak_rss_mb > 0 && remoteReport.server!.cpu_percent > 0);

  const second = path.join(dir, 'b.json');
  assert.equal((await arc([...common, '--duration', '1', '--json', second])).code, 0);
  const compared = await arc(['bench', '--compare', file, second]);
  assert.equal(compared.code, 0);
  assert.match(compared.stdout, /records\/s\s+[\d,.]+\s+[\d,.]+\s+\d+\.\d\d/);
});

test('arc profile: .cpuprofile files, a flamegraph naming the ingest path, a stage table that sums to 100%', async () => {
  const out = tempDir('arc-profile-');
  const load = arc(['bench', '--url', server.url, '--duration', '4', '--workers', '2', '--pregenerate', '20', '--quiet']);
  await new Promise((r) => setTimeout(r, 500));
  const run = await arc(['profile', '2', '--url', server.url, '--out', out]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.equal((await load).code, 0);
  const files = fs.readdirSync(out).sort();
  const main = files.find((f) => /^profile_ingestion_\d+\.cpuprofile$/.test(f))!;
  assert.ok(main, files.join(','));
  assert.ok(files.some((f) => /^profile_ingestion_\d+\.flush-worker-1\.cpuprofile$/.test(f)), 'worker profile');
  const svgFile = files.find((f) => f.endsWith('.svg'))!;
  for (const file of files) assert.ok(run.stdout.includes(path.join(out, file)), `${file} printed`);

  const profile = JSON.parse(fs.readFileSync(path.join(out, main), 'utf8')) as CpuProfile;
  assert.ok(profile.nodes.length > 10 && profile.samples.length > 100);
  const svg = fs.readFileSync(path.join(out, svgFile), 'utf8');
  assert.equal(XMLValidator.validate(svg), true);
  for (const name of ['decodeMsgpackPayload', 'writeMsgpack', 'append']) assert.ok(svg.includes(`>${name}</text>`) || svg.includes(`<title>${name} (`), `${name} in the flamegraph`);
  assert.match(svg, /<title>[^<]*src\/ingest\/msgpack-decode\.ts:\d+/);

  const analysis = analyze([{ name: 'main', profile: cpuTree(profile) }], 'us');
  const sum = analysis.stages.reduce((total, row) => total + row.percent, 0);
  assert.ok(Math.abs(sum - 100) < 1e-6, `stages sum to ${sum}`);
  assert.ok(analysis.stages.find((s) => s.stage === 'decode')!.value > 0);
  const printed = [...run.stdout.matchAll(/^ {2}(\S.{14}) +(\d+\.\d)%/gm)].map((m) => Number(m[2]));
  assert.equal(printed.length, 9, run.stdout);
  assert.ok(Math.abs(printed.reduce((a, b) => a + b, 0) - 100) <= 0.5, 'printed table sums to 100%');
  assert.match(run.stdout, /top 20 functions by self time/);
});

test('arc profile --heap writes .heapprofile files and a flamegraph of allocations', async () => {
  const out = tempDir('arc-heap-');
  const load = arc(['bench', '--url', server.url, '--duration', '2.5', '--workers', '1', '--pregenerate', '10', '--quiet']);
  const run = await arc(['profile', '1', '--heap', '--url', server.url, '--out', out]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  await load;
  const files = fs.readdirSync(out);
  const heap = files.find((f) => /^profile_heap_\d+\.heapprofile$/.test(f))!;
  assert.ok(heap);
  assert.ok('head' in (JSON.parse(fs.readFileSync(path.join(out, heap), 'utf8')) as object));
  assert.equal(XMLValidator.validate(fs.readFileSync(path.join(out, files.find((f) => f.endsWith('.svg'))!), 'utf8')), true);
  assert.match(run.stdout, /where the allocated memory went/);
});

test('one profile at a time; profiling is refused to clients outside loopback while auth is off', async () => {
  const first = post(server, '/api/v1/debug/profile?seconds=1');
  await new Promise((r) => setTimeout(r, 200));
  const second = await post(server, '/api/v1/debug/profile?seconds=1');
  assert.equal(second.status, 409);
  assert.equal(second.json.code, 'ARC_ERR_CONFLICT');
  const answered = await first;
  assert.equal(answered.status, 200);
  assert.deepEqual(answered.json.missing, [], 'every flush worker handed over its profile');
  const names = (answered.json.threads as Array<{ name: string }>).map((thread) => thread.name);
  assert.equal(names[0], 'main');
  assert.ok(names.length >= 2 && names.slice(1).every((name) => /^flush-worker-\d+$/.test(name)), names.join(','));
  const bad = await post(server, '/api/v1/debug/profile?seconds=-1');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'ARC_ERR_BAD_REQUEST');

  const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (address === undefined) return; // no non-loopback interface on this machine
  const open = await startServer({ env: { ARC_SERVER_HOST: '0.0.0.0' } });
  try {
    const remote = await post({ url: `http://${address}:${open.port}` }, '/api/v1/debug/profile?seconds=1');
    assert.equal(remote.status, 403);
    assert.equal(remote.json.code, 'ARC_ERR_FORBIDDEN');
  } finally {
    assert.equal(await open.stop(), 0);
  }
});

test('arc stats prints stage timings and counters', async () => {
  const run = await arc(['stats', '--url', server.url]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^stage +count +p50 ms +p95 ms +p99 ms +total s$/m);
  assert.match(run.stdout, /^decode +[\d,]+ +[\d.]+/m);
  assert.match(run.stdout, /arc_ingest_records_total\{format=msgpack\} +[\d,]+/);
});

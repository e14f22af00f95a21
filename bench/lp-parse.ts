/**
 * Micro-benchmark of the line protocol parser, in process (no server, no HTTP):
 *   node dist/bench/lp-parse.js
 * Parses 1000-line bodies of `cpu,host=serverNNN value=…,cpu_idle=…,cpu_user=… <ns>` (the shape of
 * `arc bench --mode lp`; hosts one of 1000, four measurements in separate bodies, increasing ns
 * timestamps) through one long-lived interner, as the server does. Prints lines/s and MB/s
 * (10^6 bytes) as the median of 5 timed runs after a warm-up, with the spread, the rate per CPU
 * second of the process (GC threads included; steadier on a busy machine) and heap growth.
 * Env: LP_BENCH_RUN_MS (default 2000) per run, LP_BENCH_WARMUP_MS (default 1500).
 */
import { StringInterner } from '../src/columnar/string-interner.js';
import { parseLineProtocol } from '../src/ingest/line-protocol.js';
import { decodeUtf8 } from '../src/ingest/msgpack-reader.js';

const LINES_PER_BODY = 1000;
const BODIES_PER_MEASUREMENT = 8;
const MEASUREMENTS = ['cpu', 'mem', 'disk', 'net'];
const RUNS = 5;
const RUN_MS = Number(process.env.LP_BENCH_RUN_MS ?? 2000);
const WARMUP_MS = Number(process.env.LP_BENCH_WARMUP_MS ?? 1500);

/** xorshift32: the same bodies on every run of the benchmark. */
let state = 0x2545f491;
function random(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 4294967296;
}

function makeBodies(): Buffer[] {
  const bodies: Buffer[] = [];
  let time = 1732431234567890123n;
  for (let b = 0; b < BODIES_PER_MEASUREMENT; b++) {
    for (const measurement of MEASUREMENTS) {
      const lines: string[] = [];
      for (let i = 0; i < LINES_PER_BODY; i++) {
        const host = `server${String(Math.floor(random() * 1000)).padStart(3, '0')}`;
        const [value, idle, user] = [random(), random(), random()].map((x) => (x * 100).toFixed(4));
        time += 1000n;
        lines.push(`${measurement},host=${host} value=${value},cpu_idle=${idle},cpu_user=${user} ${time}`);
      }
      bodies.push(Buffer.from(lines.join('\n') + '\n'));
    }
  }
  return bodies;
}

interface Run {
  linesPerSecond: number;
  bytesPerSecond: number;
  /** Per second of this process's CPU time: steadier than wall time when other work shares the cores. */
  linesPerCpuSecond: number;
}

function run(bodies: Buffer[], interner: StringInterner, ms: number): Run {
  let lines = 0;
  let bytes = 0;
  let index = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let elapsed = 0;
  do {
    for (let k = 0; k < 16; k++) {
      const body = bodies[index]!;
      index = (index + 1) % bodies.length;
      const result = parseLineProtocol(body, { precision: 'ns', nowMicros: 1732431234567890, interner });
      if (result.written !== LINES_PER_BODY) throw new Error(`parsed ${result.written} rows, expected ${LINES_PER_BODY}: ${JSON.stringify(result.rejectedLines[0])}`);
      lines += result.lines;
      bytes += body.length;
    }
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { linesPerSecond: (lines * 1000) / elapsed, bytesPerSecond: (bytes * 1000) / elapsed, linesPerCpuSecond: (lines * 1000) / cpuMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

function main(): void {
  const bodies = makeBodies();
  const interner = new StringInterner(decodeUtf8);
  const meanLine = bodies.reduce((sum, b) => sum + b.length, 0) / (bodies.length * LINES_PER_BODY);
  console.log(`line protocol parse: ${bodies.length} bodies × ${LINES_PER_BODY} lines, ${meanLine.toFixed(1)} bytes/line, node ${process.version}`);
  run(bodies, interner, WARMUP_MS);
  const heapBefore = process.memoryUsage().heapUsed;
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(run(bodies, interner, RUN_MS));
  const heapAfter = process.memoryUsage().heapUsed;
  const lps = runs.map((r) => r.linesPerSecond);
  const mbs = runs.map((r) => r.bytesPerSecond / 1e6);
  const fmt = (x: number) => (x / 1e6).toFixed(2);
  console.log(`runs (M lines/s): ${lps.map(fmt).join(' ')}`);
  console.log(`median: ${fmt(median(lps))}M lines/s, ${median(mbs).toFixed(0)} MB/s (min ${fmt(Math.min(...lps))}M, max ${fmt(Math.max(...lps))}M lines/s)`);
  console.log(`per CPU-second of this process: median ${fmt(median(runs.map((r) => r.linesPerCpuSecond)))}M lines/s`);
  console.log(`heap: ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB change over the timed runs, interner ${interner.size} strings`);
}

main();

/**
 * Hostile inputs of issue #13 against a live server, optionally under `arc bench` load. Per case it
 * prints the answer's status, the time to answer, /health and small-write p99 while the case ran,
 * and the rows lost (probe writes acknowledged during the case but not stored at the end; must be 0).
 *
 *   node dist/bench/hostile.js [--load] [--wal on|off] [--rate 1000000] [--bench-workers 16] [--bomb-mb 990] [--lp-mb 99] [--dir DIR]
 *
 * It starts its own server (WAL on unless --wal off, auth off; ARC_* variables of the caller are passed on) in DIR. Without --load it runs the cases on an idle
 * server (a smoke run); the figures for docs/ come from a run with --load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zstd from 'zstd-napi';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';

const ARC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/arc.js');
const { values } = parseArgs({
  options: {
    load: { type: 'boolean', default: false },
    'bench-workers': { type: 'string', default: '16' },
    // Open-loop load leaves headroom: a closed loop saturates both cores, so every probe would wait in the
    // same queue as the bench and the figures would show the load, not the hostile input. 0 = closed loop.
    rate: { type: 'string', default: '1000000' },
    wal: { type: 'string', default: 'on' },
    'bomb-mb': { type: 'string', default: '990' },
    'lp-mb': { type: 'string', default: '99' },
    dir: { type: 'string' },
  },
});
const dir = path.resolve(values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'arc-hostile-')));
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? os.tmpdir(),
  ARC_SERVER_HOST: '127.0.0.1',
  ARC_SERVER_PORT: '0',
  ARC_LOG_FORMAT: 'json',
  ARC_AUTH_ENABLED: 'false',
  ARC_STORAGE_LOCAL_PATH: path.join(dir, 'data'),
  ARC_WAL_ENABLED: String(values.wal !== 'off'),
  ARC_WAL_DIRECTORY: path.join(dir, 'wal'),
  ARC_QUERY_TIMEOUT: '5',
  // The caller's ARC_* settings win, for experiments (e.g. ARC_WAL_SYNC_MODE=async).
  ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('ARC_') && e[1] !== undefined)),
};

function start(): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC, 'serve'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('arc-ts listening'));
      if (line) {
        const info = JSON.parse(line) as { url: string; port: number };
        resolve({ child, url: info.url, port: info.port });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${out.slice(-4000)}`)));
  });
}

/** A valid columnar MessagePack item of about `mb` MB (one time and one float per row), zstd-compressed. */
function msgpackBomb(mb: number): Buffer {
  const rows = Math.floor((mb * 1e6) / 18);
  const head = Buffer.from([0x82, 0xa1, 0x6d, 0xa4, ...Buffer.from('bomb'), 0xa7, ...Buffer.from('columns'), 0x82, 0xa4, ...Buffer.from('time'), 0xdd]);
  const body = Buffer.alloc(head.length + 4 + rows * 9 + 3 + 4 + rows * 9);
  let at = head.copy(body, 0);
  at = body.writeUInt32BE(rows, at);
  for (let i = 0; i < rows; i++, at += 9) {
    body[at] = 0xcf;
    body.writeBigUInt64BE(1_732_420_800_000_000n, at + 1);
  }
  body[at++] = 0xa1;
  body[at++] = 0x76;
  body[at++] = 0xdd;
  at = body.writeUInt32BE(rows, at);
  for (let i = 0; i < rows; i++, at += 9) {
    body[at] = 0xcb;
    body.writeDoubleBE(1.5, at + 1);
  }
  return zstd.compress(body);
}

function lineProtocolBomb(mb: number): Buffer {
  const line = 'bomb_lp,h=a v=1i 1732420800000000000\n';
  return zstd.compress(Buffer.alloc(Math.floor((mb * 1e6) / line.length) * line.length, line));
}

function probeRow(seq: number): Buffer {
  // {m: "hostile_probe", columns: {time: [u64], seq: [u32]}} by hand
  const parts = [0x82, 0xa1, 0x6d, 0xad, ...Buffer.from('hostile_probe'), 0xa7, ...Buffer.from('columns'), 0x82, 0xa4, ...Buffer.from('time'), 0x91, 0xcf];
  const out = Buffer.alloc(parts.length + 8 + 5 + 5);
  let at = Buffer.from(parts).copy(out, 0);
  at = out.writeBigUInt64BE(1_732_420_800_000_000n + BigInt(seq), at);
  out[at++] = 0xa3;
  at += Buffer.from('seq').copy(out, at);
  out[at++] = 0x91;
  out[at++] = 0xce;
  out.writeUInt32BE(seq, at);
  return out;
}

function p99(samples: number[]): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

/** Sends more than the limit declares, keeps sending until answered; returns status and socket error. */
function oversized(port: number, declared: number): Promise<{ status: number; error: string | null }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let error: string | null = null;
    socket.on('data', (c) => (text += c.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), error }));
    socket.on('connect', async () => {
      socket.write(`POST /api/v1/write/msgpack HTTP/1.1\r\nHost: x\r\nContent-Length: ${declared}\r\n\r\n`);
      const piece = Buffer.alloc(1 << 16, 0x61);
      for (let sent = 0; sent < 32 << 20 && error === null && !socket.destroyed && text === ''; sent += piece.length) {
        if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r).once('close', r));
      }
    });
  });
}

const server = await start();
const post = (p: string, body: Uint8Array | string, headers: Record<string, string> = {}) => fetch(server.url + p, { method: 'POST', body, headers });
const query = (sql: string) => post('/api/v1/query', JSON.stringify({ sql }), { 'content-type': 'application/json' });

let load: ChildProcess | null = null;
if (values.load) {
  const rate = Number(values.rate) > 0 ? ['--rate', values.rate!] : [];
  load = spawn(process.execPath, [ARC, 'bench', '--url', server.url, '--duration', '3600', '--workers', values['bench-workers']!, ...rate, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((r) => setTimeout(r, 3000));
}

process.stdout.write('building bombs...\n');
const bomb = msgpackBomb(Number(values['bomb-mb']));
const lpBomb = lineProtocolBomb(Number(values['lp-mb']));
const declaredArray = Buffer.from([0x81, 0xa1, 0x6d, 0xdd, 0xff, 0xff, 0xff, 0xff, ...Buffer.alloc(16)]);

interface Case {
  name: string;
  run: () => Promise<Array<number | string>>;
}
// A refusal is reported with its error code (e.g. 503 ARC_ERR_DECODE_BUSY), so the table says which limit answered.
const status = async (response: Promise<Response>): Promise<number | string> => {
  const r = await response;
  const text = await r.text();
  if (r.status < 400) return r.status;
  try {
    return `${r.status} ${String((JSON.parse(text) as { code?: unknown }).code ?? '')}`.trim();
  } catch {
    return r.status;
  }
};
const cases: Case[] = [
  // The baseline: what the load alone does to the probes, for comparison with each case below.
  { name: 'none (load only, 5 s)', run: async () => [await new Promise<number>((resolve) => setTimeout(() => resolve(0), 5000))] },
  { name: `msgpack zstd bomb (${bomb.length} B -> ${values['bomb-mb']} MB)`, run: async () => [await status(post('/api/v1/write/msgpack', bomb))] },
  { name: 'three msgpack zstd bombs at once', run: () => Promise.all([0, 1, 2].map(() => status(post('/api/v1/write/msgpack', bomb)))) },
  { name: `line protocol zstd bomb (${lpBomb.length} B -> ${values['lp-mb']} MB)`, run: async () => [await status(post('/api/v1/write/line-protocol', lpBomb))] },
  { name: 'msgpack array header 2^32-1 (24 B)', run: async () => [await status(post('/api/v1/write/msgpack', declaredArray))] },
  {
    name: 'body over max_payload_size, client keeps sending',
    run: async () => {
      const answer = await oversized(server.port, 1024 ** 3 + 1);
      return [answer.error === null ? answer.status : -1];
    },
  },
  { name: 'SELECT range(1000000) AS r FROM range(300)', run: async () => [await status(query('SELECT range(1000000) AS r FROM range(300)'))] },
  {
    name: 'levenshtein time constant',
    run: async () => [await status(query("SELECT count(*) FROM hostile_probe WHERE time > to_timestamp(levenshtein(repeat('a',70000), repeat('b',70000)))"))],
  },
];

let seq = 0;
const acknowledgedByCase: number[][] = [];
const rows: Array<Record<string, unknown>> = [];
for (const [index, hostile] of cases.entries()) {
  const acked: number[] = [];
  const health: number[] = [];
  const writes: number[] = [];
  let running = true;
  const probe = (async () => {
    while (running) {
      let t = performance.now();
      const h = await fetch(server.url + '/health').catch(() => null);
      await h?.arrayBuffer();
      health.push(performance.now() - t);
      t = performance.now();
      const mine = seq++;
      const w = await post('/api/v1/write/msgpack', probeRow(mine)).catch(() => null);
      await w?.arrayBuffer();
      writes.push(performance.now() - t);
      if (w?.status === 204) acked.push(mine);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const started = performance.now();
  let statuses: Array<number | string>;
  try {
    statuses = await hostile.run();
  } catch (err) {
    statuses = [-1];
    process.stdout.write(`  ${hostile.name}: ${(err as Error).message}\n`);
  }
  const ms = performance.now() - started;
  running = false;
  await probe;
  acknowledgedByCase[index] = acked;
  rows.push({ case: hostile.name, status: statuses.join(','), answer_ms: Math.round(ms), health_p99_ms: +p99(health).toFixed(1), write_p99_ms: +p99(writes).toFixed(1), probes: writes.length });
  process.stdout.write(`${JSON.stringify(rows.at(-1))}\n`);
}

load?.kill('SIGTERM');
await post('/api/v1/write/flush', '');
const stored = new Set(((await (await query('SELECT seq FROM hostile_probe')).json()) as { data: number[][] }).data.map((r) => r[0]!));
process.stdout.write('\n| case | status | time to answer (ms) | /health p99 (ms) | small write p99 (ms) | rows lost |\n|---|---|---|---|---|---|\n');
let lostTotal = 0;
for (const [index, row] of rows.entries()) {
  const lost = acknowledgedByCase[index]!.filter((s) => !stored.has(s)).length;
  lostTotal += lost;
  process.stdout.write(`| ${String(row.case)} | ${String(row.status)} | ${String(row.answer_ms)} | ${String(row.health_p99_ms)} | ${String(row.write_p99_ms)} | ${lost} |\n`);
}
server.child.kill('SIGTERM');
await new Promise((r) => server.child.once('exit', r));
if (lostTotal > 0) process.exitCode = 1;

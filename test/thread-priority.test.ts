import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { startServer, writeMsgpack } from './helpers/server.js';
import { encode } from 'msgpackr';

/** Nice value of every thread of `pid`, by thread id (Linux /proc; field 19 of stat, after the command name). */
function threadNices(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

// A compressed body that expands past 1 MB is decoded in the pool, so a decode worker exists when the threads are counted.
const rows = 200_000;
const compressedWrite = zlib.gzipSync(encode({ m: 'niced', columns: { time: Array.from({ length: rows }, (_, i) => 1_732_420_800_000_000 + i), v: new Array(rows).fill(1.5) } }));

test('decode and flush workers run below the event loop: ingest.worker_nice (default 10), 0 leaves every thread at the server\'s priority', { skip: process.platform !== 'linux' }, async () => {
  for (const [env, expected] of [[{}, 10], [{ ARC_INGEST_WORKER_NICE: '0' }, 0]] as const) {
    const server = await startServer({ env: { ...env, ARC_INGEST_FLUSH_WORKERS: '2' } });
    try {
      assert.equal((await writeMsgpack(server, compressedWrite)).status, 204);
      const nices = threadNices(server.pid);
      assert.equal(nices.get(server.pid), 0, 'the main thread keeps its priority');
      const lowered = [...nices.values()].filter((nice) => nice === 10).length;
      // Two flush workers and one decode worker at least; DuckDB's and libuv's threads keep the server's priority.
      if (expected === 10) assert.ok(lowered >= 3, `threads at nice 10: ${lowered} of ${nices.size}`);
      else assert.equal(lowered, 0, `no thread lowered with ingest.worker_nice = 0, found ${lowered}`);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
});

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { encode, f64, u64 } from './helpers/msgpack.js';
import { startServer } from './helpers/server.js';

/**
 * libuv accepts one connection per turn of the event loop, and a turn of a busy server runs a request
 * of every connected client. Without server.turn_budget_ms a client that connects while others are
 * writing waits for many of their requests before its first is read (#17). The measure here is a
 * count, not a time: how many answers the server gave before the last client's first answer.
 */

const CLIENTS = 40;
const REQUESTS = 6;

function body(): Buffer {
  // 20,000 rows: a request takes several times the 1 ms budget (also on a much faster machine), so a
  // capped turn runs one of them.
  const time = Array.from({ length: 20_000 }, (_, i) => u64(1_732_420_800_000_000 + i));
  return encode({ m: 'm', columns: { time, host: time.map((_, i) => `h${i % 50}`), v: time.map((_, i) => f64(i + 0.25)) } });
}

/** Opens CLIENTS connections at once; each writes REQUESTS times back to back. Returns, per client, the answers given before its first. */
async function answersBeforeFirst(port: number, payload: Buffer): Promise<number[]> {
  const request = Buffer.concat([Buffer.from(`POST /api/v1/write/msgpack HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]);
  let answered = 0;
  const before: number[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, () =>
      new Promise<void>((resolve, reject) => {
        let mine = 0;
        let pending = '';
        const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          pending += chunk.toString('latin1');
          let end: number;
          while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
            const head = pending.slice(0, end);
            pending = pending.slice(end + 4);
            if (!head.startsWith('HTTP/1.1 204')) return reject(new Error(`unexpected answer: ${head}`));
            if (mine === 0) before.push(answered);
            answered++;
            if (++mine < REQUESTS) socket.write(request);
            else {
              socket.end();
              resolve();
            }
          }
        });
      }),
    ),
  );
  return before;
}

test('with the turn budget a client connecting to a busy server is answered after a few requests of the others, not after most of them', { timeout: 120_000 }, async () => {
  const payload = body();
  const worst: Record<string, number> = {};
  for (const budget of ['0', '1']) {
    const server = await startServer({ env: { ARC_SERVER_TURN_BUDGET_MS: budget, ARC_INGEST_MAX_BUFFER_AGE_MS: '600000' } });
    try {
      const before = await answersBeforeFirst(server.port, payload);
      assert.equal(before.length, CLIENTS);
      worst[budget] = Math.max(...before);
    } finally {
      await server.stop();
    }
  }
  // Uncapped turns: the last client waits for most of the others' CLIENTS × REQUESTS requests. Capped: one
  // accept and one request per turn, and the last client's first request queues behind one request of each
  // connected client, so about two answers per client come before it.
  console.log(`answers before the last client's first: uncapped ${worst['0']}, budget 1 ms ${worst['1']} (of ${CLIENTS * REQUESTS})`);
  assert.ok(worst['1']! * 2 < worst['0']!, `budget 1 ms: ${worst['1']} answers before the last first answer, uncapped ${worst['0']}`);
  assert.ok(worst['1']! <= CLIENTS * 3, `budget 1 ms: ${worst['1']} answers before the last first answer (${CLIENTS} clients)`);
});

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startServer, type TestServer } from './helpers/server.js';

// Hostile input on the ingest side (#13 items 5, 7, 8b), each case with the input itself.

const LIMIT = 1 << 20; // server.max_payload_size for this file: 1 MB

let server: TestServer;
before(async () => {
  server = await startServer({ env: { ARC_SERVER_MAX_PAYLOAD_SIZE: String(LIMIT) } });
});
after(async () => {
  await server?.stop();
});

interface RawAnswer {
  status: number;
  body: string;
  /** A socket error seen while sending or reading (EPIPE, ECONNRESET), if any. */
  error: string | null;
}

/**
 * Sends a POST declaring `bodyBytes`, writes ALL of them without reading first (a client that keeps
 * sending after the server has refused), then reads what came back.
 */
function postAndKeepSending(port: number, urlPath: string, bodyBytes: number, chunked: boolean): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let error: string | null = null;
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    socket.on('close', () => {
      const text = Buffer.concat(received).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const split = text.indexOf('\r\n\r\n');
      let body = split < 0 ? '' : text.slice(split + 4);
      if (/transfer-encoding: chunked/i.test(text.slice(0, split))) body = body.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '');
      resolve({ status, body, error });
    });
    socket.on('connect', async () => {
      const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bodyBytes}`;
      socket.write(`POST ${urlPath} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/msgpack\r\n${framing}\r\n\r\n`);
      const piece = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      while (sent < bodyBytes && error === null && !socket.destroyed) {
        const size = Math.min(piece.length, bodyBytes - sent);
        const data = chunked ? Buffer.concat([Buffer.from(size.toString(16) + '\r\n'), piece.subarray(0, size), Buffer.from('\r\n')]) : piece.subarray(0, size);
        sent += size;
        if (!socket.write(data)) await new Promise((r) => socket.once('drain', r).once('close', r));
      }
      if (chunked && error === null && !socket.destroyed) socket.write('0\r\n\r\n');
    });
  });
}

for (const chunked of [false, true]) {
  test(`a body over the limit is answered with a readable 413 while the client keeps sending (${chunked ? 'chunked' : 'Content-Length'})`, async () => {
    for (let round = 0; round < 3; round++) {
      const answer = await postAndKeepSending(server.port, '/api/v1/write/msgpack', 8 * LIMIT, chunked);
      assert.equal(answer.error, null, `socket error instead of the answer (round ${round})`);
      assert.equal(answer.status, 413);
      const body = JSON.parse(answer.body) as { code: string; error: string };
      assert.equal(body.code, 'ARC_ERR_PAYLOAD_TOO_LARGE');
    }
    const health = await fetch(server.url + '/health');
    assert.equal(health.status, 200);
  });
}

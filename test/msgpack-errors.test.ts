import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import zstd from 'zstd-napi';
import { encode, raw } from './helpers/msgpack.js';
import { flush, get, listFiles, post, startServer, writeMsgpack, type HttpResult, type TestServer } from './helpers/server.js';

/**
 * Every refusal of POST /api/v1/write/msgpack (arc-spec §5, plus arc-ts's two improvements): the
 * right status, a JSON body that names the problem, and nothing of a refused request on disk.
 */
let server: TestServer;
const LIMIT = 64 * 1024;

before(async () => {
  server = await startServer({ env: { ARC_SERVER_MAX_PAYLOAD_SIZE: '64KB' } });
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

function refused(response: HttpResult, status: number, code: string, error: string | RegExp, details: Record<string, unknown> = {}) {
  assert.equal(response.status, status, response.text);
  assert.equal(response.headers.get('content-type'), 'application/json');
  assert.equal(response.json.code, code);
  if (typeof error === 'string') assert.equal(response.json.error, error);
  else assert.match(String(response.json.error), error);
  for (const [key, value] of Object.entries(details)) assert.deepEqual(response.json[key], value, key);
}

const good = { m: 'ok', columns: { time: [1_700_000_000_000_000], v: [1.5] } };

test('empty body: 400 Empty payload', async () => {
  refused(await writeMsgpack(server, new Uint8Array(0)), 400, 'ARC_ERR_EMPTY_PAYLOAD', 'Empty payload');
});

test('a body over server.max_payload_size: 413, declared or streamed, and the connection is closed', async () => {
  refused(await writeMsgpack(server, Buffer.alloc(LIMIT + 1, 0x90)), 413, 'ARC_ERR_PAYLOAD_TOO_LARGE', 'Request Entity Too Large');
  // Chunked, no Content-Length: refused once the running total passes the limit.
  const chunked = await new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    const request = http.request(`${server.url}/api/v1/write/msgpack`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (response) => {
      let body = '';
      response.on('data', (c: Buffer) => (body += c.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, body, connection: response.headers.connection }));
    });
    request.on('error', reject);
    for (let i = 0; i < 20; i++) request.write(Buffer.alloc(8192, 0x90));
    request.end();
  });
  assert.equal(chunked.status, 413);
  assert.equal(JSON.parse(chunked.body).code, 'ARC_ERR_PAYLOAD_TOO_LARGE');
  assert.equal(chunked.connection, 'close');
});

test('compression bombs stop at the limit; broken compressed bodies are 400', async () => {
  const bomb = Buffer.alloc(10 * LIMIT);
  refused(await writeMsgpack(server, gzipSync(bomb)), 400, 'ARC_ERR_DECOMPRESSED_TOO_LARGE', 'Invalid gzip compression: decompressed payload exceeds 64KB limit');
  refused(await writeMsgpack(server, zstd.compress(bomb)), 400, 'ARC_ERR_DECOMPRESSED_TOO_LARGE', 'Invalid zstd compression: decompressed payload exceeds 64KB limit');
  refused(await writeMsgpack(server, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5])), 400, 'ARC_ERR_BAD_COMPRESSION', /^Invalid gzip compression: /);
  refused(await writeMsgpack(server, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9, 9])), 400, 'ARC_ERR_BAD_COMPRESSION', /^Invalid zstd compression: /);
});

test('undecodable and unsupported payloads: 400 Invalid MessagePack payload', async () => {
  refused(await writeMsgpack(server, Buffer.from([0xff, 0xff, 0xff])), 400, 'ARC_ERR_BAD_MSGPACK', /^Invalid MessagePack payload: failed to unmarshal msgpack: /);
  refused(await writeMsgpack(server, encode('just a string')), 400, 'ARC_ERR_BAD_MSGPACK', 'Invalid MessagePack payload: unsupported msgpack payload type: string');
  refused(await writeMsgpack(server, encode([good, raw([0xc1])])), 400, 'ARC_ERR_BAD_MSGPACK', /invalid type byte 0xc1/);
});

test('database names: x-arc-database must follow the rule', async () => {
  const message = 'invalid database name: must start with a letter and contain only alphanumeric characters, underscores, or hyphens (max 64 characters)';
  for (const name of ['1db', 'bad name', 'a'.repeat(65), 'db.x', '_x']) {
    refused(await writeMsgpack(server, encode(good), name), 400, 'ARC_ERR_INVALID_DATABASE', message, { database: name });
  }
  assert.equal((await writeMsgpack(server, encode(good), 'A-valid_name9')).status, 204);
});

test('measurement names: the rule, with the item index in a batch', async () => {
  refused(await writeMsgpack(server, encode({ m: 'cpu.load', columns: { v: [1] } })), 400, 'ARC_ERR_INVALID_MEASUREMENT',
    'invalid measurement name "cpu.load": must start with a letter and contain only alphanumeric characters, underscores, or hyphens', { measurement: 'cpu.load' });
  refused(await writeMsgpack(server, encode({ batch: [good, { m: '9lives', columns: { v: [1] } }] })), 400, 'ARC_ERR_INVALID_MEASUREMENT',
    /^item 1: invalid measurement name "9lives"/, { item: 1 });
  refused(await writeMsgpack(server, encode({ m: 'm'.repeat(129), columns: { v: [1] } })), 400, 'ARC_ERR_INVALID_MEASUREMENT', /invalid measurement name/);
});

test('invalid items: 400 naming the item and the reason (Arc would skip them and answer 204)', async () => {
  refused(await writeMsgpack(server, encode({ batch: [good, good, { m: 'x' }] })), 400, 'ARC_ERR_INVALID_ITEM',
    "Invalid MessagePack payload: item 2: missing required field 'fields' or 'f'", { item: 2 });
  refused(await writeMsgpack(server, encode([good, 'not a map'])), 400, 'ARC_ERR_INVALID_ITEM', 'Invalid MessagePack payload: item 1: expected a map, got string', { item: 1 });
  refused(await writeMsgpack(server, encode({ m: 'x', columns: { a: [1, 2], b: [1] } })), 400, 'ARC_ERR_INVALID_ITEM',
    "Invalid MessagePack payload: columnar format: array length mismatch (expected 2, got 1 for 'b')", { item: 0, column: 'b' });
  refused(await writeMsgpack(server, encode({ m: 'x', columns: { time: ['yesterday'], v: [1] } })), 400, 'ARC_ERR_INVALID_ITEM',
    'Invalid MessagePack payload: failed to normalize timestamps: invalid timestamp type in columnar format: string');
});

test('a type conflict inside a request: 400 naming the column (Arc would answer 500)', async () => {
  refused(await writeMsgpack(server, encode({ batch: [good, { m: 'x', columns: { temp: [20.5, 'hot'] } }] })), 400, 'ARC_ERR_TYPE_CONFLICT',
    "Invalid MessagePack payload: item 1: type conflict in column 'temp': a string value among float values (row 1)", { item: 1, column: 'temp', row: 1 });
});

test('refused requests wrote nothing; valid ones afterwards still work', async () => {
  await flush(server);
  const databases = listFiles(server.root).map((f) => f.split('/')[0]);
  assert.deepEqual([...new Set(databases)].filter((d) => !d!.startsWith('.') && !d!.startsWith('_')).sort(), ['A-valid_name9'], 'only the one valid write is on disk');
  assert.equal((await writeMsgpack(server, encode(good))).status, 204);
});

test('unknown routes 404, wrong methods 405, preflight 204; security headers everywhere', async () => {
  const missing = await post(server, '/api/v1/nope', 'x');
  refused(missing, 404, 'ARC_ERR_NOT_FOUND', 'Cannot POST /api/v1/nope');
  const wrong = await get(server, '/api/v1/write/msgpack');
  refused(wrong, 405, 'ARC_ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed');
  assert.equal(wrong.headers.get('allow'), 'POST');
  const preflight = await fetch(`${server.url}/api/v1/write/msgpack`, { method: 'OPTIONS' });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-arc-database/);
  for (const response of [missing, wrong, await get(server, '/health')]) {
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
  }
});

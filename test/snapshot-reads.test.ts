import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { post, startServer, type TestServer } from './helpers/server.js';

/**
 * Snapshot reads (issue #13, item 3): a query sees every acknowledged row exactly once while small
 * buffers flush all the time, also without time bounds (the buffer snapshot and the file list are
 * taken in one step from the buffer manager and the file catalog).
 */
let server: TestServer;

before(async () => {
  server = await startServer({ env: { ARC_INGEST_MAX_BUFFER_SIZE: '120', ARC_INGEST_MAX_BUFFER_AGE_MS: '15', ARC_INGEST_FLUSH_WORKERS: '2' } });
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

test('count(*) during steady small-buffer writes never exceeds the acknowledged rows and never misses one', async () => {
  const base = Date.UTC(2026, 0, 5, 10) * 1e6; // ns
  const rowsPerWrite = 50;
  let acknowledged = 0;
  let writing = true;
  const writer = (async () => {
    for (let w = 0; writing; w++) {
      const lines: string[] = [];
      // Spread over three hours, so flushes write several files at once.
      for (let i = 0; i < rowsPerWrite; i++) lines.push(`steady,host=h${i % 7} v=${w * rowsPerWrite + i} ${base + ((w * rowsPerWrite + i) % 3) * 3_600_000_000_000 + w * rowsPerWrite + i}`);
      const response = await post(server, '/write?db=snap', lines.join('\n'));
      assert.equal(response.status, 204, response.text);
      acknowledged += rowsPerWrite;
    }
  })();
  const failures: string[] = [];
  let queries = 0;
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    const floor = acknowledged;
    const response = await post(server, '/api/v1/query', JSON.stringify({ sql: 'SELECT count(*) AS n, count(DISTINCT v) AS d FROM steady' }), {
      'content-type': 'application/json',
      'x-arc-database': 'snap',
    });
    const ceiling = acknowledged;
    assert.equal(response.status, 200, response.text);
    const [n, d] = (response.json.data as number[][])[0]!;
    queries++;
    if (n! > ceiling || n! < floor || n !== d) failures.push(`count ${n}, distinct ${d}, acknowledged ${floor}..${ceiling}`);
  }
  writing = false;
  await writer;
  assert.ok(queries >= 10, `only ${queries} queries ran`);
  assert.ok(acknowledged >= 1000, `only ${acknowledged} rows were written`);
  assert.deepEqual(failures, [], `${failures.length} of ${queries} queries saw rows twice or missed rows`);
});

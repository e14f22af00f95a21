/**
 * What checking a token adds to one write request, measured in isolation: AuthService.check() for a
 * valid cached token (the hot path), for HTTP Basic (decoded each time), and for a bad token (cached
 * as bad), each repeated many times.
 *   node dist/bench/auth-check-cost.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthService } from '../src/auth/auth-service.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-auth-cost-'));
const auth = await AuthService.open({ dbPath: path.join(dir, 'arc.db'), bootstrap: {} });
const token = auth.bootstrapTokens[0]!.token;
const cases: Array<[string, Record<string, string>]> = [
  ['Authorization: Bearer (cached)', { authorization: `Bearer ${token}` }],
  ['HTTP Basic (cached)', { authorization: `Basic ${Buffer.from(`telegraf:${token}`).toString('base64')}` }],
  ['bad token (cached as bad)', { authorization: 'Bearer not-a-token-at-all-but-long-enough-to-look' }],
];
const N = 1_000_000;
for (const [label, headers] of cases) {
  const first = auth.check(headers, '', 'write');
  if (first instanceof Promise) await first; // the one verification that fills the cache
  const runs: number[] = [];
  let verifications = 0;
  for (let r = 0; r < 6; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const outcome = auth.check(headers, '', 'write');
      if (outcome instanceof Promise) {
        verifications++; // a cache entry expired (bad tokens are remembered for 5 s): verified again, as a server would
        await outcome;
      }
    }
    runs.push(Number(process.hrtime.bigint() - start) / N);
  }
  runs.shift(); // warm-up
  runs.sort((a, b) => a - b);
  process.stdout.write(`${label.padEnd(32)} median ${runs[2]!.toFixed(0)} ns per check (runs ${runs.map((x) => x.toFixed(0)).join(' / ')} ns; ${verifications} re-verifications)\n`);
}
await auth.close();
fs.rmSync(dir, { recursive: true, force: true });

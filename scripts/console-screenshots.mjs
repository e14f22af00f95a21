// Takes the PNG screenshots in docs/console/ of each console page: starts a throwaway server
// (auth on, temporary data), writes sample rows, and drives Debian's Chromium with playwright-core.
// Usage: node scripts/console-screenshots.mjs   (after a build: npm test or ./start.sh native)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
const { SERVER_NODE_FLAGS } = await import('../dist/src/cli/node-flags.js');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(repo, 'docs/console');
const token = 'screenshot-admin-token-0123456789abcdef';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arc-shots-'));
fs.mkdirSync(out, { recursive: true });

const server = spawn(process.execPath, [...SERVER_NODE_FLAGS, path.join(repo, 'dist/src/cli/arc.js'), 'serve'], {
  cwd: dataDir,
  env: { PATH: process.env.PATH, HOME: dataDir, ARC_SERVER_HOST: '127.0.0.1', ARC_SERVER_PORT: '0', ARC_STORAGE_LOCAL_PATH: path.join(dataDir, 'data'), ARC_LOG_FORMAT: 'json', ARC_AUTH_BOOTSTRAP_TOKEN: token, ARC_WAL_ENABLED: 'true' },
  stdio: ['ignore', 'pipe', 'ignore'],
});
const url = await new Promise((resolve, reject) => {
  let text = '';
  server.stdout.on('data', (chunk) => {
    text += chunk;
    const line = text.split('\n').find((l) => l.includes('arc-ts listening'));
    if (line) resolve(JSON.parse(line).url);
  });
  server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
});
const auth = { authorization: `Bearer ${token}` };
const write = (body, database = 'telegraf') => fetch(`${url}/api/v1/write/line-protocol`, { method: 'POST', body, headers: { ...auth, 'x-arc-database': database } });

try {
  const start = Date.now() - 3 * 3600_000;
  const lines = [];
  for (let i = 0; i < 3 * 360; i++) {
    for (const [h, base] of [['web-1', 30], ['web-2', 45], ['db-1', 60]]) {
      const usage = base + 15 * Math.sin(i / 40 + base) + 5 * Math.sin(i / 7);
      lines.push(`cpu,host=${h},region=eu usage_user=${usage.toFixed(2)},usage_system=${(usage / 3).toFixed(2)} ${(start + i * 10_000) * 1e6}`);
    }
    lines.push(`mem,host=web-1 used_percent=${(50 + 10 * Math.sin(i / 50)).toFixed(2)},available=${8e9 - i * 1e6}i ${(start + i * 10_000) * 1e6}`);
  }
  await write(lines.join('\n'));
  await write(Array.from({ length: 500 }, (_, i) => `readings,sensor=s${i % 5} temp=${(20 + Math.sin(i / 20) * 4).toFixed(2)} ${(start + i * 60_000) * 1e6}`).join('\n'), 'factory');
  // Rows from 40 days ago, for the retention policy's dry run to count.
  const aged = Date.now() - 40 * 86_400_000;
  await write(Array.from({ length: 1200 }, (_, i) => `readings,sensor=s${i % 5} temp=${(18 + Math.sin(i / 30) * 3).toFixed(2)} ${(aged + i * 60_000) * 1e6}`).join('\n'), 'factory');
  await fetch(`${url}/api/v1/write/flush`, { method: 'POST', headers: auth });
  for (const policy of [
    { name: 'factory-30d', database: 'factory', measurement: 'readings', retention_days: 30, buffer_days: 1 },
    { name: 'telegraf-90d', database: 'telegraf', retention_days: 90 },
  ]) {
    await fetch(`${url}/api/v1/retention`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(policy) });
  }
  // A continuous query, so the Admin page's list has a row.
  await fetch(`${url}/api/v1/continuous_queries`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'readings_1h',
      database: 'factory',
      source_measurement: 'readings',
      destination_measurement: 'readings_1h',
      query: "SELECT time_bucket(INTERVAL '1 hour', time) AS time, sensor, avg(temp) AS temp FROM factory.readings WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2",
      interval: '1h',
      tag_columns: ['sensor'],
      is_active: true,
    }),
  });
  for (const name of ['grafana', 'telegraf-prod']) {
    await fetch(`${url}/api/v1/auth/tokens`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name, permissions: name === 'grafana' ? ['read'] : ['write'] }) });
  }

  const browser = await chromium.launch({ executablePath: process.env.ARC_TEST_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const shot = async (name) => page.screenshot({ path: path.join(out, `${name}.png`) });
  await page.goto(`${url}/`);
  await shot('signin');
  await page.locator('#token').fill(token);
  await page.locator('#signin').click();
  await page.locator('#editor[data-schema="loaded"]').waitFor();
  await page.locator('#database').selectOption('telegraf');
  await page.locator('#editor .cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText("SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(usage_user) AS usage_user\nFROM cpu\nGROUP BY ALL\nORDER BY time");
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+Enter');
  await page.locator('#query-status[data-rows]').waitFor();
  await shot('query');

  await page.locator('a[data-page="explore"]').click();
  await page.locator('#explore-databases li[data-database="telegraf"]').click();
  await page.locator('#explore-measurements tr[data-measurement="cpu"]').click();
  await page.locator('#starter-query').waitFor();
  await shot('explore');

  await page.locator('a[data-page="ingest"]').click();
  let writing = true;
  const writer = (async () => {
    for (let n = 0; writing && n < 3000; n++) {
      const now = Date.now();
      await write(Array.from({ length: 500 }, (_, i) => `live,src=shots v=${i} ${(now * 1000 + i) * 1000}`).join('\n'), 'live');
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  // Fifteen samples of a running writer make the charts readable; it writes until the shot (bounded), so the tiles show live rates.
  await page.waitForFunction(() => document.querySelector('#ingest-status')?.textContent?.includes('15 samples'), undefined, { timeout: 30_000 });
  await shot('ingest');
  writing = false;
  await writer;

  await page.locator('a[data-page="profile"]').click();
  await page.locator('#profile-seconds').fill('2');
  await page.locator('#profile-start').click();
  for (let i = 0; i < 10; i++) await write(Array.from({ length: 5000 }, (_, k) => `prof,src=shots v=${k} ${(Date.now() * 1000 + k) * 1000}`).join('\n'), 'live');
  await page.locator('#profile-status.ok').waitFor({ timeout: 30_000 });
  await shot('profile');

  await page.locator('a[data-page="admin"]').click();
  await page.locator('#admin-tokens table').waitFor();
  await page.locator('#admin-compaction table').waitFor();
  await page.locator('#retention-list tr[data-policy="factory-30d"] button[data-action="dry-run"]').click();
  await page.locator('#retention-result span[data-dry-run="true"]').waitFor();
  await page.mouse.move(0, 0); // no hover outline where the table moved under the pointer
  await page.screenshot({ path: path.join(out, 'admin.png'), fullPage: true });
  await browser.close();
  console.log(`screenshots in ${path.relative(repo, out)}/`);
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
}

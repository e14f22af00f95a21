import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../../src/cli/node-flags.js';

/** The repository root (tests run from dist/test/...). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ARC_BIN = path.join(REPO, 'dist/src/cli/arc.js');

export interface TestServer {
  url: string;
  port: number;
  pid: number;
  /** storage.local_path */
  root: string;
  child: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Servers still running well after a test file ends (a failed assertion skipped their stop) are
 * killed, so one failure is reported as itself instead of as the whole file hanging until its time-out.
 */
const running = new Set<ChildProcess>();
after(() => {
  // Later after-hooks of the test file may still stop their servers cleanly: give them time first.
  setTimeout(() => {
    for (const child of running) child.kill('SIGKILL');
  }, 20_000).unref();
});

export function tempDir(prefix = 'arc-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts the real server (`arc serve`) as a child process on a free loopback port, with JSON logs,
 * and resolves once it logged that it listens. `env` adds ARC_* settings.
 */
export async function startServer(options: { root?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<TestServer> {
  const root = options.root ?? path.join(tempDir(), 'data');
  const cwd = options.cwd ?? tempDir('arc-cwd-');
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    ARC_SERVER_HOST: '127.0.0.1',
    ARC_SERVER_PORT: '0',
    ARC_STORAGE_LOCAL_PATH: root,
    ARC_LOG_FORMAT: 'json',
    ARC_INGEST_FLUSH_WORKERS: '1',
    ARC_AUTH_ENABLED: 'false', // tests of authentication turn it on
    // Start-up speed: the warm-up (~1 s of CPU) only saves a cold server's first seconds; test/warm-up.test.ts covers it.
    ARC_INGEST_WARM_UP_REQUESTS: '0',
    ...options.env,
  };
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC_BIN, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return attach(child, root);
}

/** Waits for the "arc-ts listening" log line of a spawned server. */
export function attach(child: ChildProcess, root: string): Promise<TestServer> {
  let output = '';
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('arc-ts listening')) continue;
        const entry = JSON.parse(line) as { url: string; port: number; pid: number };
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (more: Buffer) => (output += more.toString()));
        resolve({
          url: entry.url,
          port: entry.port,
          pid: entry.pid,
          root,
          child,
          output: () => output,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
        return;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
}

/** Runs `arc serve` expecting it to fail at start-up; returns exit code and output. */
export async function startExpectingFailure(env: Record<string, string>, cwd = tempDir('arc-cwd-')): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ARC_BIN, 'serve'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ARC_SERVER_PORT: '0', ARC_SERVER_HOST: '127.0.0.1', ARC_AUTH_ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export async function post(server: { url: string }, urlPath: string, body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const response = await fetch(server.url + urlPath, { method: 'POST', body, headers });
  return result(response);
}

export async function get(server: { url: string }, urlPath: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return result(await fetch(server.url + urlPath, { headers }));
}

async function result(response: Response): Promise<HttpResult> {
  const text = await response.text();
  let json: Record<string, unknown> = {};
  if (text.length > 0 && (response.headers.get('content-type') ?? '').includes('json')) json = JSON.parse(text) as Record<string, unknown>;
  return { status: response.status, headers: response.headers, text, json };
}

export function writeMsgpack(server: { url: string }, body: Uint8Array, database?: string): Promise<HttpResult> {
  return post(server, '/api/v1/write/msgpack', body, database === undefined ? {} : { 'x-arc-database': database });
}

export async function flush(server: { url: string }): Promise<void> {
  const response = await post(server, '/api/v1/write/flush');
  if (response.status !== 200) throw new Error(`flush failed: ${response.status} ${response.text}`);
}

/** Every file under `dir`, relative, sorted. A file renamed away between listing and stat (a flush's temporary file being published) is left out. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((entry) => fs.statSync(path.join(dir, entry), { throwIfNoEntry: false })?.isFile() === true)
    .map((entry) => entry.split(path.sep).join('/'))
    .sort();
}

/** Runs the `arc` command with a clean environment (no ARC_* from the caller); stdout and stderr apart. */
export function runArc(args: string[], cwd = tempDir('arc-cli-')): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ARC_BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A value of /metrics (Prometheus text): the sample named `name` with exactly `labels`, 0 when absent. */
export async function metric(server: { url: string }, name: string, labels = ''): Promise<number> {
  const text = (await get(server, '/metrics')).text;
  const wanted = labels === '' ? name : `${name}{${labels}}`;
  for (const line of text.split('\n')) {
    const space = line.lastIndexOf(' ');
    if (space > 0 && line.slice(0, space) === wanted) return Number(line.slice(space + 1));
  }
  return 0;
}

/** Polls `check` until it holds; fails naming `what` after `ms` (a generous bound, not a timing assertion). */
export async function until(check: () => Promise<boolean> | boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/config.js';
import { readServerInfo } from '../../server/arc-server.js';
import { analyze, cpuTree, formatAnalysis, heapTree, type CpuProfile, type HeapProfile, type NamedProfile, type TreeNode } from './analyze.js';
import { renderFlamegraph } from './flamegraph.js';

export const PROFILE_HELP = `usage: arc profile [seconds] [--heap] [--url URL] [--data DIR] [--out DIR] [--token TOKEN]

Records a profile of the running server for [seconds] (default 60) without restarting it: the main
thread (HTTP, decoding, buffers) and every flush worker (sorting, Parquet encoding, file I/O). Run a
benchmark meanwhile (arc bench) to see where ingestion spends its time. Writes into --out (default
the current directory) and prints:

  profile_ingestion_<unix>.cpuprofile           main thread (Chrome DevTools, speedscope)
  profile_ingestion_<unix>.<worker>.cpuprofile   each flush worker
  profile_ingestion_<unix>.svg                  flamegraph of all threads (hover bars for details)
  the share of each pipeline stage and the top 20 functions by self time

--heap records a sampling heap profile instead (what allocates memory): .heapprofile files and a
flamegraph of allocated bytes. Needs an admin token (--token or ARC_TOKEN); while authentication is
off, the server must be local (loopback).
`;

interface ProfileResponse {
  kind: 'cpu' | 'heap';
  seconds: number;
  started_at: string;
  pid: number;
  threads: Array<{ name: string; profile: object }>;
  /** Threads that handed over no profile (absent from servers before this field existed). */
  missing?: Array<{ name: string; reason: string }>;
}

export async function profile(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      heap: { type: 'boolean', default: false },
      url: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string', default: '.' },
      token: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(PROFILE_HELP);
    return 0;
  }
  const seconds = positionals.length > 0 ? Number(positionals[0]) : 60;
  if (!(seconds > 0 && seconds <= 600)) throw new Error(`seconds must be a number in (0, 600]; got ${JSON.stringify(positionals[0])}`);
  const kind = values.heap ? 'heap' : 'cpu';
  const url = values.url ?? serverUrl(values.data);

  process.stderr.write(`recording a ${kind} profile of ${url} for ${seconds} s...\n`);
  const response = await fetch(new URL(`/api/v1/debug/profile?seconds=${seconds}&kind=${kind}`, url), {
    method: 'POST',
    headers: authorization(values.token),
    signal: AbortSignal.timeout((seconds + 120) * 1000),
  });
  if (!response.ok) throw new Error(`the server refused: ${response.status} ${await response.text()}`);
  const result = (await response.json()) as ProfileResponse;
  for (const thread of result.missing ?? []) process.stderr.write(`no profile from ${thread.name}: ${thread.reason}\n`);

  const out = path.resolve(values.out!);
  fs.mkdirSync(out, { recursive: true });
  const stamp = Math.floor(Date.parse(result.started_at) / 1000);
  const base = path.join(out, `profile_${kind === 'cpu' ? 'ingestion' : 'heap'}_${stamp}`);
  const extension = kind === 'cpu' ? 'cpuprofile' : 'heapprofile';
  const written: string[] = [];
  const trees: Array<NamedProfile<TreeNode>> = [];
  for (const thread of result.threads) {
    const file = thread.name === 'main' ? `${base}.${extension}` : `${base}.${thread.name}.${extension}`;
    fs.writeFileSync(file, JSON.stringify(thread.profile));
    written.push(file);
    trees.push({ name: thread.name, profile: kind === 'cpu' ? cpuTree(thread.profile as CpuProfile) : heapTree(thread.profile as HeapProfile) });
  }
  const unit = kind === 'cpu' ? 'us' : 'bytes';
  const svg = `${base}.svg`;
  const title = `arc-ts ${kind === 'cpu' ? 'CPU' : 'allocation'} profile, pid ${result.pid}, ${seconds} s from ${result.started_at}`;
  fs.writeFileSync(svg, renderFlamegraph(trees, title, unit));
  written.push(svg);

  process.stdout.write(`${written.join('\n')}\n\n${formatAnalysis(analyze(trees, unit))}\n`);
  return 0;
}

/** `Authorization: Bearer …` from --token or ARC_TOKEN, when given. */
export function authorization(token: string | undefined): Record<string, string> {
  const value = token ?? process.env.ARC_TOKEN;
  return value ? { authorization: `Bearer ${value}` } : {};
}

/** The URL of the server recorded in the data directory (storage.local_path of arc.toml / ARC_*). */
export function serverUrl(dataDir: string | undefined): string {
  const root = path.resolve(dataDir ?? loadConfig({}).config.storage.localPath);
  const info = readServerInfo(root);
  if (info === null) throw new Error(`no running server recorded under ${root}; pass --url or --data`);
  return info.url;
}

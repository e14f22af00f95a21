import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The stages of the data path, top (closest to the client) to bottom. A module may import its own
 * folder and any folder of a LOWER rank; folders of one rank are peers and may import each other
 * (the file-level cycle check still applies to them). Type-only imports count: a type names a
 * dependency just as much as a value does.
 *
 *   cli                        commands: start the server, talk to it
 *   server                     HTTP: routes, bodies, responses
 *   query lifecycle compaction backup import metrics auth
 *                              features the routes call; auth sits here (tokens, no HTTP types)
 *   wal                        write-ahead log: logs bodies, decodes them again at replay (via ingest)
 *   flush                      flush pool and worker: sealed buffers into Parquet files
 *   buffer                     in-memory measurement buffers
 *   ingest                     body decompression and decoding (msgpack, line protocol)
 *   storage duckdb             files, catalog, schemas; DuckDB engine and Parquet encoding (peers)
 *   columnar                   column batches, interning, time
 *   config, errors.ts, log.ts  the base everything may use
 */
const RANKS: ReadonlyArray<readonly string[]> = [
  ['cli'],
  ['server'],
  ['query', 'lifecycle', 'compaction', 'backup', 'import', 'metrics', 'auth'],
  ['wal'],
  ['flush'],
  ['buffer'],
  ['ingest'],
  ['storage', 'duckdb'],
  ['columnar'],
  ['config', '(root)'],
];

const srcRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function rankOf(folder: string): number {
  const rank = RANKS.findIndex((names) => names.includes(folder));
  assert.notEqual(rank, -1, `src/${folder} has no place in the layering; add it to RANKS in src/layering.test.ts`);
  return rank;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    // Tests exercise stages together (e.g. auth routes through the router); only shipped code is layered.
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

/** Relative imports and re-exports of a module, resolved to .ts files under src/. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[1] ?? match[2]!;
    out.push(path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
  }
  return out;
}

function folderOf(file: string): string {
  const relative = path.relative(srcRoot, file).split(path.sep);
  return relative.length === 1 ? '(root)' : relative[0]!;
}

const files = sourceFiles(srcRoot);
const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => fs.existsSync(target))]));
const name = (file: string) => path.relative(srcRoot, file);

test('the layering scan sees the source tree', () => {
  assert.ok(files.length > 50, `only ${files.length} modules found under ${srcRoot}`);
  assert.ok([...graph.values()].some((targets) => targets.length > 0), 'no imports resolved');
});

test('no module imports a stage above its own', () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    for (const target of targets) {
      const to = folderOf(target);
      if (to !== from && rankOf(to) < rankOf(from)) upward.push(`${name(file)} -> ${name(target)}`);
    }
  }
  assert.deepEqual(upward, [], 'upward imports');
});

test('no import cycle between modules', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map(name).join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(cycles, [], 'import cycles');
});

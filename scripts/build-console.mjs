// Builds the web console (console/) into dist/console/: index.html plus content-hashed assets under
// dist/console/assets/. Skips in a few milliseconds when nothing it reads is newer than the last build.
// `--force` rebuilds anyway; `--check` only says whether a build is needed (exit 1 when it is).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(repo, 'console');
const out = path.join(repo, 'dist/console');
const stamp = path.join(out, '.built');
const args = new Set(process.argv.slice(2));

/** Newest modification time of the console sources, the lock file and this script. */
function newestInput() {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  visit(source);
  for (const file of ['package-lock.json', 'scripts/build-console.mjs']) {
    const full = path.join(repo, file);
    if (fs.existsSync(full)) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

const upToDate = fs.existsSync(stamp) && fs.existsSync(path.join(out, 'index.html')) && fs.statSync(stamp).mtimeMs >= newestInput();
if (args.has('--check')) process.exit(upToDate ? 0 : 1);
if (upToDate && !args.has('--force')) process.exit(0);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // A production install (no devDependencies) still runs the server; / then answers ARC_ERR_CONSOLE_NOT_BUILT.
  console.error('arc-ts: esbuild is not installed (devDependencies missing), so the web console is not built');
  process.exit(0);
}

const started = performance.now();
const staging = `${out}.tmp-${process.pid}`;
fs.rmSync(staging, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { console: path.join(source, 'src/main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: path.join(staging, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  // apache-arrow ships optional Node paths; the browser build must not pull node: modules.
  platform: 'browser',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const outputs = Object.keys(result.metafile.outputs).map((file) => path.basename(file));
const script = outputs.find((name) => name.endsWith('.js'));
const style = outputs.find((name) => name.endsWith('.css'));
if (!script) throw new Error('esbuild produced no script');
const template = fs.readFileSync(path.join(source, 'index.html'), 'utf8');
const html = template
  .replace('<!--style-->', style ? `<link rel="stylesheet" href="/ui/assets/${style}">` : '')
  .replace('<!--script-->', `<script type="module" src="/ui/assets/${script}"></script>`);
fs.writeFileSync(path.join(staging, 'index.html'), html);

let gzipped = 0;
let raw = 0;
for (const name of outputs) {
  const bytes = fs.readFileSync(path.join(staging, 'assets', name));
  raw += bytes.length;
  gzipped += zlib.gzipSync(bytes, { level: 9 }).length;
}
fs.writeFileSync(path.join(staging, 'sizes.json'), JSON.stringify({ files: outputs, bytes: raw, gzip_bytes: gzipped }, null, 2) + '\n');

// Swap the whole folder: a running server sees the old build or the new one, never half of each.
const old = `${out}.old-${process.pid}`;
if (fs.existsSync(out)) fs.renameSync(out, old);
fs.renameSync(staging, out);
fs.rmSync(old, { recursive: true, force: true });
fs.writeFileSync(stamp, '');
console.error(`arc-ts: web console built in ${Math.round(performance.now() - started)} ms (${(raw / 1024).toFixed(0)} KB, ${(gzipped / 1024).toFixed(0)} KB gzipped)`);

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { ArcError } from '../errors.js';
import { sendJson } from './respond.js';
import type { RequestContext, Route } from './router.js';
import type { ServerState } from './server-state.js';

/** dist/console of this installation: the compiled server sits in dist/src/server/. */
export const BUILT_CONSOLE_DIRECTORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../console');

/** Pages of the single-page console; each is index.html, the page script picks the view from the path. */
export const CONSOLE_PAGES = ['query', 'explore', 'ingest', 'profile', 'admin'] as const;

/**
 * The console is a client of the public API only: its scripts and styles come from this origin, it
 * talks to this origin, and no inline script runs. The one inline thing is the editor's style sheet
 * (CodeMirror writes its theme into a <style> element), allowed by a nonce fresh for each page load.
 */
export function consoleCsp(styleNonce: string): string {
  return [
  "default-src 'none'",
  "script-src 'self'",
  `style-src 'self' 'nonce-${styleNonce}'`,
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  ].join('; ');
}

/** The placeholder the build leaves in index.html for the page's style nonce. */
const NONCE_PLACEHOLDER = '__ARC_STYLE_NONCE__';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** Asset names the build writes: name-HASH.ext, nothing else (no dots that climb, no separators). */
const ASSET_NAME = /^[A-Za-z0-9_-]+-[A-Za-z0-9]{6,}\.(?:js|css|map|svg|png|woff2)$/;

const SECURITY_HEADERS: Record<string, string> = {
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Permissions-Policy': 'geolocation=(), microphone=(), camera=()',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/**
 * GET / and /ui/<page> answer index.html (never cached, so a new build is picked up at once);
 * GET /ui/assets/<name-hash.ext> answers a built file, cached for a year since its name changes
 * with its content. Only names listed in the build directory are served.
 */
export function consoleRoutes(state: ServerState): Route[] {
  const directory = state.config.server.consoleDirectory === '' ? BUILT_CONSOLE_DIRECTORY : path.resolve(state.config.server.consoleDirectory);
  const index = (context: RequestContext) => sendIndex(directory, context);
  const page = (context: RequestContext) => {
    if (!(CONSOLE_PAGES as readonly string[]).includes(context.params.page ?? '')) {
      throw new ArcError('ARC_ERR_NOT_FOUND', `No console page ${JSON.stringify(context.params.page)}; pages: ${CONSOLE_PAGES.join(', ')}`);
    }
    sendIndex(directory, context);
  };
  return [
    { method: 'GET', path: '/', envelope: 'plain', permission: 'public', handler: index },
    { method: 'GET', path: '/ui', envelope: 'plain', permission: 'public', handler: index },
    { method: 'GET', path: '/ui/:page', envelope: 'plain', permission: 'public', handler: page },
    { method: 'GET', path: '/ui/assets/:file', envelope: 'plain', permission: 'public', handler: (context) => sendAsset(directory, context) },
    { method: 'GET', path: '/api/v1/console/info', envelope: 'plain', permission: 'public', handler: ({ res }) => sendJson(res, 200, consoleInfo(state)) },
  ];
}

/**
 * What the console must know before it has a token: whether to ask for one, and which optional
 * features (and so which admin panels) this server runs. Public, like /health: it says nothing a
 * 401 from any route would not.
 */
function consoleInfo(state: ServerState): Record<string, unknown> {
  return {
    version: state.version,
    auth_enabled: state.auth !== null,
    compaction_enabled: state.compaction !== null,
    continuous_queries_enabled: state.continuousQueries !== null,
    retention_enabled: state.retention !== null,
    wal_enabled: state.wal !== null,
  };
}

function sendIndex(directory: string, { req, res }: RequestContext): void {
  let template: string;
  try {
    template = fs.readFileSync(path.join(directory, 'index.html'), 'utf8');
  } catch {
    notBuilt(directory, req.headers.accept ?? '', res);
    return;
  }
  const nonce = randomBytes(16).toString('base64');
  const html = Buffer.from(template.replaceAll(NONCE_PLACEHOLDER, nonce));
  send(res, html, 'text/html; charset=utf-8', 'no-cache', req.method === 'HEAD', consoleCsp(nonce));
}

function sendAsset(directory: string, { req, res, params }: RequestContext): void {
  const name = params.file ?? '';
  const assets = path.join(directory, 'assets');
  // The name pattern has no separator or "..", and the file must be an entry of the assets folder itself.
  if (!ASSET_NAME.test(name) || !listAssets(assets).has(name)) {
    throw new ArcError('ARC_ERR_NOT_FOUND', `No console asset ${JSON.stringify(name)}`);
  }
  const body = fs.readFileSync(path.join(assets, name));
  send(res, body, CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream', 'public, max-age=31536000, immutable', req.method === 'HEAD', "default-src 'none'");
}

function listAssets(assets: string): Set<string> {
  try {
    return new Set(fs.readdirSync(assets));
  } catch {
    return new Set();
  }
}

function send(res: ServerResponse, body: Buffer, contentType: string, cacheControl: string, headOnly: boolean, csp: string): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Security-Policy': csp, 'Content-Type': contentType, 'Content-Length': String(body.length), 'Cache-Control': cacheControl });
  res.end(headOnly ? undefined : body);
}

/** No build: a browser gets a page that says how to build it, a script the JSON error. */
function notBuilt(directory: string, accept: string, res: ServerResponse): void {
  const error = new ArcError('ARC_ERR_CONSOLE_NOT_BUILT', `The web console is not built (no index.html in ${directory}); run: node scripts/build-console.mjs`);
  if (!accept.includes('text/html')) {
    sendJson(res, error.status, { error: error.message, code: error.code });
    return;
  }
  const text = escapeHtml(error.message);
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>arc-ts console not built</title></head><body><h1>arc-ts: console not built</h1><p>${text}</p><p><code>${error.code}</code></p></body></html>`;
  res.writeHead(error.status, { ...SECURITY_HEADERS, 'Content-Security-Policy': "default-src 'none'", 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(Buffer.byteLength(html)), 'Cache-Control': 'no-cache' });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

import type { ServerResponse } from 'node:http';
import { ArcError } from '../errors.js';
import { msgpackErrorBody } from './msgpack-envelope.js';

/** Headers on every response (arc-spec §1), flattened once for writeHead's raw-array form. */
const COMMON_HEADERS: readonly string[] = [
  'X-Frame-Options', 'DENY',
  'X-Content-Type-Options', 'nosniff',
  'X-XSS-Protection', '1; mode=block',
  'Referrer-Policy', 'strict-origin-when-cross-origin',
  'Permissions-Policy', 'geolocation=(), microphone=(), camera=()',
  'Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'",
  'Access-Control-Allow-Origin', '*',
];

export const CORS_PREFLIGHT_HEADERS: readonly string[] = [
  'Access-Control-Allow-Methods', 'GET,POST,PUT,DELETE,OPTIONS',
  'Access-Control-Allow-Headers', 'Origin,Content-Type,Accept,Authorization,x-api-key,x-arc-database,Content-Encoding',
  'Access-Control-Max-Age', '86400',
];

const NO_CONTENT_HEADERS = [...COMMON_HEADERS];

/** Which error body a route uses (arc-spec §1 has several). */
export type Envelope = 'plain' | 'query' | 'arrow' | 'estimate' | 'msgpack';

export function sendNoContent(res: ServerResponse, extra: readonly string[] = []): void {
  res.writeHead(204, extra.length ? [...NO_CONTENT_HEADERS, ...extra] : NO_CONTENT_HEADERS);
  res.end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  const headers = [...COMMON_HEADERS, 'Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(text))];
  for (const [name, value] of Object.entries(extra)) headers.push(name, value);
  res.writeHead(status, headers);
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, [...COMMON_HEADERS, 'Content-Type', contentType, 'Content-Length', String(Buffer.byteLength(text))]);
  res.end(text);
}

/**
 * Renders an error in the route's envelope (arc-spec §1): `{"error", "code", …details}` for ingest
 * and most routes; the query envelope with null columns/data; `{"success": false, "error"}` for
 * Arrow; the estimate envelope. `startedAt` (performance.now()) gives execution_time_ms.
 */
export function sendError(res: ServerResponse, error: ArcError, envelope: Envelope, startedAt: number): void {
  const elapsed = Math.round((performance.now() - startedAt) * 1000) / 1000; // ms, to the microsecond like successes
  if (envelope === 'msgpack') {
    const bytes = msgpackErrorBody(error.message, error.code, elapsed, rfc3339(new Date()));
    const headers = [...COMMON_HEADERS, 'Content-Type', 'application/msgpack', 'Content-Length', String(bytes.length)];
    for (const [name, value] of Object.entries(error.headers)) headers.push(name, value);
    res.writeHead(error.status, headers);
    res.end(bytes);
    return;
  }
  let body: Record<string, unknown>;
  switch (envelope) {
    case 'plain':
      body = { error: error.message, code: error.code, ...error.details };
      break;
    case 'query':
      body = { success: false, columns: null, data: null, row_count: 0, execution_time_ms: elapsed, timestamp: rfc3339(new Date()), error: error.message, code: error.code, ...error.details };
      break;
    case 'arrow':
      body = { success: false, error: error.message, code: error.code, ...error.details };
      break;
    case 'estimate':
      body = { success: false, estimated_rows: null, warning_level: 'error', execution_time_ms: elapsed, error: error.message, code: error.code, ...error.details };
      break;
  }
  sendJson(res, error.status, body, error.headers);
}

/** Go's time.RFC3339 for UTC: seconds, no fraction, "Z". */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Go's time.Duration.String() for a span in nanoseconds: "1h2m3.5s", "1.5ms", "0s". */
export function goDuration(nanos: number): string {
  if (nanos === 0) return '0s';
  const sign = nanos < 0 ? '-' : '';
  let n = Math.abs(Math.round(nanos));
  if (n < 1e3) return `${sign}${n}ns`;
  if (n < 1e6) return `${sign}${trimFraction(n / 1e3, 3)}µs`;
  if (n < 1e9) return `${sign}${trimFraction(n / 1e6, 6)}ms`;
  const hours = Math.floor(n / 3.6e12);
  n -= hours * 3.6e12;
  const minutes = Math.floor(n / 6e10);
  n -= minutes * 6e10;
  const seconds = `${trimFraction(n / 1e9, 9)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function trimFraction(value: number, digits: number): string {
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

/**
 * Writes with backpressure; `sent` runs once the bytes have left (so their buffer may be reused).
 * False when the client has gone: the caller stops, and its `finally` gives back what it holds
 * (waiting for a 'drain' that never comes would keep it forever).
 */
export async function writeWithBackpressure(res: ServerResponse, data: string | Uint8Array, sent?: () => void): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(data, sent ? (err) => (err ? undefined : sent()) : undefined)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}

import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { isValidDatabaseName } from '../ingest/names.js';

/** Token values and their inputs: how secrets are made and hashed, and how permissions, database scopes and expiry spans are validated. */

export const PERMISSIONS = ['read', 'write', 'delete', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const DEFAULT_PERMISSIONS: readonly Permission[] = ['read', 'write'];
export const ADMIN_PERMISSIONS: readonly Permission[] = PERMISSIONS;

/**
 * Generated tokens carry 256 random bits, so iterations cannot make guessing them harder; they
 * protect a hand-picked ARC_AUTH_BOOTSTRAP_TOKEN if the file leaks. 100k costs ~30 ms on the thread
 * pool, paid once per token per cache TTL.
 */
export const DEFAULT_HASH_ITERATIONS = 100_000;

const HASH_SCHEME = 'pbkdf2-sha256';
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const MAX_STORED_ITERATIONS = 10_000_000;

/** A refused token operation; `status` and `message` are what Arc answers (`message` verbatim). */
export class TokenStoreError extends Error {
  constructor(readonly status: 400 | 404 | 409, message: string) {
    super(message);
    this.name = 'TokenStoreError';
  }
}

/** base64url of 32 random bytes with '=' padding, 44 characters, like Arc's tokens. */
export function generateToken(): string {
  return randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** First 16 hex characters of sha256(token): finds a presented token's row without hashing every row. */
export function lookupKey(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

/** `$pbkdf2-sha256$<iterations>$<b64salt>$<b64key>`, derived on the thread pool. */
export async function hashToken(token: string, iterations = DEFAULT_HASH_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(token, salt, iterations, KEY_BYTES);
  return `$${HASH_SCHEME}$${iterations}$${unpadded(salt)}$${unpadded(key)}`;
}

/** True when `token` produces `stored`; malformed hashes verify nothing. */
export async function verifyTokenHash(token: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== HASH_SCHEME) return false;
  const iterations = Number(parts[2]);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_STORED_ITERATIONS) return false;
  const salt = Buffer.from(parts[3]!, 'base64');
  const expected = Buffer.from(parts[4]!, 'base64');
  if (salt.length === 0 || expected.length === 0) return false;
  const actual = await derive(token, salt, iterations, expected.length);
  return timingSafeEqual(actual, expected);
}

function derive(token: string, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(token, salt, iterations, length, 'sha256', (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function unpadded(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

/** Validates and orders permissions (read, write, delete, admin); an unknown one is Arc's 400. */
export function parsePermissions(values: readonly string[]): Permission[] {
  for (const value of values) {
    if (!isPermission(value)) {
      throw new TokenStoreError(400, `Invalid permission: ${value}. Valid permissions are: read, write, delete, admin`);
    }
  }
  return PERMISSIONS.filter((permission) => values.includes(permission));
}

/**
 * Validates a token's database scope: a non-empty list of names that follow the database naming
 * rule; duplicates are dropped and the result is sorted. An empty list would be a token that can
 * reach nothing, which is almost certainly a mistake (a missing list means every database).
 */
export function parseDatabases(values: readonly string[]): string[] {
  if (values.length === 0) throw new TokenStoreError(400, 'databases must list at least one database (omit it for every database)');
  for (const value of values) {
    if (!isValidDatabaseName(value)) {
      throw new TokenStoreError(400, `Invalid database name in databases: ${JSON.stringify(value)}: must start with a letter and contain only alphanumeric characters, underscores, or hyphens (max 64 characters)`);
    }
  }
  return [...new Set(values)].sort();
}

const GO_UNIT_NANOS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * Milliseconds of an expires_in value, or null when invalid: a Go duration ("24h", "1h30m",
 * "1.5h") or a whole number of days ("7d"), as Arc accepts. Zero and negative spans are refused
 * (Arc would create a token that is already expired).
 */
export function parseExpiresIn(text: string): number | null {
  const days = /^(\d+)d$/.exec(text);
  if (days) {
    const ms = Number(days[1]) * 86_400_000;
    return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
  }
  const piece = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let nanos = 0;
  let at = text.startsWith('+') ? 1 : 0;
  if (at === text.length) return null;
  while (at < text.length) {
    piece.lastIndex = at;
    const match = piece.exec(text);
    if (!match) return null;
    nanos += Number(match[1]) * GO_UNIT_NANOS[match[2]!]!;
    at = piece.lastIndex;
  }
  const ms = nanos / 1e6;
  return ms > 0 && Number.isFinite(ms) ? ms : null;
}

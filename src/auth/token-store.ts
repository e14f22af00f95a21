import fs from 'node:fs';
import path from 'node:path';
import duckdbApi from '@duckdb/node-api';
import { ArcError } from '../errors.js';
import {
  ADMIN_PERMISSIONS,
  DEFAULT_HASH_ITERATIONS,
  DEFAULT_PERMISSIONS,
  generateToken,
  hashToken,
  isPermission,
  lookupKey,
  parseDatabases,
  parseExpiresIn,
  parsePermissions,
  TokenStoreError,
  verifyTokenHash,
  type Permission,
} from './token-values.js';

// The store is the auth module's public face: callers import token values from here too.
export * from './token-values.js';

type DuckDBConnection = Awaited<ReturnType<InstanceType<typeof duckdbApi.DuckDBInstance>['connect']>>;
type DuckDBInstance = InstanceType<typeof duckdbApi.DuckDBInstance>;
type SqlValue = string | number | boolean | null;

export const BOOTSTRAP_TOKEN_VARIABLE = 'ARC_AUTH_BOOTSTRAP_TOKEN';
export const FORCE_BOOTSTRAP_VARIABLE = 'ARC_AUTH_FORCE_BOOTSTRAP';
export const MIN_BOOTSTRAP_TOKEN_LENGTH = 32;
/** Longer strings are refused before any hashing, so a huge header cannot buy expensive work. */
export const MAX_TOKEN_LENGTH = 1024;
/** last_used_at is written at most this often per token: a busy token must not mean a write per request. */
export const TOUCH_INTERVAL_MS = 60_000;

export interface TokenInfo {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly Permission[];
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly enabled: boolean;
  readonly expiresAt: Date | null;
  /** The databases the token may reach (sorted); null: every database (Arc's tokens, and the default). */
  readonly databases: readonly string[] | null;
}

export interface CreateTokenInput {
  name: string;
  description?: string;
  /** Omitted: read,write. Empty: no permissions (Arc's RBAC-only token). */
  permissions?: readonly string[];
  /** A Go duration ("24h", "90m") or whole days ("7d"); omitted: never expires. */
  expiresIn?: string;
  /** Omitted: every database. Otherwise a non-empty list of database names the token is confined to. */
  databases?: readonly string[];
}

export interface UpdateTokenInput {
  name?: string;
  description?: string;
  permissions?: readonly string[];
  /** A new non-empty list; null lifts the scope (every database). */
  databases?: readonly string[] | null;
  /** Counted from now, like at creation. */
  expiresIn?: string;
}

export interface CreatedToken {
  /** The plaintext: shown to the caller once, never stored nor logged. */
  readonly token: string;
  readonly info: TokenInfo;
}

export interface BootstrapOptions {
  /** ARC_AUTH_BOOTSTRAP_TOKEN: the secret of the first admin (or recovery) token instead of a random one. */
  bootstrapToken?: string;
  /** ARC_AUTH_FORCE_BOOTSTRAP: add (or re-key) an 'arc-recovery' admin token even when tokens exist. */
  forceBootstrap?: boolean;
}

export interface BootstrappedToken {
  readonly name: 'admin' | 'arc-recovery';
  readonly id: number;
  /** The plaintext, for the caller to print once to stderr. */
  readonly token: string;
}

export interface TokenStoreOptions {
  /** auth.db_path */
  path: string;
  hashIterations?: number;
  /** Milliseconds since the epoch; tests move time with it. */
  now?: () => number;
  /** A failed background write (last_used_at); the store itself never logs. */
  onBackgroundError?: (error: Error) => void;
}

const SCHEMA = [
  `CREATE SEQUENCE IF NOT EXISTS api_tokens_id_seq START 1`,
  // Names are kept unique by the store (under its lock) rather than by a UNIQUE index: DuckDB
  // checks index constraints eagerly on UPDATE, which makes renames fragile.
  `CREATE TABLE IF NOT EXISTS api_tokens (
    id BIGINT PRIMARY KEY DEFAULT nextval('api_tokens_id_seq'),
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    hash VARCHAR NOT NULL,
    lookup VARCHAR NOT NULL,
    permissions VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    enabled BOOLEAN NOT NULL DEFAULT true,
    expires_at TIMESTAMP,
    databases VARCHAR
  )`,
  // Stores made before tokens had database scopes: the column is added, NULL (every database) for
  // every existing token, so they keep working exactly as before.
  `ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS databases VARCHAR`,
];

const INFO_COLUMNS = 'id, name, description, permissions, created_at, last_used_at, enabled, expires_at, databases';

/** Timestamps are bound as µs since the epoch; DuckDB stores them as UTC TIMESTAMP. */
const AT = (placeholder: string) => `make_timestamp(${placeholder}::BIGINT)`;

/**
 * API tokens in a DuckDB file (`auth.db_path`). Only salted PBKDF2 hashes are stored; a lookup key
 * per token, mirrored in memory, turns away unknown tokens with one SHA-256 and no database or
 * PBKDF2 work. Every database call runs through one queue: DuckDB gets one statement at a time,
 * and a name check and its insert cannot interleave with another writer.
 */
export class TokenStore {
  private queueTail: Promise<void> = Promise.resolve();
  private closed = false;
  /** lookup key -> ids (more than one only on a 64-bit prefix collision). */
  private readonly idsByLookup = new Map<string, Set<number>>();
  private readonly lookupById = new Map<number, string>();
  private readonly lastTouched = new Map<number, number>();
  private readonly iterations: number;
  private readonly now: () => number;

  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly options: TokenStoreOptions,
  ) {
    this.iterations = options.hashIterations ?? DEFAULT_HASH_ITERATIONS;
    this.now = options.now ?? Date.now;
  }

  /** Opens (creating if needed) the database file and its table. DuckDB locks the file to this process. */
  static async open(options: TokenStoreOptions): Promise<TokenStore> {
    const file = path.resolve(options.path);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    let instance: DuckDBInstance;
    // The file holds credentials (hashes only, still): created 0600, never readable in between.
    const umask = process.umask(0o077);
    try {
      instance = await duckdbApi.DuckDBInstance.create(file, { threads: '1' });
    } catch (err) {
      throw new Error(`cannot open the token store ${file}: ${(err as Error).message}`);
    } finally {
      process.umask(umask);
    }
    const connection = await instance.connect();
    const store = new TokenStore(file, instance, connection, options);
    try {
      for (const statement of SCHEMA) await connection.run(statement);
      store.protectFiles();
      for (const row of await store.rows(`SELECT id, lookup FROM api_tokens`)) store.index(Number(row.id), String(row.lookup));
    } catch (err) {
      connection.closeSync();
      instance.closeSync();
      throw err;
    }
    return store;
  }

  /**
   * Arc's first-start rules. With forceBootstrap: an 'arc-recovery' admin token gets the bootstrap
   * token (or a random secret), created or re-keyed and re-enabled. Otherwise, only on an empty table:
   * an 'admin' token with every permission. Returns what was created, with plaintexts to print once.
   */
  async bootstrap(options: BootstrapOptions): Promise<BootstrappedToken[]> {
    const given = options.bootstrapToken;
    if (given !== undefined) checkBootstrapToken(given);
    if (options.forceBootstrap) {
      const recovery = await this.ensureRecoveryToken(given);
      return recovery ? [recovery] : [];
    }
    const secret = given ?? generateToken();
    const hash = await hashToken(secret, this.iterations);
    const description = given === undefined ? 'Initial admin token (auto-generated on first run)' : `Initial admin token (set via ${BOOTSTRAP_TOKEN_VARIABLE})`;
    const created = await this.exclusive(async () => {
      const count = await this.rows(`SELECT count(*) AS n FROM api_tokens`);
      if (Number(count[0]!.n) > 0) return null;
      return this.insert({ name: 'admin', description, permissions: ADMIN_PERMISSIONS, expiresAt: null, databases: null }, hash, lookupKey(secret));
    });
    return created ? [{ name: 'admin', id: created.id, token: secret }] : [];
  }

  async create(input: CreateTokenInput): Promise<CreatedToken> {
    const name = requireName(input.name);
    const permissions = input.permissions === undefined ? DEFAULT_PERMISSIONS : parsePermissions(input.permissions);
    const expiresAt = this.expiry(input.expiresIn, "Invalid expires_in format. Use duration like '24h' or '7d'");
    const databases = input.databases === undefined ? null : parseDatabases(input.databases);
    const token = generateToken();
    const hash = await hashToken(token, this.iterations);
    const info = await this.exclusive(async () => {
      await this.checkNameFree(name, null);
      return this.insert({ name, description: input.description ?? '', permissions, expiresAt, databases }, hash, lookupKey(token));
    });
    return { token, info };
  }

  async list(): Promise<TokenInfo[]> {
    return this.exclusive(async () => (await this.rows(`SELECT ${INFO_COLUMNS} FROM api_tokens ORDER BY id`)).map(toInfo));
  }

  async get(id: number): Promise<TokenInfo | null> {
    return this.exclusive(async () => {
      const rows = await this.rows(`SELECT ${INFO_COLUMNS} FROM api_tokens WHERE id = $1`, [id]);
      return rows.length > 0 ? toInfo(rows[0]!) : null;
    });
  }

  /** Changes only the given fields; 404 when the id does not exist. */
  async update(id: number, input: UpdateTokenInput): Promise<TokenInfo> {
    const sets: string[] = [];
    const values: SqlValue[] = [id];
    const name = input.name === undefined ? undefined : requireName(input.name);
    if (name !== undefined) sets.push(`name = $${values.push(name)}`);
    if (input.description !== undefined) sets.push(`description = $${values.push(input.description)}`);
    if (input.permissions !== undefined) sets.push(`permissions = $${values.push(parsePermissions(input.permissions).join(','))}`);
    if (input.databases !== undefined) sets.push(`databases = $${values.push(input.databases === null ? null : parseDatabases(input.databases).join(','))}::VARCHAR`);
    const expiresAt = this.expiry(input.expiresIn, 'Invalid expires_in format');
    if (expiresAt !== null) sets.push(`expires_at = ${AT(`$${values.push(expiresAt.getTime() * 1000)}`)}`);
    return this.exclusive(async () => {
      if (name !== undefined) await this.checkNameFree(name, id);
      const sql = sets.length > 0
        ? `UPDATE api_tokens SET ${sets.join(', ')} WHERE id = $1 RETURNING ${INFO_COLUMNS}`
        : `SELECT ${INFO_COLUMNS} FROM api_tokens WHERE id = $1`;
      return toInfo(found(await this.rows(sql, values)));
    });
  }

  async delete(id: number): Promise<void> {
    await this.exclusive(async () => {
      found(await this.rows(`DELETE FROM api_tokens WHERE id = $1 RETURNING id`, [id]));
      this.unindex(id);
      this.lastTouched.delete(id);
    });
  }

  /** A new secret for the same id, name and permissions; the old secret stops working at once. */
  async rotate(id: number): Promise<CreatedToken> {
    const token = generateToken();
    const hash = await hashToken(token, this.iterations);
    const lookup = lookupKey(token);
    const info = await this.exclusive(async () => {
      const row = found(await this.rows(`UPDATE api_tokens SET hash = $2, lookup = $3 WHERE id = $1 RETURNING ${INFO_COLUMNS}`, [id, hash, lookup]));
      this.unindex(id);
      this.index(id, lookup);
      return toInfo(row);
    });
    return { token, info };
  }

  /** Disables the token; it stays listed (revoking twice is not an error). */
  async revoke(id: number): Promise<TokenInfo> {
    return this.exclusive(async () => toInfo(found(await this.rows(`UPDATE api_tokens SET enabled = false WHERE id = $1 RETURNING ${INFO_COLUMNS}`, [id]))));
  }

  /** The token's info when it is known, enabled and not expired; otherwise null. */
  async verify(token: string): Promise<TokenInfo | null> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return null;
    const lookup = lookupKey(token);
    if (!this.idsByLookup.has(lookup)) return null;
    const rows = await this.exclusive(() => this.rows(`SELECT ${INFO_COLUMNS}, hash FROM api_tokens WHERE lookup = $1`, [lookup]));
    const now = this.now();
    for (const row of rows) {
      const info = toInfo(row);
      if (!info.enabled || (info.expiresAt !== null && info.expiresAt.getTime() <= now)) continue;
      if (!(await verifyTokenHash(token, String(row.hash)))) continue;
      this.touch(info.id, now);
      return info;
    }
    return null;
  }

  /** Waits for queued writes, checkpoints and releases the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      await this.connection.run('CHECKPOINT');
    }).catch(() => undefined);
    this.closed = true;
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private async ensureRecoveryToken(given: string | undefined): Promise<BootstrappedToken | null> {
    const secret = given ?? generateToken();
    const hash = await hashToken(secret, this.iterations);
    const lookup = lookupKey(secret);
    const existing = await this.exclusive(() => this.rows(`SELECT id, hash, enabled FROM api_tokens WHERE name = 'arc-recovery'`));
    const current = existing[0];
    // A restart with the same variables leaves a working recovery token alone (and prints nothing).
    if (current && given !== undefined && current.enabled === true && (await verifyTokenHash(given, String(current.hash)))) return null;
    const id = await this.exclusive(async () => {
      if (current) {
        const id = Number(current.id);
        await this.rows(`UPDATE api_tokens SET hash = $2, lookup = $3, enabled = true, expires_at = NULL, databases = NULL, permissions = $4 WHERE id = $1`, [
          id, hash, lookup, ADMIN_PERMISSIONS.join(','),
        ]);
        this.unindex(id);
        this.index(id, lookup);
        return id;
      }
      const description = `Recovery admin token added via ${FORCE_BOOTSTRAP_VARIABLE}`;
      return (await this.insert({ name: 'arc-recovery', description, permissions: ADMIN_PERMISSIONS, expiresAt: null, databases: null }, hash, lookup)).id;
    });
    return { name: 'arc-recovery', id, token: secret };
  }

  private async insert(
    fields: { name: string; description: string; permissions: readonly Permission[]; expiresAt: Date | null; databases: readonly string[] | null },
    hash: string,
    lookup: string,
  ): Promise<TokenInfo> {
    const rows = await this.rows(
      `INSERT INTO api_tokens (name, description, hash, lookup, permissions, created_at, enabled, expires_at, databases)
       VALUES ($1, $2, $3, $4, $5, ${AT('$6')}, true, ${AT('$7')}, $8::VARCHAR) RETURNING ${INFO_COLUMNS}`,
      [
        fields.name, fields.description, hash, lookup, fields.permissions.join(','), this.now() * 1000,
        fields.expiresAt === null ? null : fields.expiresAt.getTime() * 1000,
        fields.databases === null ? null : fields.databases.join(','),
      ],
    );
    const info = toInfo(rows[0]!);
    this.index(info.id, lookup);
    return info;
  }

  private async checkNameFree(name: string, exceptId: number | null): Promise<void> {
    const rows = await this.rows(`SELECT id FROM api_tokens WHERE name = $1`, [name]);
    if (rows.some((row) => Number(row.id) !== exceptId)) throw new TokenStoreError(409, `token with name '${name}' already exists`);
  }

  private expiry(expiresIn: string | undefined, message: string): Date | null {
    if (expiresIn === undefined) return null;
    const ms = parseExpiresIn(expiresIn);
    if (ms === null) throw new TokenStoreError(400, message);
    return new Date(this.now() + ms);
  }

  private touch(id: number, now: number): void {
    const last = this.lastTouched.get(id);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    this.lastTouched.set(id, now);
    this.exclusive(() => this.rows(`UPDATE api_tokens SET last_used_at = ${AT('$2')} WHERE id = $1`, [id, now * 1000])).catch((err: unknown) => {
      if (!this.closed) this.options.onBackgroundError?.(err as Error);
    });
  }

  private index(id: number, lookup: string): void {
    this.lookupById.set(id, lookup);
    let ids = this.idsByLookup.get(lookup);
    if (!ids) this.idsByLookup.set(lookup, (ids = new Set()));
    ids.add(id);
  }

  private unindex(id: number): void {
    const lookup = this.lookupById.get(id);
    if (lookup === undefined) return;
    this.lookupById.delete(id);
    const ids = this.idsByLookup.get(lookup);
    ids?.delete(id);
    if (ids?.size === 0) this.idsByLookup.delete(lookup);
  }

  /**
   * A consistent copy of the whole store (tokens, and any table others keep in this file) as a new
   * DuckDB file at `target`, made by DuckDB itself inside one transaction while the store stays
   * open: never a byte copy of a live file.
   */
  async backupTo(target: string): Promise<void> {
    await this.exclusive(async () => {
      const [row] = await this.rows('SELECT current_database() AS name');
      const name = String(row!.name).replace(/"/g, '""');
      const alias = 'arc_backup_target';
      await this.connection.run(`ATTACH '${target.replace(/'/g, "''")}' AS ${alias}`);
      try {
        await this.connection.run(`COPY FROM DATABASE "${name}" TO ${alias}`);
      } finally {
        await this.connection.run(`DETACH ${alias}`);
      }
    });
  }

  /** 0600 for the store and the log DuckDB keeps next to it (created on a write, with the process umask). */
  private protectFiles(): void {
    for (const name of [this.path, `${this.path}.wal`]) {
      try {
        fs.chmodSync(name, 0o600);
      } catch {
        // no log file right now
      }
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the token store is closed'));
    const result = this.queueTail.then(work).finally(() => this.protectFiles());
    this.queueTail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async rows(sql: string, values: SqlValue[] = []): Promise<Array<Record<string, unknown>>> {
    try {
      const reader = await this.connection.runAndReadAll(sql, values);
      return reader.getRowObjectsJS() as Array<Record<string, unknown>>;
    } catch (err) {
      throw storeFailure(err);
    }
  }
}

function checkBootstrapToken(token: string): void {
  if (token.length < MIN_BOOTSTRAP_TOKEN_LENGTH) {
    throw new Error(`${BOOTSTRAP_TOKEN_VARIABLE} must be at least ${MIN_BOOTSTRAP_TOKEN_LENGTH} characters long (it has ${token.length})`);
  }
  if (token.length > MAX_TOKEN_LENGTH) throw new Error(`${BOOTSTRAP_TOKEN_VARIABLE} must be at most ${MAX_TOKEN_LENGTH} characters long`);
  if (/\s/.test(token)) throw new Error(`${BOOTSTRAP_TOKEN_VARIABLE} must not contain whitespace (clients could not send it in a header)`);
}

/**
 * A disk or file failure of the store (full disk, I/O error, a database DuckDB invalidated) is a
 * 503 with the reason, so the client knows to retry and the operator what to fix; anything else
 * stays what it was.
 */
function storeFailure(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (!/No space left|I\/O|IO Error|invalidated|Could not (write|read|open)|Permission denied|read-only/i.test(message)) return err;
  const reason = /No space left/i.test(message) ? 'no space left on device' : message.split('\n')[0]!.slice(0, 200);
  return new ArcError('ARC_ERR_AUTH_UNAVAILABLE', `The token store could not be read or written (${reason}); retry later`, {}, { 'Retry-After': '1' });
}

function requireName(name: string): string {
  if (name.trim() === '') throw new TokenStoreError(400, 'Token name is required');
  return name;
}

function found<T>(rows: T[]): T {
  if (rows.length === 0) throw new TokenStoreError(404, 'Token not found');
  return rows[0]!;
}

function toInfo(row: Record<string, unknown>): TokenInfo {
  const permissions = String(row.permissions ?? '');
  return {
    id: Number(row.id),
    name: String(row.name),
    description: String(row.description ?? ''),
    permissions: permissions === '' ? [] : permissions.split(',').filter(isPermission),
    createdAt: row.created_at as Date,
    lastUsedAt: (row.last_used_at as Date | null) ?? null,
    enabled: row.enabled === true,
    expiresAt: (row.expires_at as Date | null) ?? null,
    databases: typeof row.databases === 'string' && row.databases !== '' ? row.databases.split(',') : null,
  };
}

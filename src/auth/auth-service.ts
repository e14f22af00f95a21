import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log.js';
import {
  BOOTSTRAP_TOKEN_VARIABLE,
  FORCE_BOOTSTRAP_VARIABLE,
  MAX_TOKEN_LENGTH,
  TokenStore,
  type BootstrapOptions,
  type BootstrappedToken,
  type CreatedToken,
  type CreateTokenInput,
  type Permission,
  type TokenInfo,
  type UpdateTokenInput,
} from './token-store.js';

export type { Permission, TokenInfo } from './token-store.js';

/** Who a request acts as, once its token is verified. */
export interface Principal {
  readonly tokenId: number;
  readonly name: string;
  readonly permissions: ReadonlySet<Permission>;
  /** The databases the token is confined to; null: every database. See database-scope.ts. */
  readonly databases: ReadonlySet<string> | null;
  /** The token's metadata when it was verified (last_used_at may lag). */
  readonly info: TokenInfo;
}

/**
 * What a route needs (arc-spec §2): 'public' = nothing, 'any' = any valid token, else that permission
 * (admin satisfies all). Defined here, below the HTTP layer, so the router imports auth and not the reverse.
 */
export type RoutePermission = 'public' | 'any' | Permission;

/** The outcome of checking a request; failures carry Arc's status and `{"success":false,"error":…}` message. */
export type AuthOutcome =
  | { readonly ok: true; readonly principal: Principal | null }
  | { readonly ok: false; readonly status: 401 | 403; readonly error: string };

/** Arc's middleware messages (arc-spec §2). */
export const AUTH_REQUIRED_MESSAGE = 'Authentication required';
export const INVALID_TOKEN_MESSAGE = 'Invalid or expired token';

const PUBLIC_OUTCOME: AuthOutcome = { ok: true, principal: null };
const AUTH_REQUIRED: AuthOutcome = { ok: false, status: 401, error: AUTH_REQUIRED_MESSAGE };
const INVALID_TOKEN: AuthOutcome = { ok: false, status: 401, error: INVALID_TOKEN_MESSAGE };
const DENIED: Record<Permission, AuthOutcome> = {
  read: { ok: false, status: 403, error: 'Permission denied: read required' },
  write: { ok: false, status: 403, error: 'Permission denied: write required' },
  delete: { ok: false, status: 403, error: 'Permission denied: delete required' },
  admin: { ok: false, status: 403, error: 'Permission denied: admin required' },
};

export interface AuthServiceOptions {
  /** auth.db_path */
  dbPath: string;
  /** auth.cache_ttl: seconds a verified token stays cached (0 = no cache). Default 30. */
  cacheTtlSeconds?: number;
  /** auth.max_cache_size. Default 1000. */
  maxCacheSize?: number;
  /** How long an unknown or invalid token is remembered as such. Default 5 s. */
  negativeCacheTtlSeconds?: number;
  maxNegativeCacheSize?: number;
  /** First-start tokens (see TokenStore.bootstrap); false: none (the CLI opening the file). Default {}. */
  bootstrap?: BootstrapOptions | false;
  hashIterations?: number;
  now?: () => number;
  log?: Logger;
}

/** The JSON of GET /api/v1/auth/cache/stats: Arc's keys plus the negative cache. */
export interface AuthCacheStats {
  cache_size: number;
  max_cache_size: number;
  cache_ttl_seconds: number;
  utilization_percent: number;
  total_requests: number;
  cache_hits: number;
  cache_misses: number;
  cache_evictions: number;
  hit_rate_percent: number;
  negative_cache_size: number;
  negative_hits: number;
}

interface CacheEntry {
  readonly principal: Principal;
  /** ms since epoch: the earlier of TTL end and the token's own expiry. */
  readonly expiresAt: number;
}

/**
 * Token authentication: the token store plus a cache of verified tokens, so that a request with a
 * known token costs one Map lookup. Misses verify against the store (one per token at a time, however
 * many requests wait for it); unknown tokens are remembered briefly so a burst of bad ones does no
 * repeated work. Every change to a token drops its cache entries before the change is reported.
 */
export class AuthService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly cachedByTokenId = new Map<number, Set<string>>();
  private readonly negative = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<Principal | null>>();
  /** Bumped by every mutation: a verification that overlapped one must not be cached. */
  private epoch = 0;
  private hits = 0;
  private misses = 0;
  private negativeHits = 0;
  private evictions = 0;
  private readonly ttlMs: number;
  private readonly maxSize: number;
  private readonly negativeTtlMs: number;
  private readonly maxNegativeSize: number;
  private readonly now: () => number;

  private constructor(
    readonly store: TokenStore,
    /** Tokens created at open (first start or recovery); print each once to stderr. */
    readonly bootstrapTokens: readonly BootstrappedToken[],
    options: AuthServiceOptions,
  ) {
    this.ttlMs = (options.cacheTtlSeconds ?? 30) * 1000;
    this.maxSize = Math.max(1, options.maxCacheSize ?? 1000);
    this.negativeTtlMs = (options.negativeCacheTtlSeconds ?? 5) * 1000;
    this.maxNegativeSize = Math.max(1, options.maxNegativeCacheSize ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  static async open(options: AuthServiceOptions): Promise<AuthService> {
    const log = options.log;
    const store = await TokenStore.open({
      path: options.dbPath,
      ...(options.hashIterations !== undefined ? { hashIterations: options.hashIterations } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
      onBackgroundError: (error) => log?.warn('could not record token use', { error: error.message }),
    });
    try {
      const created = options.bootstrap === false ? [] : await store.bootstrap(options.bootstrap ?? {});
      return new AuthService(store, created, options);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.invalidateAll();
    await this.store.close();
  }

  /** Copies the token store (and whatever else lives in its file) to a new DuckDB file: see TokenStore.backupTo. */
  backupStore(target: string): Promise<void> {
    return this.store.backupTo(target);
  }

  /** The principal of a cached, still valid token; synchronous, one Map lookup. */
  cached(token: string): Principal | undefined {
    const entry = this.cache.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.forget(token, entry.principal.tokenId);
      return undefined;
    }
    this.hits++;
    return entry.principal;
  }

  /** Verifies a token (cache first); null when unknown, disabled or expired. */
  authenticate(token: string): Promise<Principal | null> {
    const hit = this.cached(token);
    if (hit !== undefined) return Promise.resolve(hit);
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return Promise.resolve(null);
    if (this.knownInvalid(token)) return Promise.resolve(null);
    this.misses++;
    let pending = this.inFlight.get(token);
    if (pending === undefined) {
      const started = this.verifyAndRemember(token).finally(() => {
        if (this.inFlight.get(token) === started) this.inFlight.delete(token);
      });
      this.inFlight.set(token, started);
      pending = started;
    }
    return pending;
  }

  /**
   * Whether a request may use a route: synchronous when the route is public, no token was sent, or
   * the token is cached (the hot path), a promise only when the token must be verified.
   */
  check(headers: IncomingHttpHeaders, rawQuery: string, required: RoutePermission): AuthOutcome | Promise<AuthOutcome> {
    if (required === 'public') return PUBLIC_OUTCOME;
    const token = extractToken(headers, rawQuery);
    if (token === null) return AUTH_REQUIRED;
    const principal = this.cached(token);
    if (principal !== undefined) return decide(principal, required);
    if (this.knownInvalid(token)) return INVALID_TOKEN; // a burst of bad tokens stays on the cheap path
    return this.authenticate(token).then((verified) => (verified === null ? INVALID_TOKEN : decide(verified, required)));
  }

  createToken(input: CreateTokenInput): Promise<CreatedToken> {
    return this.store.create(input);
  }

  listTokens(): Promise<TokenInfo[]> {
    return this.store.list();
  }

  getToken(id: number): Promise<TokenInfo | null> {
    return this.store.get(id);
  }

  updateToken(id: number, input: UpdateTokenInput): Promise<TokenInfo> {
    return this.mutate(id, () => this.store.update(id, input));
  }

  deleteToken(id: number): Promise<void> {
    return this.mutate(id, () => this.store.delete(id));
  }

  rotateToken(id: number): Promise<CreatedToken> {
    return this.mutate(id, () => this.store.rotate(id));
  }

  revokeToken(id: number): Promise<TokenInfo> {
    return this.mutate(id, () => this.store.revoke(id));
  }

  /** Drops every cached string of one token (positive), and the whole negative cache. */
  invalidateToken(id: number): void {
    this.epoch++;
    this.inFlight.clear();
    this.negative.clear();
    const tokens = this.cachedByTokenId.get(id);
    if (tokens === undefined) return;
    for (const token of tokens) this.cache.delete(token);
    this.cachedByTokenId.delete(id);
  }

  invalidateAll(): void {
    this.epoch++;
    this.inFlight.clear();
    this.negative.clear();
    this.cache.clear();
    this.cachedByTokenId.clear();
  }

  cacheStats(): AuthCacheStats {
    const total = this.hits + this.misses + this.negativeHits;
    return {
      cache_size: this.cache.size,
      max_cache_size: this.maxSize,
      cache_ttl_seconds: this.ttlMs / 1000,
      utilization_percent: (this.cache.size / this.maxSize) * 100,
      total_requests: total,
      cache_hits: this.hits,
      cache_misses: this.misses,
      cache_evictions: this.evictions,
      hit_rate_percent: total > 0 ? (this.hits / total) * 100 : 0,
      negative_cache_size: this.negative.size,
      negative_hits: this.negativeHits,
    };
  }

  /** Invalidates before and after: nothing cached while the change runs survives it. */
  private async mutate<T>(id: number, change: () => Promise<T>): Promise<T> {
    this.invalidateToken(id);
    try {
      return await change();
    } finally {
      this.invalidateToken(id);
    }
  }

  private async verifyAndRemember(token: string): Promise<Principal | null> {
    for (let attempt = 0; ; attempt++) {
      const epoch = this.epoch;
      const info = await this.store.verify(token);
      const raced = epoch !== this.epoch;
      // A token changed while this one was being verified: check again against the new state.
      if (raced && attempt === 0) continue;
      const principal = info === null ? null : toPrincipal(info);
      if (raced) return principal;
      if (principal === null) this.rememberInvalid(token);
      else this.remember(token, principal);
      return principal;
    }
  }

  private remember(token: string, principal: Principal): void {
    if (this.ttlMs <= 0) return;
    const tokenExpiry = principal.info.expiresAt?.getTime() ?? Infinity;
    const expiresAt = Math.min(this.now() + this.ttlMs, tokenExpiry);
    const previous = this.cache.get(token);
    if (previous !== undefined) this.forget(token, previous.principal.tokenId);
    while (this.cache.size >= this.maxSize) {
      const [oldest, entry] = this.cache.entries().next().value as [string, CacheEntry];
      this.forget(oldest, entry.principal.tokenId);
      this.evictions++;
    }
    this.cache.set(token, { principal, expiresAt });
    let tokens = this.cachedByTokenId.get(principal.tokenId);
    if (tokens === undefined) this.cachedByTokenId.set(principal.tokenId, (tokens = new Set()));
    tokens.add(token);
  }

  /** Whether the token failed verification less than the negative TTL ago (counted as a negative hit). */
  private knownInvalid(token: string): boolean {
    const rejectedUntil = this.negative.get(token);
    if (rejectedUntil === undefined) return false;
    if (rejectedUntil > this.now()) {
      this.negativeHits++;
      return true;
    }
    this.negative.delete(token);
    return false;
  }

  private rememberInvalid(token: string): void {
    if (this.negativeTtlMs <= 0) return;
    this.negative.delete(token);
    while (this.negative.size >= this.maxNegativeSize) this.negative.delete(this.negative.keys().next().value as string);
    this.negative.set(token, this.now() + this.negativeTtlMs);
  }

  private forget(token: string, tokenId: number): void {
    this.cache.delete(token);
    const tokens = this.cachedByTokenId.get(tokenId);
    tokens?.delete(token);
    if (tokens?.size === 0) this.cachedByTokenId.delete(tokenId);
  }
}

/** 'admin' satisfies every permission. */
export function hasPermission(principal: Principal, needed: Permission): boolean {
  return principal.permissions.has('admin') || principal.permissions.has(needed);
}

function decide(principal: Principal, required: Exclude<RoutePermission, 'public'>): AuthOutcome {
  if (required !== 'any' && !hasPermission(principal, required)) return DENIED[required];
  return { ok: true, principal };
}

function toPrincipal(info: TokenInfo): Principal {
  return { tokenId: info.id, name: info.name, permissions: new Set(info.permissions), databases: info.databases === null ? null : new Set(info.databases), info };
}

/**
 * The token of a request, in Arc's order (arc-spec §2): `Authorization: Bearer <t>`, `Token <t>`,
 * `Basic <base64 user:password>` (the password is the token, or the user when the password is
 * empty; Arc does not decode Basic and so refuses it), any other Authorization value as the token,
 * then `x-api-key`, then query parameter `p` (InfluxDB 1.x `?u=&p=`). Schemes match in any case.
 */
export function extractToken(headers: IncomingHttpHeaders, rawQuery: string): string | null {
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization !== '') {
    const fromHeader = fromAuthorization(authorization);
    if (fromHeader !== '') return fromHeader;
  }
  const apiKey = headers['x-api-key'];
  const key = Array.isArray(apiKey) ? apiKey[0] : apiKey;
  if (key !== undefined && key.trim() !== '') return key.trim();
  // Parse the query only when it can hold `p`: most requests carry the token in a header.
  if (rawQuery.startsWith('p=') || rawQuery.includes('&p=')) {
    const p = new URLSearchParams(rawQuery).get('p');
    if (p !== null && p !== '') return p;
  }
  return null;
}

function fromAuthorization(value: string): string {
  if (value.startsWith('Bearer ')) return value.slice(7).trim(); // the common case, without case folding
  const space = value.indexOf(' ');
  const scheme = space > 0 ? value.slice(0, space).toLowerCase() : '';
  if (scheme === 'bearer' || scheme === 'token') return value.slice(space + 1).trim();
  if (scheme === 'basic') return basicCredential(value.slice(space + 1).trim());
  return value;
}

function basicCredential(encoded: string): string {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return decoded;
  const password = decoded.slice(colon + 1);
  return password !== '' ? password : decoded.slice(0, colon);
}

/**
 * ARC_AUTH_BOOTSTRAP_TOKEN and ARC_AUTH_FORCE_BOOTSTRAP from the environment; a malformed value is
 * an error that names its variable (the server should refuse to start rather than guess).
 */
export function bootstrapOptionsFromEnv(env: NodeJS.ProcessEnv): BootstrapOptions {
  const options: BootstrapOptions = {};
  const token = env[BOOTSTRAP_TOKEN_VARIABLE];
  if (token !== undefined && token !== '') options.bootstrapToken = token;
  const force = env[FORCE_BOOTSTRAP_VARIABLE];
  if (force !== undefined && force !== '') {
    const normalized = force.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(normalized)) options.forceBootstrap = true;
    else if (!['false', '0', 'no', 'off'].includes(normalized)) {
      throw new Error(`${FORCE_BOOTSTRAP_VARIABLE} must be true or false; got ${JSON.stringify(force)}`);
    }
  }
  return options;
}

/** The stderr banner for tokens created at start-up: the only time their plaintext is shown. */
export function formatBootstrapBanner(tokens: readonly BootstrappedToken[]): string {
  if (tokens.length === 0) return '';
  const rule = '='.repeat(70);
  const lines = ['', rule];
  for (const created of tokens) {
    const recovery = created.name === 'arc-recovery';
    lines.push(recovery ? '  RECOVERY TOKEN ADDED - EXISTING TOKENS PRESERVED' : '  FIRST RUN - INITIAL ADMIN TOKEN GENERATED', rule);
    lines.push(`  Admin API token (id ${created.id}, name ${created.name}): ${created.token}`, rule);
    lines.push('  SAVE THIS TOKEN! It will not be shown again.');
    lines.push(recovery ? `  Revoke tokens you no longer need, then remove ${FORCE_BOOTSTRAP_VARIABLE}.` : '  Create more tokens with `arc token create` or POST /api/v1/auth/tokens.');
    lines.push(rule);
  }
  lines.push('');
  return lines.join('\n') + '\n';
}

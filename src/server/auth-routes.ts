import { extractToken, type AuthService, type TokenInfo } from '../auth/auth-service.js';
import { TokenStoreError } from '../auth/token-store.js';
import { readBody } from './body.js';
import { rfc3339, sendJson } from './respond.js';
import type { Handler, RequestContext, Route } from './router.js';

/** Token requests are a few hundred bytes; anything near this is not one. */
const AUTH_BODY_LIMIT = 64 * 1024;

/** TokenInfo as Arc serialises it (arc-spec §2). */
export interface TokenInfoJson {
  id: number;
  name: string;
  description?: string;
  permissions: string[];
  created_at: string;
  last_used_at?: string;
  enabled: boolean;
  expires_at: string | null;
  /** Only on a token scoped to databases (beyond Arc); absent: every database. */
  databases?: string[];
}

export function tokenInfoJson(info: TokenInfo): TokenInfoJson {
  return {
    id: info.id,
    name: info.name,
    ...(info.description !== '' ? { description: info.description } : {}),
    permissions: [...info.permissions],
    created_at: rfc3339(info.createdAt),
    ...(info.lastUsedAt !== null ? { last_used_at: rfc3339(info.lastUsedAt) } : {}),
    enabled: info.enabled,
    expires_at: info.expiresAt === null ? null : rfc3339(info.expiresAt),
    ...(info.databases !== null ? { databases: [...info.databases] } : {}),
  };
}

/**
 * Arc's token API (arc-spec §2), every route admin-only except GET /api/v1/auth/verify. Errors use
 * Arc's `{"success": false, "error": …}` body, so handlers answer them directly instead of throwing.
 */
export function authRoutes(auth: AuthService): Route[] {
  const admin = (method: Route['method'], path: string, handle: (auth: AuthService, context: RequestContext) => Promise<void>): Route => {
    const handler: Handler = (context) => handle(auth, context);
    // A scoped admin could otherwise mint itself a token without a scope.
    return { method, path, envelope: 'plain', permission: 'admin', allDatabases: 'token management', handler };
  };
  return [
    { method: 'GET', path: '/api/v1/auth/verify', envelope: 'plain', permission: 'public', handler: (context) => verifyToken(auth, context) },
    admin('GET', '/api/v1/auth/tokens', listTokens),
    admin('POST', '/api/v1/auth/tokens', createToken),
    admin('GET', '/api/v1/auth/tokens/:id', getToken),
    admin('PATCH', '/api/v1/auth/tokens/:id', updateToken),
    admin('DELETE', '/api/v1/auth/tokens/:id', deleteToken),
    admin('POST', '/api/v1/auth/tokens/:id/rotate', rotateToken),
    admin('POST', '/api/v1/auth/tokens/:id/revoke', revokeToken),
    admin('GET', '/api/v1/auth/cache/stats', cacheStats),
    admin('POST', '/api/v1/auth/cache/invalidate', invalidateCache),
  ];
}

/** GET /api/v1/auth/verify (public): whether the request's token is valid, and what it may do. */
export async function verifyToken(auth: AuthService, { req, res, rawQuery }: RequestContext): Promise<void> {
  const token = extractToken(req.headers, rawQuery);
  if (token === null) {
    sendJson(res, 401, { valid: false, error: 'No token provided' });
    return;
  }
  const principal = await auth.authenticate(token);
  if (principal === null) {
    sendJson(res, 401, { valid: false, error: 'Invalid or expired token' });
    return;
  }
  const info = tokenInfoJson(principal.info);
  sendJson(res, 200, { valid: true, token_info: info, permissions: info.permissions });
}

export async function listTokens(auth: AuthService, { res }: RequestContext): Promise<void> {
  const tokens = (await auth.listTokens()).map(tokenInfoJson);
  sendJson(res, 200, { success: true, tokens, count: tokens.length });
}

/**
 * POST /api/v1/auth/tokens `{"name", "description"?, "permissions"?, "expires_in"?, "databases"?}` -> 201
 * with the plaintext, once. `databases` (beyond Arc) confines the token to those databases.
 */
export async function createToken(auth: AuthService, context: RequestContext): Promise<void> {
  const body = await readJsonObject(context);
  if (body === null) return;
  const fields = requestFields(body, context);
  if (fields === null) return;
  await answer(context, async () => {
    // Arc reads an empty expires_in at creation as "never expires" (on update it is an error).
    if (fields.expiresIn === '') delete fields.expiresIn;
    const { databases, ...rest } = fields;
    const created = await auth.createToken({ ...rest, name: fields.name ?? '', ...(databases ? { databases } : {}) });
    sendJson(context.res, 201, {
      success: true,
      token: created.token,
      message: 'Token created successfully. Store this token securely - it cannot be retrieved again.',
      ...(created.info.databases !== null ? { databases: created.info.databases } : {}),
    });
  });
}

export async function getToken(auth: AuthService, context: RequestContext): Promise<void> {
  const id = tokenId(context);
  if (id === null) return;
  const info = await auth.getToken(id);
  if (info === null) {
    failure(context, 404, 'Token not found');
    return;
  }
  sendJson(context.res, 200, { success: true, token: tokenInfoJson(info) });
}

/** PATCH /api/v1/auth/tokens/:id: any of name, description, permissions, expires_in, databases (null: every database). */
export async function updateToken(auth: AuthService, context: RequestContext): Promise<void> {
  const id = tokenId(context);
  if (id === null) return;
  const body = await readJsonObject(context);
  if (body === null) return;
  const fields = requestFields(body, context);
  if (fields === null) return;
  await answer(context, async () => {
    await auth.updateToken(id, fields);
    sendJson(context.res, 200, { success: true, message: 'Token updated successfully' });
  });
}

export async function deleteToken(auth: AuthService, context: RequestContext): Promise<void> {
  const id = tokenId(context);
  if (id === null) return;
  await answer(context, async () => {
    await auth.deleteToken(id);
    sendJson(context.res, 200, { success: true, message: 'Token deleted successfully' });
  });
}

export async function rotateToken(auth: AuthService, context: RequestContext): Promise<void> {
  const id = tokenId(context);
  if (id === null) return;
  await answer(context, async () => {
    const rotated = await auth.rotateToken(id);
    sendJson(context.res, 200, {
      success: true,
      new_token: rotated.token,
      message: 'Token rotated successfully. Store this new token securely - it cannot be retrieved again.',
    });
  });
}

export async function revokeToken(auth: AuthService, context: RequestContext): Promise<void> {
  const id = tokenId(context);
  if (id === null) return;
  await answer(context, async () => {
    await auth.revokeToken(id);
    sendJson(context.res, 200, { success: true, message: 'Token revoked successfully' });
  });
}

export async function cacheStats(auth: AuthService, { res }: RequestContext): Promise<void> {
  sendJson(res, 200, { success: true, stats: auth.cacheStats() });
}

export async function invalidateCache(auth: AuthService, { res }: RequestContext): Promise<void> {
  auth.invalidateAll();
  sendJson(res, 200, { success: true, message: 'Cache invalidated successfully' });
}

function failure(context: RequestContext, status: number, error: string): void {
  sendJson(context.res, status, { success: false, error });
}

/** Runs a store operation, answering its refusal (400/404/409) in Arc's body; other errors propagate (500). */
async function answer(context: RequestContext, operation: () => Promise<void>): Promise<void> {
  try {
    await operation();
  } catch (err) {
    if (!(err instanceof TokenStoreError)) throw err;
    failure(context, err.status, err.message);
  }
}

/** The `:id` parameter as Go's strconv.ParseInt reads it; null after answering 400. */
function tokenId(context: RequestContext): number | null {
  const text = context.params.id ?? '';
  const id = /^[+-]?\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id)) {
    failure(context, 400, 'Invalid token ID');
    return null;
  }
  return id;
}

/** The body as a JSON object (an empty body counts as `{}`); null after answering 400. */
async function readJsonObject(context: RequestContext): Promise<Record<string, unknown> | null> {
  const raw = await readBody(context.req, AUTH_BODY_LIMIT);
  const text = raw.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    failure(context, 400, `Invalid request body: ${(err as Error).message}`);
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    failure(context, 400, 'Invalid request body: expected a JSON object');
    return null;
  }
  return parsed as Record<string, unknown>;
}

interface RequestFields {
  name?: string;
  description?: string;
  permissions?: string[];
  expiresIn?: string;
  /** null only from PATCH `"databases": null` (lift the scope). */
  databases?: string[] | null;
}

/** The token fields of a request body, type-checked; JSON null means "not given" as in Arc. Null after answering 400. */
function requestFields(body: Record<string, unknown>, context: RequestContext): RequestFields | null {
  const fields: RequestFields = {};
  for (const [key, field] of [['name', 'name'], ['description', 'description'], ['expires_in', 'expiresIn']] as const) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') {
      failure(context, 400, `Invalid request body: ${key} must be a string`);
      return null;
    }
    fields[field] = value;
  }
  const permissions = body.permissions;
  if (permissions !== undefined && permissions !== null) {
    if (!Array.isArray(permissions) || !permissions.every((p): p is string => typeof p === 'string')) {
      failure(context, 400, 'Invalid request body: permissions must be an array of strings');
      return null;
    }
    fields.permissions = permissions;
  }
  const databases = body.databases;
  if (databases === null && context.req.method === 'PATCH') fields.databases = null;
  else if (databases !== undefined && databases !== null) {
    if (!Array.isArray(databases) || !databases.every((d): d is string => typeof d === 'string')) {
      failure(context, 400, 'Invalid request body: databases must be an array of database names');
      return null;
    }
    fields.databases = databases;
  }
  return fields;
}

const TOKEN_KEY = 'arc.console.token';

/** What GET /api/v1/console/info says about the server. */
export interface ServerInfo {
  version: string;
  auth_enabled: boolean;
  compaction_enabled: boolean;
  continuous_queries_enabled: boolean;
  retention_enabled: boolean;
  wal_enabled: boolean;
}

/** What GET /api/v1/auth/verify says about a valid token. */
export interface VerifiedToken {
  permissions: string[];
  expiresAt: string | null;
}

/** An API answer that is not 2xx: the server's message and code, and the status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    readonly body: Record<string, unknown> | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The token stopped working (expired, revoked, deleted): the console goes back to sign-in. */
export class SignedOut extends Error {}

/** Which permission a 403 names ("Permission denied: admin required"), for a message that says what the token lacks. */
export function missingPermission(error: ApiError): string | null {
  return /Permission denied: (\w+) required/.exec(error.message)?.[1] ?? null;
}

/**
 * The console's only way to the server: the public HTTP API, with the pasted token (kept in
 * sessionStorage, so it lives as long as the browser tab). A 401 on any call signs out.
 */
export class Api {
  private signedOutHandler: (reason: string) => void = () => undefined;
  info: ServerInfo | null = null;
  permissions: string[] = [];
  /** When the signed-in token expires (RFC 3339, from verify), null for never. */
  expiresAt: string | null = null;

  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  set token(value: string | null) {
    if (value === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  }

  onSignedOut(handler: (reason: string) => void): void {
    this.signedOutHandler = handler;
  }

  /** True when the current token (or auth being off) allows `permission`. */
  can(permission: string): boolean {
    if (this.info && !this.info.auth_enabled) return true;
    return this.permissions.includes('admin') || this.permissions.includes(permission);
  }

  async loadInfo(): Promise<ServerInfo> {
    const response = await fetch('/api/v1/console/info');
    if (!response.ok) throw new ApiError(response.status, `GET /api/v1/console/info answered ${response.status}`, null, null);
    this.info = (await response.json()) as ServerInfo;
    return this.info;
  }

  /** Checks a token with GET /api/v1/auth/verify; resolves its permissions and expiry or rejects with the server's reason. */
  async verify(token: string): Promise<VerifiedToken> {
    const response = await fetch('/api/v1/auth/verify', { headers: { Authorization: `Bearer ${token}` } });
    const body = (await response.json().catch(() => ({}))) as { valid?: boolean; error?: string; permissions?: string[]; token_info?: { expires_at?: string | null } };
    if (!response.ok || body.valid !== true) throw new ApiError(response.status, body.error ?? `verify answered ${response.status}`, null, body);
    return { permissions: body.permissions ?? [], expiresAt: body.token_info?.expires_at ?? null };
  }

  /** Takes a verified token as the one every call sends. */
  adopt(token: string, verified: VerifiedToken): void {
    this.token = token;
    this.permissions = verified.permissions;
    this.expiresAt = verified.expiresAt;
  }

  /** Forgets the token (sign-out, or the server refused it). */
  forget(): void {
    this.token = null;
    this.permissions = [];
    this.expiresAt = null;
  }

  /**
   * Why a 401 signed the user out. The server says only "Invalid or expired token"; the expiry
   * verify reported tells the two apart (by this browser's clock, so the server's words stay in).
   */
  private refusedReason(serverMessage: string): string {
    const expiry = this.expiresAt === null ? NaN : Date.parse(this.expiresAt);
    if (expiry <= Date.now()) return `The token expired at ${this.expiresAt} (the server answered: ${serverMessage}); sign in again.`;
    return `The server refused the token (${serverMessage}); sign in again.`;
  }

  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = this.token;
    if (token !== null && this.info?.auth_enabled) headers.set('Authorization', `Bearer ${token}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401) {
      // Calls in flight together (the Admin page makes five) meet the same 401: only the first signs
      // out, so its reason stays — the later ones would no longer know the expiry, and a call
      // made with an older token must not sign out the one signed in since. Checked after the
      // last await: every one of the five would pass a check made before it.
      const body = (await response.json().catch(() => ({}))) as { error?: string };
      if (this.token !== token) throw new SignedOut('signed out already');
      const reason = this.refusedReason(body.error ?? 'unauthorized');
      this.forget();
      this.signedOutHandler(reason);
      throw new SignedOut(reason);
    }
    if (!response.ok) {
      const text = await response.text();
      let body: Record<string, unknown> | null = null;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON: the text is the message
      }
      const message = typeof body?.error === 'string' ? body.error : text || `${init.method ?? 'GET'} ${path} answered ${response.status}`;
      const error = new ApiError(response.status, message, typeof body?.code === 'string' ? body.code : null, body);
      if (response.status === 403) {
        const lacking = missingPermission(error);
        throw new ApiError(403, lacking ? `This token lacks the "${lacking}" permission (${message})` : message, error.code, body);
      }
      throw error;
    }
    return response;
  }

  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    return (await (await this.raw(path, init)).json()) as T;
  }

  async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.json<T>(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** POST /api/v1/query/arrow: the Arrow IPC stream's bytes, and how long the round trip took. */
  async queryArrow(sql: string, database: string): Promise<{ bytes: Uint8Array; fetchMs: number }> {
    const started = performance.now();
    const response = await this.raw('/api/v1/query/arrow', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-arc-database': database },
      body: JSON.stringify({ sql }),
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const fetchMs = performance.now() - started;
    return { bytes, fetchMs };
  }
}

export const api = new Api();

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { joinTokenValues } from './token-argument.js';
import { TokenStore, TokenStoreError } from '../auth/token-store.js';
import { loadConfig } from '../config/config.js';
import { readServerInfo } from '../server/arc-server.js';
import { isProcessAlive } from '../storage/directory-lock.js';
import { tokenInfoJson, type TokenInfoJson } from '../server/auth-routes.js';

export const TOKEN_HELP = `usage: arc token create --name NAME [--description TEXT] [--permissions read,write] [--expires-in 7d] [--databases a,b]
       arc token list [--json]
       arc token revoke ID
       arc token rotate ID
       arc token delete ID

Manages API tokens. create and rotate print the new token once on stdout (details go to stderr);
it cannot be shown again.

With no server running on the data directory, the command opens the token store (auth.db_path)
itself: that is how a first admin token is made before the server ever starts. A store that already
holds a token gets no generated admin token at the server's first start, so give that first token
--permissions read,write,delete,admin. While a server runs it holds the store, so the command goes
through the server's token API instead, with an admin token (--token or ARC_TOKEN).

  --name NAME          (create) required, unique
  --description TEXT   (create)
  --permissions LIST   (create) comma-separated: read, write, delete, admin (default read,write)
  --expires-in SPAN    (create) 24h, 90m, 7d, ... (default: never)
  --databases LIST     (create) comma-separated databases the token is confined to, whatever its
                       permissions (default: every database). A scoped token cannot use routes that
                       span every database (backups, token management, flush, profile).
  --json               (list) the tokens as JSON
  --data DIR           storage root a running server is recorded in (default storage.local_path)
  --url URL            talk to the server at URL, whatever the data directory says
  --token TOKEN        admin token for the server (default ARC_TOKEN)
  --config FILE        arc.toml to read auth.db_path and storage.local_path from
`;

/** Where the command writes and what it reads; tests pass their own. */
export interface TokenCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** What create, list, rotate, revoke and delete need, from the store file or from a server. */
interface TokenBackend {
  readonly description: string;
  create(input: { name: string; description?: string; permissions?: string[]; expiresIn?: string; databases?: string[] }): Promise<{ token: string; info: TokenInfoJson | null }>;
  list(): Promise<TokenInfoJson[]>;
  rotate(id: number): Promise<string>;
  revoke(id: number): Promise<void>;
  delete(id: number): Promise<void>;
  close(): Promise<void>;
}

class CommandError extends Error {}

const SUBCOMMANDS = ['create', 'list', 'revoke', 'rotate', 'delete'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** `arc token …`: 0 on success, 1 when the operation failed, 2 on a usage error. */
export async function token(argv: string[], ioOverrides: Partial<TokenCommandIo> = {}): Promise<number> {
  const io: TokenCommandIo = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    ...ioOverrides,
  };
  let parsed;
  try {
    parsed = parseArgs({
      // Also when called directly, not through `arc` (which joins them already).
      args: joinTokenValues(argv),
      options: {
        name: { type: 'string' },
        description: { type: 'string' },
        permissions: { type: 'string' },
        'expires-in': { type: 'string' },
        databases: { type: 'string' },
        json: { type: 'boolean', default: false },
        data: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.stderr(`arc token: ${(err as Error).message}\n\n${TOKEN_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [subcommand, ...rest] = positionals;
  if (values.help || subcommand === undefined || subcommand === 'help') {
    io.stdout(TOKEN_HELP);
    return values.help || subcommand === 'help' ? 0 : 2;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(subcommand)) {
    io.stderr(`arc token: unknown subcommand '${subcommand}'\n\n${TOKEN_HELP}`);
    return 2;
  }
  const usage = checkUsage(subcommand as Subcommand, rest, values.name);
  if (usage !== null) {
    io.stderr(`arc token ${subcommand}: ${usage}\n\n${TOKEN_HELP}`);
    return 2;
  }

  let backend: TokenBackend | null = null;
  try {
    backend = await openBackend(values, subcommand === 'create', io);
    if (backend === null) {
      io.stdout('no tokens (the token store does not exist yet)\n');
      return 0;
    }
    await run(subcommand as Subcommand, rest, values, backend, io);
    return 0;
  } catch (err) {
    if (err instanceof CommandError || err instanceof TokenStoreError) {
      io.stderr(`arc token ${subcommand}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await backend?.close();
  }
}

type Values = { name?: string; description?: string; permissions?: string; 'expires-in'?: string; databases?: string; json?: boolean; data?: string; url?: string; token?: string; config?: string };

function checkUsage(subcommand: Subcommand, rest: string[], name: string | undefined): string | null {
  if (subcommand === 'create') {
    if (rest.length > 0) return `unexpected argument ${JSON.stringify(rest[0])}`;
    return name === undefined ? '--name is required' : null;
  }
  if (subcommand === 'list') return rest.length > 0 ? `unexpected argument ${JSON.stringify(rest[0])}` : null;
  if (rest.length !== 1) return 'expects one token ID';
  return /^\d+$/.test(rest[0]!) && Number.isSafeInteger(Number(rest[0])) ? null : `the token ID must be a positive integer; got ${JSON.stringify(rest[0])}`;
}

async function run(subcommand: Subcommand, rest: string[], values: Values, backend: TokenBackend, io: TokenCommandIo): Promise<void> {
  const id = Number(rest[0]);
  switch (subcommand) {
    case 'create': {
      const input: Parameters<TokenBackend['create']>[0] = { name: values.name! };
      if (values.description !== undefined) input.description = values.description;
      if (values.permissions !== undefined) input.permissions = values.permissions.split(',').map((p) => p.trim()).filter((p) => p !== '');
      if (values['expires-in'] !== undefined) input.expiresIn = values['expires-in'];
      if (values.databases !== undefined) input.databases = values.databases.split(',').map((d) => d.trim()).filter((d) => d !== '');
      const created = await backend.create(input);
      io.stdout(`${created.token}\n`);
      const info = created.info;
      const scope = info?.databases ? `, databases ${info.databases.join(',')}` : '';
      const what = info ? `token ${info.id} '${info.name}' (${describePermissions(info.permissions)}${scope}${info.expires_at ? `, expires ${info.expires_at}` : ''})` : `token '${values.name}'`;
      io.stderr(`created ${what} ${backend.description}; store it now, it cannot be shown again\n`);
      return;
    }
    case 'list': {
      const tokens = await backend.list();
      io.stdout(values.json ? `${JSON.stringify(tokens, null, 2)}\n` : formatTokenTable(tokens));
      return;
    }
    case 'rotate':
      io.stdout(`${await backend.rotate(id)}\n`);
      io.stderr(`rotated token ${id} ${backend.description}; the old secret no longer works\n`);
      return;
    case 'revoke':
      await backend.revoke(id);
      io.stdout(`revoked token ${id}\n`);
      return;
    case 'delete':
      await backend.delete(id);
      io.stdout(`deleted token ${id}\n`);
      return;
  }
}

/** The server's API when one runs (or --url is given), else the store file; null when there is no file and nothing to create. */
async function openBackend(values: Values, creating: boolean, io: TokenCommandIo): Promise<TokenBackend | null> {
  const adminToken = values.token ?? io.env.ARC_TOKEN;
  if (values.url !== undefined) return httpBackend(values.url, adminToken);
  let config;
  try {
    config = loadConfig({ env: io.env, cwd: io.cwd, ...(values.config !== undefined ? { file: values.config } : {}) }).config;
  } catch (err) {
    throw new CommandError(`configuration error: ${(err as Error).message}`);
  }
  const root = path.resolve(io.cwd, values.data ?? config.storage.localPath);
  const server = readServerInfo(root);
  if (server !== null && isProcessAlive(server.pid)) return httpBackend(server.url, adminToken, `(server pid ${server.pid} on ${root})`);
  const dbPath = path.resolve(io.cwd, config.auth.dbPath);
  if (!creating && !fs.existsSync(dbPath)) return null;
  return storeBackend(dbPath);
}

async function storeBackend(dbPath: string): Promise<TokenBackend> {
  let store: TokenStore;
  try {
    store = await TokenStore.open({ path: dbPath });
  } catch (err) {
    const message = (err as Error).message;
    if (/lock/i.test(message)) {
      throw new CommandError(`${dbPath} is in use by another process (a server with another data directory?); pass --url and --token\n  ${message}`);
    }
    throw new CommandError(message);
  }
  return {
    description: `in ${dbPath}`,
    create: async (input) => {
      const created = await store.create(input);
      return { token: created.token, info: tokenInfoJson(created.info) };
    },
    list: async () => (await store.list()).map(tokenInfoJson),
    rotate: async (id) => (await store.rotate(id)).token,
    revoke: async (id) => void (await store.revoke(id)),
    delete: (id) => store.delete(id),
    close: () => store.close(),
  };
}

function httpBackend(url: string, adminToken: string | undefined, where = `(${url})`): TokenBackend {
  if (adminToken === undefined || adminToken === '') {
    throw new CommandError(`a server runs at ${url} ${where}; pass an admin token with --token or ARC_TOKEN`);
  }
  const call = async (method: string, urlPath: string, body?: unknown): Promise<Record<string, unknown>> => {
    let response: Response;
    try {
      response = await fetch(new URL(urlPath, url), {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new CommandError(`cannot reach ${url}: ${(err as Error).message}`);
    }
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: reported below with the raw text
    }
    if (!response.ok) {
      const reason = typeof json.error === 'string' ? json.error : text.trim();
      const hint = response.status === 404 && json.error !== 'Token not found' ? ' (is authentication enabled on that server?)' : '';
      throw new CommandError(`${method} ${urlPath}: ${response.status} ${reason}${hint}`);
    }
    return json;
  };
  const list = async () => (await call('GET', '/api/v1/auth/tokens')).tokens as TokenInfoJson[];
  return {
    description: `on ${url}`,
    create: async (input) => {
      const body: Record<string, unknown> = { name: input.name };
      if (input.description !== undefined) body.description = input.description;
      if (input.permissions !== undefined) body.permissions = input.permissions;
      if (input.expiresIn !== undefined) body.expires_in = input.expiresIn;
      if (input.databases !== undefined) body.databases = input.databases;
      const created = await call('POST', '/api/v1/auth/tokens', body);
      // Arc's answer has no id; names are unique, so the list finds it (best effort).
      const info = (await list().catch(() => [])).find((t) => t.name === input.name) ?? null;
      return { token: String(created.token), info };
    },
    list,
    rotate: async (id) => String((await call('POST', `/api/v1/auth/tokens/${id}/rotate`)).new_token),
    revoke: async (id) => void (await call('POST', `/api/v1/auth/tokens/${id}/revoke`)),
    delete: async (id) => void (await call('DELETE', `/api/v1/auth/tokens/${id}`)),
    close: async () => undefined,
  };
}

export function formatTokenTable(tokens: readonly TokenInfoJson[]): string {
  if (tokens.length === 0) return 'no tokens\n';
  const header = ['ID', 'NAME', 'PERMISSIONS', 'DATABASES', 'ENABLED', 'EXPIRES', 'LAST USED', 'CREATED', 'DESCRIPTION'];
  const rows = tokens.map((t) => [
    String(t.id),
    t.name,
    describePermissions(t.permissions),
    t.databases ? t.databases.join(',') : 'all',
    t.enabled ? 'yes' : 'no (revoked)',
    t.expires_at ?? 'never',
    t.last_used_at ?? '-',
    t.created_at,
    t.description ?? '',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function describePermissions(permissions: readonly string[]): string {
  return permissions.length > 0 ? permissions.join(',') : 'none';
}


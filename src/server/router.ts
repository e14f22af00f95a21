import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal, RoutePermission } from '../auth/auth-service.js';
import type { Envelope } from './respond.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  /** Raw query string without the "?". */
  rawQuery: string;
  params: Record<string, string>;
  /** performance.now() when the request was dispatched. */
  startedAt: number;
  /** Who the request acts as; null on a public route or while authentication is off (every database reachable). */
  principal: Principal | null;
}

export type Handler = (context: RequestContext) => void | Promise<void>;

export type { RoutePermission };

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Literal segments and `:name` parameters, e.g. `/api/v1/databases/:name`. */
  path: string;
  handler: Handler;
  envelope: Envelope;
  permission: RoutePermission;
  /**
   * Set on routes that span every database (backups, token management, ...): what to call the route
   * when a token scoped to databases is refused it (ARC_ERR_ALL_DATABASES_REQUIRED).
   */
  allDatabases?: string;
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'wrong-method'; allowed: string[] }
  | { kind: 'none' };

/** The route table: literal paths by hash lookup, parameterised ones by segment matching. */
export class Router {
  private readonly literal = new Map<string, Map<string, Route>>();
  private readonly patterns: Array<{ segments: string[]; byMethod: Map<string, Route> }> = [];

  constructor(routes: readonly Route[]) {
    for (const route of routes) {
      if (route.path.includes('/:')) {
        const segments = route.path.split('/');
        let entry = this.patterns.find((p) => p.segments.join('/') === route.path);
        if (!entry) {
          entry = { segments, byMethod: new Map() };
          this.patterns.push(entry);
        }
        entry.byMethod.set(route.method, route);
      } else {
        let byMethod = this.literal.get(route.path);
        if (!byMethod) {
          byMethod = new Map();
          this.literal.set(route.path, byMethod);
        }
        byMethod.set(route.method, route);
      }
    }
  }

  match(method: string, path: string): RouteMatch {
    const lookup = method === 'HEAD' ? 'GET' : method;
    const byMethod = this.literal.get(path);
    if (byMethod) return pick(byMethod, lookup, {});
    const parts = path.split('/');
    for (const pattern of this.patterns) {
      const params = matchSegments(pattern.segments, parts);
      if (params) return pick(pattern.byMethod, lookup, params);
    }
    return { kind: 'none' };
  }
}

function pick(byMethod: Map<string, Route>, method: string, params: Record<string, string>): RouteMatch {
  const route = byMethod.get(method);
  if (route) return { kind: 'found', route, params };
  return { kind: 'wrong-method', allowed: [...byMethod.keys()] };
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i]!;
    if (segment.startsWith(':')) {
      if (parts[i] === '') return null;
      try {
        params[segment.slice(1)] = decodeURIComponent(parts[i]!);
      } catch {
        return null;
      }
    } else if (segment !== parts[i]) {
      return null;
    }
  }
  return params;
}

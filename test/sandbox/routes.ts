/**
 * The Didit v3 routes the sandbox serves, with their methods and rate-limit scopes
 * (didit-api.md §2, §7.3). Canonical paths end in `/`, as on Didit.
 */
import { MANAGEMENT_ROUTES } from './management-routes.ts';
import type { RateScope } from './rate-limit.ts';
import type { Reply } from './reply.ts';
import { NOT_FOUND, detailReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { Route, RouteContext } from './route.ts';
import { SESSION_ROUTES } from './session-routes.ts';
import { STANDALONE_ROUTES } from './standalone-routes.ts';

const ROUTES: readonly Route[] = [...SESSION_ROUTES, ...STANDALONE_ROUTES, ...MANAGEMENT_ROUTES];

function routesFor(path: string): Array<{ route: Route; params: string[] }> {
  const found: Array<{ route: Route; params: string[] }> = [];
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match !== null) found.push({ route, params: match.slice(1) });
  }
  return found;
}

/**
 * Like Django's APPEND_SLASH: a path without its trailing slash whose slashed form is a route gets a
 * 301 to it (didit-api.md §2). Returns the Location, keeping the query string.
 */
export function slashRedirect(path: string, search: string): string | null {
  if (path.endsWith('/') || routesFor(`${path}/`).length === 0) return null;
  return `${path}/${search}`;
}

/** Which rate-limit budget a request spends; unknown paths use the generic one. */
export function scopeOf(method: string, path: string): RateScope {
  const found = routesFor(path).find(({ route }) => route.method === method);
  return found?.route.scope ?? 'other';
}

export function dispatch(method: string, path: string, body: ParsedBody, ctx: RouteContext): Reply {
  const found = routesFor(path);
  if (found.length === 0) return NOT_FOUND;
  const match = found.find(({ route }) => route.method === method);
  if (match === undefined) {
    const allow = found.map(({ route }) => route.method).join(', ');
    return detailReply(405, `Method "${method}" not allowed.`, { Allow: allow });
  }
  return match.route.handle(match.params, body, ctx);
}

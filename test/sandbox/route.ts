/**
 * The shape of one sandbox route. Each area of Didit's API has its own module exporting a list of
 * these (session-routes.ts, standalone-routes.ts, management-routes.ts); routes.ts joins them.
 */
import type { RateScope } from './rate-limit.ts';
import type { Reply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { SessionStore } from './sessions.ts';

export interface RouteContext {
  readonly sessions: SessionStore;
  /** Query string parameters (last value wins). */
  readonly query: Readonly<Record<string, string>>;
  /** State of the area modules, keyed by area; cleared by `Sandbox.reset()`. */
  readonly areas: Map<string, unknown>;
}

export interface Route {
  readonly pattern: RegExp;
  readonly method: string;
  readonly scope: RateScope;
  handle(params: string[], body: ParsedBody, ctx: RouteContext): Reply;
}

/** The state object of one area, created on first use and after each reset. */
export function areaState<T>(ctx: RouteContext, area: string, create: () => T): T {
  let state = ctx.areas.get(area) as T | undefined;
  if (state === undefined) {
    state = create();
    ctx.areas.set(area, state);
  }
  return state;
}

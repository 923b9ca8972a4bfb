/**
 * Standalone APIs (didit-api.md §5): one request, one billed answer, no hosted session.
 */
import { amlScreening } from './aml.ts';
import { idVerification } from './id-verification.ts';
import type { Route } from './route.ts';

export const STANDALONE_ROUTES: readonly Route[] = [
  { pattern: /^\/v3\/id-verification\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => idVerification(body, ctx.sessions) },
  { pattern: /^\/v3\/aml\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => amlScreening(body, ctx.sessions) },
];

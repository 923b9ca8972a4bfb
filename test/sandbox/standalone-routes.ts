/**
 * Standalone APIs (didit-api.md §5): one request, one billed answer, no hosted session.
 */
import { amlScreening } from './aml.ts';
import { databaseValidation } from './database-validation.ts';
import { ageEstimation, faceMatch, faceSearch, passiveLiveness } from './face.ts';
import { idVerification } from './id-verification.ts';
import { emailCheck, emailSend, phoneCheck, phoneSend } from './otp.ts';
import { proofOfAddress } from './proof-of-address.ts';
import type { Route } from './route.ts';

export const STANDALONE_ROUTES: readonly Route[] = [
  { pattern: /^\/v3\/id-verification\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => idVerification(body, ctx.sessions) },
  { pattern: /^\/v3\/aml\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => amlScreening(body, ctx.sessions) },
  { pattern: /^\/v3\/passive-liveness\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => passiveLiveness(body, ctx) },
  { pattern: /^\/v3\/face-match\/$/, method: 'POST', scope: 'other', handle: (_, body) => faceMatch(body) },
  { pattern: /^\/v3\/face-search\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => faceSearch(body, ctx) },
  { pattern: /^\/v3\/age-estimation\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => ageEstimation(body, ctx) },
  { pattern: /^\/v3\/poa\/$/, method: 'POST', scope: 'other', handle: (_, body) => proofOfAddress(body) },
  { pattern: /^\/v3\/database-validation\/$/, method: 'POST', scope: 'other', handle: (_, body) => databaseValidation(body) },
  { pattern: /^\/v3\/email\/send\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => emailSend(body, ctx) },
  { pattern: /^\/v3\/email\/check\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => emailCheck(body, ctx) },
  { pattern: /^\/v3\/phone\/send\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => phoneSend(body, ctx) },
  { pattern: /^\/v3\/phone\/check\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => phoneCheck(body, ctx) },
];

/**
 * The Lambda entry point of the Didit webhook receiver (`POST /v1/webhooks/didit`). No IAM authoriser on
 * this route: Didit cannot sign SigV4 requests; every delivery is authenticated by its HMAC signatures,
 * checked with the sealed webhook secret; one signed by X-Signature-Simple alone is completed with the session's
 * decision from Didit (sealed API key), never its unsigned body (see lib/adapters/webhooks/handler.ts).
 */
import { traced } from '../lib/observability/tracing.ts';
import { createWebhookHandler } from '../lib/adapters/webhooks/handler.ts';

/** `POST /v1/webhooks/didit`: see {@link createWebhookHandler} (the order of checks, and every answer). */
export const handler = traced(createWebhookHandler());

/**
 * What each Lambda function of the stack may touch, derived from the operation table. This is the one
 * place that decides least privilege: the generated roles (resources.yml), the principal lists the key
 * and secret policies of serverless.yml use (principals.yml) and the template tests all read it.
 *
 *   - every table entry reads the sealed Didit API key (GetSecretValue + kms:Decrypt, purpose didit-api-key);
 *   - an entry whose `postprocess` is `sealWebhookSecret` also seals webhook secrets (kms:Encrypt with purpose
 *     didit-webhook-secret, PutSecretValue on the webhook secret): derived from the table, not from names;
 *   - the webhook receiver reads the sealed webhook secret (purpose didit-webhook-secret), uses the dedupe
 *     table and publishes to the event bus;
 *   - the documentation function needs no AWS permission beyond writing its own logs.
 */
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';

/**
 * The one function that is not a table entry and calls neither Didit nor KMS: it serves the API's OpenAPI
 * document (infra/openapi/openapi.json, bundled into it). IAM auth like every other route (the document
 * holds no secret, but nothing here is public).
 */
export const DOCS_FUNCTION = {
  name: 'openApiDocument',
  handler: 'functions/openapi.handler',
  summary: 'The OpenAPI 3.1 description of this API (generated from the operation table)',
  route: { method: 'GET', path: '/v1/openapi.json' },
  timeoutSeconds: 5,
} as const;

/**
 * The Didit webhook receiver (functions/webhook.ts). NO authoriser: Didit cannot sign SigV4 requests; each
 * delivery is authenticated by its HMAC signatures, checked with the sealed webhook secret (lib/webhooks/).
 */
export const WEBHOOK_FUNCTION = {
  name: 'diditWebhook',
  handler: 'functions/webhook.handler',
  summary: 'Receive Didit webhook deliveries (HMAC-authenticated), deduplicate them and publish them to EventBridge',
  route: { method: 'POST', path: '/v1/webhooks/didit' },
  timeoutSeconds: 10,
} as const;

export type FunctionKind = 'operation' | 'webhook' | 'docs';

export interface FunctionAccess {
  readonly name: string;
  /** serverless's normalised function name: `createSession` → `CreateSession` (logical-id prefix). */
  readonly logicalName: string;
  readonly kind: FunctionKind;
  /** GetSecretValue on the API-key secret, kms:Decrypt with purpose didit-api-key. */
  readonly readsApiKey: boolean;
  /** kms:Encrypt with purpose didit-webhook-secret, PutSecretValue on the webhook secret. */
  readonly sealsWebhookSecret: boolean;
  /** GetSecretValue on the webhook secret, kms:Decrypt with purpose didit-webhook-secret. */
  readonly readsWebhookSecret: boolean;
  /** GetItem/PutItem/UpdateItem/DeleteItem on the idempotency table. */
  readonly usesDedupeTable: boolean;
  /** events:PutEvents on the gateway's bus. */
  readonly publishesEvents: boolean;
}

/** serverless's `getNormalizedFunctionName` for the names we allow (letters and digits only). */
export function logicalNameOf(name: string): string {
  if (!/^[a-z][A-Za-z0-9]*$/.test(name)) throw new Error(`function name ${JSON.stringify(name)} must be camelCase letters and digits`);
  return name[0]!.toUpperCase() + name.slice(1);
}

/** Every function of the stack, sorted by name (the generated files must not depend on module key order). */
export function functionAccess(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): FunctionAccess[] {
  for (const reserved of [DOCS_FUNCTION.name, WEBHOOK_FUNCTION.name]) {
    if (Object.hasOwn(operations, reserved)) {
      throw new Error(`the operation table must not have an entry named ${reserved} (a function of its own)`);
    }
  }
  const none = { readsApiKey: false, sealsWebhookSecret: false, readsWebhookSecret: false, usesDedupeTable: false, publishesEvents: false };
  const out: FunctionAccess[] = Object.entries(operations).map(([name, spec]) => ({
    ...none,
    name,
    logicalName: logicalNameOf(name),
    kind: 'operation',
    readsApiKey: true,
    sealsWebhookSecret: spec.postprocess === 'sealWebhookSecret',
  }));
  out.push({
    ...none,
    name: WEBHOOK_FUNCTION.name,
    logicalName: logicalNameOf(WEBHOOK_FUNCTION.name),
    kind: 'webhook',
    readsWebhookSecret: true,
    usesDedupeTable: true,
    publishesEvents: true,
  });
  out.push({ ...none, name: DOCS_FUNCTION.name, logicalName: logicalNameOf(DOCS_FUNCTION.name), kind: 'docs' });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Logical ids of the CloudFormation resources a function owns (serverless names the first two). */
export function logicalIds(fn: Pick<FunctionAccess, 'logicalName'>): {
  function: string;
  logGroup: string;
  role: string;
  errorsAlarm: string;
  throttlesAlarm: string;
} {
  return {
    function: `${fn.logicalName}LambdaFunction`,
    logGroup: `${fn.logicalName}LogGroup`,
    role: `${fn.logicalName}LambdaRole`,
    errorsAlarm: `${fn.logicalName}ErrorsAlarm`,
    throttlesAlarm: `${fn.logicalName}ThrottlesAlarm`,
  };
}

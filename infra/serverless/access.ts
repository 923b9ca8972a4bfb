/**
 * What each Lambda function of the stack may touch, derived from the operation table. This is the one
 * place that decides least privilege: the generated roles (resources.yml), the principal lists the key
 * and secret policies of serverless.yml use (principals.yml) and the template tests all read it.
 *
 *   - every table entry reads the sealed Didit API key (GetSecretValue + kms:Decrypt, purpose didit-api-key);
 *   - an entry whose `postprocess` is `sealWebhookSecret` also seals webhook secrets (kms:Encrypt with purpose
 *     didit-webhook-secret, PutSecretValue on the webhook secret): derived from the table, not from names;
 *   - the webhook receiver reads the sealed webhook secret (purpose didit-webhook-secret), uses the dedupe
 *     table and publishes to the event bus; it also reads the sealed API key, for the one Didit call it makes:
 *     the decision of a delivery signed by X-Signature-Simple alone (lib/adapters/webhooks/decision.ts);
 *   - the documentation function needs no AWS permission beyond writing its own logs;
 *   - the event-driven functions (EVENT_FUNCTIONS below: jobs, S3 uploads, the sign-up trigger) declare what
 *     they touch one by one, as their authors specified it.
 */
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { isPaidOperation } from '../../lib/spend-cap/paid.ts';

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
 * delivery is authenticated by its HMAC signatures, checked with the sealed webhook secret (lib/adapters/webhooks/).
 */
export const WEBHOOK_FUNCTION = {
  name: 'diditWebhook',
  handler: 'functions/webhook.handler',
  summary: 'Receive Didit webhook deliveries (HMAC-authenticated), deduplicate them and publish them to EventBridge',
  route: { method: 'POST', path: '/v1/webhooks/didit' },
  timeoutSeconds: 10,
} as const;

export type FunctionKind = 'operation' | 'webhook' | 'docs' | 'event';

/** The DynamoDB item actions a function may have on the jobs table. */
export type ItemAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem';

/**
 * What a function may do with the stack's resources (all off = nothing but its own logs). The webhook-secret
 * flags are FunctionAccess's own: only the table and the webhook receiver have them.
 */
export interface ResourceAccess {
  /** GetSecretValue on the API-key secret, kms:Decrypt with purpose didit-api-key. */
  readonly readsApiKey: boolean;
  /** GetItem/PutItem/UpdateItem/DeleteItem on the idempotency table. */
  readonly usesDedupeTable: boolean;
  /** events:PutEvents on the gateway's bus. */
  readonly publishesEvents: boolean;
  /** DynamoDB item actions on the jobs table (JobsTable), exactly these. */
  readonly jobsTable: readonly ItemAction[];
  /**
   * The job queue (JobsQueue): `send` = sqs:SendMessage; `consume` = what the SQS event source mapping and the
   * batch worker need (ReceiveMessage, DeleteMessage, GetQueueAttributes, ChangeMessageVisibility).
   */
  readonly jobsQueue: 'send' | 'consume' | undefined;
  /**
   * Job results, envelope-encrypted under the secrets key with purpose didit-job-result: `seal` =
   * kms:GenerateDataKey, `open` = kms:Decrypt, each only under {service, stage, purpose: didit-job-result}.
   */
  readonly jobResults: 'seal' | 'open' | undefined;
  /**
   * The upload intake bucket (objects under `intake/` only) and its KMS key (UploadsKey, only via S3):
   * `presign` = s3:PutObject + kms:GenerateDataKey (the presigned PUTs run as this role);
   * `intake` = s3:GetObject, s3:DeleteObject, s3:ListBucket (prefix intake/) + kms:Decrypt.
   */
  readonly uploads: 'presign' | 'intake' | undefined;
  /** sqs:SendMessage on TriggerDeadLetterQueue (the on-failure destination of its asynchronous invocations). */
  readonly sendsToTriggerDlq: boolean;
  /**
   * Makes paid Didit calls: counted against the daily cap (lib/spend-cap/: UpdateItem on the counter items
   * `spend-cap#<stage>#*` of the idempotency table only) and covered by the `paidReservedConcurrency` param.
   */
  readonly countsPaidCalls: boolean;
}

/**
 * The event-driven functions (issue 4): asynchronous jobs (functions/jobs.ts), S3 uploads
 * (functions/uploads.ts) and the `user.signup` trigger (functions/signup.ts). What triggers each one (route,
 * SQS, S3 notification, EventBridge rule) is in functions.ts / serverless.yml; what it may touch is here.
 */
export interface EventFunctionSpec {
  readonly name: string;
  readonly handler: string;
  readonly summary: string;
  /** An API route (IAM auth, `apiAuthorizer`), for the functions callers invoke directly. */
  readonly route?: { readonly method: 'GET' | 'POST'; readonly path: string };
  readonly timeoutSeconds: number;
  /** MB; the provider's 512 when absent. */
  readonly memorySize?: number;
  readonly access: Partial<ResourceAccess>;
}

export const EVENT_FUNCTIONS: readonly EventFunctionSpec[] = [
  {
    name: 'submitJob',
    handler: 'functions/jobs.submitJob',
    summary: 'Validate an operation request, record it as a job and queue it (202 with the job id)',
    // One path parameter name: API Gateway cannot have sibling {operation} and {jobId} resources; the handler reads `id`.
    route: { method: 'POST', path: '/v1/jobs/{id}' },
    timeoutSeconds: 10,
    access: { jobsTable: ['PutItem', 'DeleteItem'], jobsQueue: 'send' },
  },
  {
    name: 'getJob',
    handler: 'functions/jobs.getJob',
    summary: 'The status of a job, and its decrypted result once it succeeded',
    route: { method: 'GET', path: '/v1/jobs/{id}' },
    timeoutSeconds: 10,
    access: { jobsTable: ['GetItem'], jobResults: 'open' },
  },
  {
    name: 'jobWorker',
    handler: 'functions/jobs.worker',
    summary: 'Run queued jobs (SQS batches): one Didit call per job at most, results sealed with a KMS data key',
    timeoutSeconds: 90,
    memorySize: 512,
    access: {
      readsApiKey: true,
      jobResults: 'seal',
      jobsTable: ['GetItem', 'UpdateItem'],
      usesDedupeTable: true,
      publishesEvents: true,
      jobsQueue: 'consume',
      countsPaidCalls: true,
    },
  },
  {
    name: 'createUploadUrl',
    handler: 'functions/uploads.createUploadUrl',
    summary: 'Presigned S3 PUT URLs (SSE-KMS) for the files of a file operation and its manifest',
    route: { method: 'POST', path: '/v1/uploads' },
    timeoutSeconds: 10,
    access: { uploads: 'presign' },
  },
  {
    name: 'onUpload',
    handler: 'functions/uploads.onUpload',
    summary: 'Run the operation of an uploaded manifest (S3 notification) once, delete the objects, publish the outcome',
    timeoutSeconds: 90,
    memorySize: 1024,
    access: { readsApiKey: true, uploads: 'intake', usesDedupeTable: true, publishesEvents: true, sendsToTriggerDlq: true, countsPaidCalls: true },
  },
  {
    name: 'onSignup',
    handler: 'functions/signup.onSignup',
    summary: 'Create one Didit session per user.signup event and publish its link',
    timeoutSeconds: 20,
    access: { readsApiKey: true, usesDedupeTable: true, publishesEvents: true, sendsToTriggerDlq: true, countsPaidCalls: true },
  },
];

export interface FunctionAccess extends ResourceAccess {
  readonly name: string;
  /** serverless's normalised function name: `createSession` → `CreateSession` (logical-id prefix). */
  readonly logicalName: string;
  readonly kind: FunctionKind;
  /** kms:Encrypt with purpose didit-webhook-secret, PutSecretValue on the webhook secret. */
  readonly sealsWebhookSecret: boolean;
  /** GetSecretValue on the webhook secret, kms:Decrypt with purpose didit-webhook-secret. */
  readonly readsWebhookSecret: boolean;
}

/** serverless's `getNormalizedFunctionName` for the names we allow (letters and digits only). */
export function logicalNameOf(name: string): string {
  if (!/^[a-z][A-Za-z0-9]*$/.test(name)) throw new Error(`function name ${JSON.stringify(name)} must be camelCase letters and digits`);
  return name[0]!.toUpperCase() + name.slice(1);
}

/** Every function of the stack, sorted by name (the generated files must not depend on module key order). */
export function functionAccess(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): FunctionAccess[] {
  for (const reserved of [DOCS_FUNCTION.name, WEBHOOK_FUNCTION.name, ...EVENT_FUNCTIONS.map((fn) => fn.name)]) {
    if (Object.hasOwn(operations, reserved)) {
      throw new Error(`the operation table must not have an entry named ${reserved} (a function of its own)`);
    }
  }
  const none = {
    readsApiKey: false,
    sealsWebhookSecret: false,
    readsWebhookSecret: false,
    usesDedupeTable: false,
    publishesEvents: false,
    jobsTable: [],
    jobsQueue: undefined,
    jobResults: undefined,
    uploads: undefined,
    sendsToTriggerDlq: false,
    countsPaidCalls: false,
  } satisfies Omit<FunctionAccess, 'name' | 'logicalName' | 'kind'>;
  const out: FunctionAccess[] = Object.entries(operations).map(([name, spec]) => ({
    ...none,
    name,
    logicalName: logicalNameOf(name),
    kind: 'operation',
    readsApiKey: true,
    sealsWebhookSecret: spec.postprocess === 'sealWebhookSecret',
    countsPaidCalls: isPaidOperation(spec),
  }));
  out.push({
    ...none,
    name: WEBHOOK_FUNCTION.name,
    logicalName: logicalNameOf(WEBHOOK_FUNCTION.name),
    kind: 'webhook',
    readsWebhookSecret: true,
    // A Simple-only delivery is completed with retrieveDecision (sealed API key), not with its unsigned body.
    readsApiKey: true,
    usesDedupeTable: true,
    publishesEvents: true,
  });
  out.push({ ...none, name: DOCS_FUNCTION.name, logicalName: logicalNameOf(DOCS_FUNCTION.name), kind: 'docs' });
  for (const spec of EVENT_FUNCTIONS) {
    out.push({ ...none, ...spec.access, name: spec.name, logicalName: logicalNameOf(spec.name), kind: 'event' });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Logical ids of the CloudFormation resources a function owns (serverless names the first two). Its alarms are
 * shared with the functions of its nested stack (resources.ts functionAlarms).
 */
export function logicalIds(fn: Pick<FunctionAccess, 'logicalName'>): {
  function: string;
  logGroup: string;
  role: string;
} {
  return {
    function: `${fn.logicalName}LambdaFunction`,
    logGroup: `${fn.logicalName}LogGroup`,
    role: `${fn.logicalName}LambdaRole`,
  };
}

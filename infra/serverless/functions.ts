// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are serverless and CloudFormation variables, not JS templates.
import { dump } from 'js-yaml';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { DOCS_FUNCTION, EVENT_FUNCTIONS, type FunctionAccess, functionAccess, logicalIds, WEBHOOK_FUNCTION } from './access.ts';
import { STACK } from './resources.ts';

export { DOCS_FUNCTION, EVENT_FUNCTIONS, WEBHOOK_FUNCTION } from './access.ts';

/** Seconds added to the Didit budget so the function can answer, audit and zero the key first. */
const MARGIN_SECONDS = 3;

/**
 * The authoriser of every route except the webhook: `aws_iam` unless a stage sets the `apiAuthorizer`
 * param (see serverless.yml: the optional JWT / Cognito switch).
 */
export const API_AUTHORIZER = '${param:apiAuthorizer}';

/** Reserved concurrency of each function that makes paid Didit calls (`paidReservedConcurrency`; unset = none). */
export const PAID_RESERVED_CONCURRENCY = '${param:paidReservedConcurrency, null}';

/**
 * Environment of each kind of function: non-secret configuration only (ids, names, URLs). The values are
 * serverless params, so the `local` stage (serverless-offline) can take them from its environment while a
 * deployed stage points them at the stack's own resources.
 */
function environmentOf(fn: FunctionAccess): Record<string, string> | undefined {
  const env: Record<string, string> = {};
  if (fn.kind === 'operation') env['OPERATION'] = fn.name;
  if (fn.readsApiKey) {
    env['SEALED_KEY_SECRET_ID'] = '${param:sealedKeySecretId}';
    env['DIDIT_BASE_URL'] = '${param:diditBaseUrl}';
    env['DIDIT_CA_FILE'] = '${param:diditCaFile}';
  }
  if (fn.sealsWebhookSecret || fn.readsWebhookSecret) env['WEBHOOK_SECRET_SECRET_ID'] = '${param:webhookSecretSecretId}';
  if (fn.readsApiKey || fn.readsWebhookSecret || fn.sealsWebhookSecret) {
    // The key to Decrypt with (and to Encrypt with, for the sealing functions): KMS refuses a ciphertext of another key.
    env['KMS_KEY_ID'] = '${param:kmsKeyId}';
    env['CIPHERTEXT_TTL_SECONDS'] = '${param:ciphertextTtlSeconds}';
  }
  if (fn.usesDedupeTable) env['IDEMPOTENCY_TABLE'] = '${param:idempotencyTableName}';
  if (fn.publishesEvents) env['EVENT_BUS_NAME'] = '${param:eventBusName}';
  if (fn.jobsTable.length > 0) env['JOBS_TABLE'] = '${param:jobsTableName}';
  if (fn.jobsQueue === 'send') env['JOBS_QUEUE_URL'] = '${param:jobsQueueUrl}';
  // Job results are sealed under the secrets key (purpose didit-job-result): its ARN, like KMS_KEY_ID.
  if (fn.jobResults !== undefined) env['JOB_RESULT_KMS_KEY_ID'] = '${param:kmsKeyId}';
  if (fn.uploads !== undefined) {
    env['UPLOAD_BUCKET'] = '${param:uploadBucketName}';
    env['S3_FORCE_PATH_STYLE'] = '${param:s3ForcePathStyle}';
  }
  if (fn.uploads === 'presign') env['UPLOAD_KMS_KEY_ID'] = '${param:uploadKmsKeyId}';
  if (fn.countsPaidCalls) {
    env['DAILY_PAID_CALL_CAP'] = '${param:dailyPaidCallCap}';
    env['SPEND_CAP_TABLE'] = '${param:spendCounterTableName}';
  }
  Object.assign(env, EVENT_SETTINGS[fn.name] ?? {});
  return Object.keys(env).length > 0 ? env : undefined;
}

/** Settings of the event-driven functions that are not references to what they may touch (serverless params). */
const EVENT_SETTINGS: Readonly<Record<string, Record<string, string>>> = {
  submitJob: { JOB_TTL_SECONDS: '${param:jobTtlSeconds}', JOB_MAX_MESSAGE_BYTES: '${param:jobMaxMessageBytes}' },
  jobWorker: { JOB_TTL_SECONDS: '${param:jobTtlSeconds}' },
  createUploadUrl: { UPLOAD_URL_EXPIRES_SECONDS: '${param:uploadUrlExpiresSeconds}' },
  onSignup: { DEFAULT_WORKFLOW_ID: '${param:defaultWorkflowId}', SIGNUP_CALLBACK_URL: '${param:signupCallbackUrl}' },
  diditWebhook: { WEBHOOK_ACCEPT_SIMPLE: '${param:webhookAcceptSimple}' },
};

/**
 * Name of the sign-up rule (explicit, so TriggerDeadLetterQueue's policy in serverless.yml can name its ARN:
 * serverless's own rule logical id depends on the stage).
 */
export const SIGNUP_RULE_NAME = '${self:service}-${sls:stage}-signup';

/** The EventBridge pattern of the sign-up trigger (lib/adapters/triggers/README.md). */
export const SIGNUP_EVENT_PATTERN = { source: ['app.users'], 'detail-type': ['user.signup'] } as const;

const triggerDlq = { type: 'sqs', arn: { 'Fn::GetAtt': [STACK.triggerDeadLetterQueue, 'Arn'] } } as const;

/**
 * What invokes each event-driven function besides an API route, and how failures are kept. onUpload's S3
 * notification is declared on the bucket in serverless.yml (a serverless `s3` event on a bucket of the same
 * stack would make the bucket depend on the function and the function's environment on the bucket).
 */
const EVENT_TRIGGERS: Readonly<Record<string, Record<string, unknown>>> = {
  jobWorker: {
    events: [
      {
        sqs: {
          arn: { 'Fn::GetAtt': [STACK.jobsQueue, 'Arn'] },
          batchSize: 5,
          maximumBatchingWindow: 1,
          // Only the failed messages return to the queue (and, after maxReceiveCount, its DLQ).
          functionResponseType: 'ReportBatchItemFailures',
          // At most 5 concurrent batches: Didit's rate limit, not Lambda's, is the bottleneck.
          maximumConcurrency: 5,
        },
      },
    ],
  },
  onUpload: {
    // Asynchronous (S3): two retries within an hour, then the event goes to TriggerDeadLetterQueue.
    maximumRetryAttempts: 2,
    maximumEventAge: 3600,
    destinations: { onFailure: triggerDlq },
  },
  onSignup: {
    maximumRetryAttempts: 2,
    destinations: { onFailure: triggerDlq },
    events: [
      {
        eventBridge: {
          name: SIGNUP_RULE_NAME,
          // 'default' or the ARN of an existing bus: a plain name makes serverless CREATE a bus of that name.
          eventBus: '${param:signupEventBusName}',
          pattern: SIGNUP_EVENT_PATTERN,
          // EventBridge's own retries (24 h, the maximum), then its target DLQ; the handler dedupes on the event id.
          retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 185 },
          deadLetterQueueArn: { 'Fn::GetAtt': [STACK.triggerDeadLetterQueue, 'Arn'] },
        },
      },
    ],
  },
};

function pathParameters(path: string): Record<string, unknown> {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  return names.length > 0 ? { request: { parameters: { paths: Object.fromEntries(names.map((p) => [p, true])) } } } : {};
}

/**
 * The `functions:` block of serverless.yml, derived from the operation table: one Lambda per operation,
 * all running `functions/operation.handler`, told which operation they are by the OPERATION variable, plus
 * the documentation function, the webhook receiver and the event-driven functions (jobs, uploads, sign-up).
 * Each function has its own IAM role (generated into
 * resources.yml by resources.ts). Adding an operation to the table adds its function, route and role here.
 */
export function serverlessFunctions(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): Record<string, unknown> {
  const entries = functionAccess(operations).map((fn): [string, unknown] => {
    const base = {
      role: logicalIds(fn).role,
      // Off by default (null drops the property: new accounts cannot reserve any); a number per stage caps how
      // many paid calls can run at once, below Didit's rate limits.
      ...(fn.countsPaidCalls ? { reservedConcurrency: PAID_RESERVED_CONCURRENCY } : {}),
    };
    const environment = environmentOf(fn);
    if (fn.kind === 'operation') {
      const spec = operations[fn.name]!;
      return [
        fn.name,
        {
          handler: 'functions/operation.handler',
          description: spec.summary,
          timeout: Math.ceil(spec.timeoutMs / 1000) + MARGIN_SECONDS,
          ...base,
          environment,
          events: [
            {
              http: {
                method: spec.route.method.toLowerCase(),
                path: spec.route.path,
                authorizer: API_AUTHORIZER,
                ...pathParameters(spec.route.path),
              },
            },
          ],
        },
      ];
    }
    if (fn.kind === 'webhook') {
      return [
        fn.name,
        {
          handler: WEBHOOK_FUNCTION.handler,
          description: WEBHOOK_FUNCTION.summary,
          timeout: WEBHOOK_FUNCTION.timeoutSeconds,
          ...base,
          environment,
          // No `authorizer`: deliberately public, authenticated by HMAC in the handler.
          events: [{ http: { method: WEBHOOK_FUNCTION.route.method.toLowerCase(), path: WEBHOOK_FUNCTION.route.path } }],
        },
      ];
    }
    if (fn.kind === 'event') {
      const spec = EVENT_FUNCTIONS.find((e) => e.name === fn.name)!;
      const trigger = EVENT_TRIGGERS[fn.name] ?? {};
      const events = [
        ...(spec.route
          ? [{ http: { method: spec.route.method.toLowerCase(), path: spec.route.path, authorizer: API_AUTHORIZER, ...pathParameters(spec.route.path) } }]
          : []),
        ...((trigger['events'] as unknown[] | undefined) ?? []),
      ];
      return [
        fn.name,
        {
          handler: spec.handler,
          description: spec.summary,
          timeout: spec.timeoutSeconds,
          ...(spec.memorySize !== undefined ? { memorySize: spec.memorySize } : {}),
          ...base,
          environment,
          ...trigger,
          ...(events.length > 0 ? { events } : {}),
        },
      ];
    }
    return [
      fn.name,
      {
        handler: DOCS_FUNCTION.handler,
        description: DOCS_FUNCTION.summary,
        timeout: DOCS_FUNCTION.timeoutSeconds,
        ...base,
        events: [{ http: { method: DOCS_FUNCTION.route.method.toLowerCase(), path: DOCS_FUNCTION.route.path, authorizer: API_AUTHORIZER } }],
      },
    ];
  });
  return Object.fromEntries(entries);
}

export const GENERATED_HEADER = [
  '# GENERATED from lib/operations/table.ts and infra/serverless/access.ts by `npm run generate`: do not edit by hand.',
  '# serverless.yml includes it as `functions`; a unit test fails when it is stale.',
  '',
].join('\n');

export function renderFunctionsYaml(): string {
  return GENERATED_HEADER + dump(serverlessFunctions(), { lineWidth: 120, noRefs: true });
}

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are serverless and CloudFormation variables, not JS templates.
import { dump } from 'js-yaml';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { DOCS_FUNCTION, type FunctionAccess, functionAccess, logicalIds, WEBHOOK_FUNCTION } from './access.ts';

export { DOCS_FUNCTION, WEBHOOK_FUNCTION } from './access.ts';

/** Seconds added to the Didit budget so the function can answer, audit and zero the key first. */
const MARGIN_SECONDS = 3;

/**
 * The authoriser of every route except the webhook: `aws_iam` unless a stage sets the `apiAuthorizer`
 * param (see serverless.yml: the optional JWT / Cognito switch).
 */
export const API_AUTHORIZER = '${param:apiAuthorizer}';

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
  return Object.keys(env).length > 0 ? env : undefined;
}

function pathParameters(path: string): Record<string, unknown> {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  return names.length > 0 ? { request: { parameters: { paths: Object.fromEntries(names.map((p) => [p, true])) } } } : {};
}

/**
 * The `functions:` block of serverless.yml, derived from the operation table: one Lambda per operation,
 * all running `functions/operation.handler`, told which operation they are by the OPERATION variable, plus
 * the documentation function and the webhook receiver. Each function has its own IAM role (generated into
 * resources.yml by resources.ts). Adding an operation to the table adds its function, route and role here.
 */
export function serverlessFunctions(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): Record<string, unknown> {
  const entries = functionAccess(operations).map((fn): [string, unknown] => {
    const base = { role: logicalIds(fn).role };
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
  '# GENERATED from lib/operations/table.ts by `npm run generate`: do not edit by hand.',
  '# serverless.yml includes it as `functions`; a unit test fails when it is stale.',
  '',
].join('\n');

export function renderFunctionsYaml(): string {
  return GENERATED_HEADER + dump(serverlessFunctions(), { lineWidth: 120, noRefs: true });
}

import { dump } from 'js-yaml';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';

/** Seconds added to the Didit budget so the function can answer, audit and zero the key first. */
const MARGIN_SECONDS = 3;

/**
 * The `functions:` block of serverless.yml, derived from the operation table: one Lambda per
 * operation, all running `functions/operation.handler`, told which operation they are by the
 * OPERATION variable. Adding an operation to the table adds its function and route here.
 */
export function serverlessFunctions(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Sorted: the file must not depend on how a module loader orders namespace keys.
  for (const [name, spec] of Object.entries(operations).sort(([a], [b]) => a.localeCompare(b))) {
    const pathParams = [...spec.route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    out[name] = {
      handler: 'functions/operation.handler',
      description: spec.summary,
      timeout: Math.ceil(spec.timeoutMs / 1000) + MARGIN_SECONDS,
      environment: { OPERATION: name },
      events: [
        {
          http: {
            method: spec.route.method.toLowerCase(),
            path: spec.route.path,
            authorizer: 'aws_iam',
            ...(pathParams.length > 0
              ? { request: { parameters: { paths: Object.fromEntries(pathParams.map((p) => [p, true])) } } }
              : {}),
          },
        },
      ],
    };
  }
  return out;
}

export const GENERATED_HEADER = [
  '# GENERATED from lib/operations/table.ts by `npm run generate`: do not edit by hand.',
  '# serverless.yml includes it as `functions`; a unit test fails when it is stale.',
  '',
].join('\n');

export function renderFunctionsYaml(): string {
  return GENERATED_HEADER + dump(serverlessFunctions(), { lineWidth: 120, noRefs: true });
}

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are serverless and CloudFormation variables, not JS templates.
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, operationNamed } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { SERVICE_NAME } from '../../lib/sealed-key/encryption-context.ts';
import { functionAccess } from '../../infra/serverless/access.ts';
import { API_AUTHORIZER, DOCS_FUNCTION, renderFunctionsYaml, WEBHOOK_FUNCTION } from '../../infra/serverless/functions.ts';
import { renderPrincipalsYaml, renderResourcesYaml } from '../../infra/serverless/resources.ts';

// serverless.yml takes its functions, per-function resources and policy principals from files generated
// from the operation table. The packaged template itself is checked by template-security.test.ts.
interface HttpEvent {
  http: { method: string; path: string; authorizer?: string };
}
interface Fn {
  handler: string;
  timeout: number;
  role: string;
  environment?: Record<string, string>;
  events: HttpEvent[];
}
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
// Plain js-yaml: serverless.yml must not use CloudFormation short-form tags (!Ref), or this throws.
const text = read('serverless.yml');
const config = load(text) as {
  service: string;
  plugins: string[];
  functions: string;
  resources: unknown[];
  custom: { principals: string };
  params: { default: Record<string, unknown> };
  provider: { environment: Record<string, string>; runtime: string; iam?: unknown };
};
const generated = read('infra/serverless/functions.yml');
const functions = load(generated) as Record<string, Fn>;

describe('serverless.yml and the operation table', () => {
  it('includes the generated files, which are up to date (run `npm run generate`)', () => {
    expect(config.functions).toBe('${file(./infra/serverless/functions.yml)}');
    expect(config.resources).toContain('${file(./infra/serverless/resources.yml)}');
    expect(config.custom.principals).toBe('${file(./infra/serverless/principals.yml)}');
    expect(generated).toBe(renderFunctionsYaml());
    expect(read('infra/serverless/resources.yml')).toBe(renderResourcesYaml());
    expect(read('infra/serverless/principals.yml')).toBe(renderPrincipalsYaml());
  });

  it('names the service as the encryption context does, and loads the stage plugin', () => {
    expect(config.service).toBe(SERVICE_NAME);
    expect(config.plugins).toContain('./infra/serverless/api-stage-plugin.cjs');
    // No shared execution role: every function has its own.
    expect(config.provider.iam).toBeUndefined();
    expect(config.params.default['apiAuthorizer']).toBe('aws_iam');
  });

  it('has exactly one function per operation, plus the documentation function and the webhook receiver', () => {
    expect(Object.keys(functions).sort()).toEqual([...Object.keys(OPERATIONS), DOCS_FUNCTION.name, WEBHOOK_FUNCTION.name].sort());
    expect(Object.keys(OPERATIONS)).not.toContain(DOCS_FUNCTION.name);
    expect(Object.keys(OPERATIONS)).not.toContain(WEBHOOK_FUNCTION.name);
  });

  it('each function has a role of its own', () => {
    const roles = Object.values(functions).map((fn) => fn.role);
    expect(new Set(roles).size).toBe(roles.length);
    for (const [name, fn] of Object.entries(functions)) expect(fn.role).toBe(`${name[0]!.toUpperCase()}${name.slice(1)}LambdaRole`);
  });

  it('the documentation function: its own handler, GET /v1/openapi.json with the API authoriser, no environment', () => {
    const fn = functions[DOCS_FUNCTION.name]!;
    expect(fn.handler).toBe('functions/openapi.handler');
    expect(fn.environment).toBeUndefined();
    expect(fn.events).toEqual([{ http: { method: 'get', path: '/v1/openapi.json', authorizer: API_AUTHORIZER } }]);
    // No table route may shadow it.
    expect(Object.values(OPERATIONS).map((s) => s.route.path as string)).not.toContain(DOCS_FUNCTION.route.path);
  });

  it('the webhook receiver: POST /v1/webhooks/didit WITHOUT authoriser (HMAC), 10 s, secret/table/bus by reference', () => {
    const fn = functions[WEBHOOK_FUNCTION.name]!;
    expect(fn.handler).toBe('functions/webhook.handler');
    expect(fn.timeout).toBe(10);
    expect(fn.events).toEqual([{ http: { method: 'post', path: '/v1/webhooks/didit' } }]);
    expect(Object.keys(fn.environment ?? {}).sort()).toEqual(
      ['CIPHERTEXT_TTL_SECONDS', 'EVENT_BUS_NAME', 'IDEMPOTENCY_TABLE', 'KMS_KEY_ID', 'WEBHOOK_SECRET_SECRET_ID'].sort(),
    );
    expect(Object.values(OPERATIONS).map((s) => s.route.path as string)).not.toContain(WEBHOOK_FUNCTION.route.path);
  });

  for (const [name, spec] of Object.entries(OPERATIONS)) {
    it(`${name}: handler, route, authoriser, environment and a timeout longer than the Didit budget`, () => {
      const fn = functions[name]!;
      expect(fn.handler).toBe('functions/operation.handler');
      expect(fn.environment?.['OPERATION']).toBe(name);
      expect(operationNamed(fn.environment?.['OPERATION'])).toBe(spec);
      const sealing = (spec as OperationSpec).postprocess === 'sealWebhookSecret';
      expect(Object.keys(fn.environment ?? {}).sort()).toEqual(
        [
          'OPERATION',
          'SEALED_KEY_SECRET_ID',
          'KMS_KEY_ID',
          'DIDIT_BASE_URL',
          'DIDIT_CA_FILE',
          'CIPHERTEXT_TTL_SECONDS',
          ...(sealing ? ['WEBHOOK_SECRET_SECRET_ID'] : []),
        ].sort(),
      );
      expect(fn.events).toHaveLength(1);
      expect(fn.events[0]!.http).toMatchObject({ method: spec.route.method.toLowerCase(), path: spec.route.path, authorizer: API_AUTHORIZER });
      expect(fn.timeout * 1000).toBeGreaterThan(spec.timeoutMs);
    });
  }

  it('the sealing functions are derived from the table (postprocess), not from names', () => {
    const sealing = functionAccess().filter((fn) => fn.sealsWebhookSecret).map((fn) => fn.name);
    const specs: OperationSpec[] = Object.values(OPERATIONS);
    expect(sealing).toEqual(specs.filter((s) => s.postprocess === 'sealWebhookSecret').map((s) => s.name).sort());
    expect(sealing.length).toBeGreaterThan(0);
    const fake = { ...OPERATIONS, zzSealer: { ...OPERATIONS.listSessions, name: 'zzSealer', postprocess: 'sealWebhookSecret' as const } };
    expect(functionAccess(fake).find((fn) => fn.name === 'zzSealer')?.sealsWebhookSecret).toBe(true);
  });

  it('refuses an OPERATION that is not in the table', () => {
    expect(() => operationNamed(undefined)).toThrow(/OPERATION/);
    expect(() => operationNamed('toString')).toThrow(/OPERATION/);
    expect(() => operationNamed('deleteEverything')).toThrow(/OPERATION/);
  });

  it('never puts the key, or a resolver that could inline it, into the configuration', () => {
    // The parsed documents, so comments that explain the rule do not trip it.
    expect(JSON.stringify([config, functions])).not.toMatch(/\$\{ssm:|\$\{aws:secretsmanager|\$\{cf:|DIDIT_API_KEY|x-api-key/i);
    const environments = [config.provider.environment, ...Object.values(functions).map((fn) => fn.environment ?? {})];
    for (const env of environments) {
      for (const [name, value] of Object.entries(env)) {
        expect(name).not.toMatch(/KEY$|SECRET$|TOKEN$/);
        expect(String(value)).not.toMatch(/^(sk|pk)_[A-Za-z0-9]/);
      }
    }
    expect(config.provider.runtime).toMatch(/^nodejs(22|24)\.x$/);
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are serverless and CloudFormation variables, not JS templates.
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, operationNamed } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { SERVICE_NAME } from '../../lib/sealed-key/encryption-context.ts';
import { functionAccess } from '../../infra/serverless/access.ts';
import {
  API_AUTHORIZER,
  DOCS_FUNCTION,
  EVENT_FUNCTIONS,
  PAID_RESERVED_CONCURRENCY,
  renderFunctionsYaml,
  SIGNUP_EVENT_PATTERN as RULE_PATTERN,
  SIGNUP_RULE_NAME,
  WEBHOOK_FUNCTION,
} from '../../infra/serverless/functions.ts';
import { renderPrincipalsYaml, renderResourcesYaml, UPLOAD_BUCKET_NAME } from '../../infra/serverless/resources.ts';
import { loadJobConfig } from '../../lib/adapters/jobs/config.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { loadSignupConfig } from '../../lib/adapters/triggers/config.ts';
import { SIGNUP_EVENT_PATTERN } from '../../lib/adapters/triggers/signup.ts';
import { loadIntakeConfig, loadPresignConfig } from '../../lib/adapters/uploads/config.ts';
import { isPaidOperation } from '../../lib/spend-cap/paid.ts';

/** The daily spend cap's settings, on every function that makes paid Didit calls. */
const SPEND_ENV = ['DAILY_PAID_CALL_CAP', 'SPEND_CAP_TABLE'];

// serverless.yml takes its functions, per-function resources and policy principals from files generated
// from the operation table. The packaged template itself is checked by template-security.test.ts.
interface HttpEvent {
  http: { method: string; path: string; authorizer?: string };
}
interface Fn {
  handler: string;
  timeout: number;
  memorySize?: number;
  role: string;
  environment?: Record<string, string>;
  events: HttpEvent[];
  maximumRetryAttempts?: number;
  maximumEventAge?: number;
  destinations?: unknown;
  reservedConcurrency?: string;
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
  params: { default: Record<string, unknown>; local: Record<string, unknown> };
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

  it('has exactly one function per operation, plus the documentation function, the webhook receiver and the event-driven functions', () => {
    expect(Object.keys(functions).sort()).toEqual(
      [...Object.keys(OPERATIONS), DOCS_FUNCTION.name, WEBHOOK_FUNCTION.name, ...EVENT_FUNCTIONS.map((fn) => fn.name)].sort(),
    );
    expect(EVENT_FUNCTIONS.map((fn) => fn.name).sort()).toEqual(['createUploadUrl', 'getJob', 'jobWorker', 'onSignup', 'onUpload', 'submitJob']);
    for (const fn of EVENT_FUNCTIONS) expect(Object.keys(OPERATIONS)).not.toContain(fn.name);
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

  it('the webhook receiver: POST /v1/webhooks/didit WITHOUT authoriser (HMAC), 10 s, secrets/table/bus by reference', () => {
    const fn = functions[WEBHOOK_FUNCTION.name]!;
    expect(fn.handler).toBe('functions/webhook.handler');
    expect(fn.timeout).toBe(10);
    expect(fn.events).toEqual([{ http: { method: 'post', path: '/v1/webhooks/didit' } }]);
    // The sealed API key and Didit's URL: the decision fetch of a Simple-only delivery (lib/adapters/webhooks/decision.ts).
    expect(Object.keys(fn.environment ?? {}).sort()).toEqual(
      [
        'CIPHERTEXT_TTL_SECONDS',
        'DIDIT_BASE_URL',
        'DIDIT_CA_FILE',
        'EVENT_BUS_NAME',
        'IDEMPOTENCY_TABLE',
        'KMS_KEY_ID',
        'SEALED_KEY_SECRET_ID',
        'WEBHOOK_ACCEPT_SIMPLE',
        'WEBHOOK_SECRET_SECRET_ID',
      ].sort(),
    );
    expect(fn.environment?.['WEBHOOK_ACCEPT_SIMPLE']).toBe('${param:webhookAcceptSimple}');
    expect(Object.values(OPERATIONS).map((s) => s.route.path as string)).not.toContain(WEBHOOK_FUNCTION.route.path);
  });

  for (const [name, spec] of Object.entries(OPERATIONS)) {
    it(`${name}: handler, route, authoriser, environment and a timeout longer than the Didit budget`, () => {
      const fn = functions[name]!;
      expect(fn.handler).toBe('functions/operation.handler');
      expect(fn.environment?.['OPERATION']).toBe(name);
      expect(operationNamed(fn.environment?.['OPERATION'])).toBe(spec);
      const sealing = (spec as OperationSpec).postprocess === 'sealWebhookSecret';
      // Paid operations are counted against the daily cap (lib/spend-cap/) and may have reserved concurrency.
      const paid = isPaidOperation(spec);
      expect(Object.keys(fn.environment ?? {}).sort()).toEqual(
        [
          'OPERATION',
          'SEALED_KEY_SECRET_ID',
          'KMS_KEY_ID',
          'DIDIT_BASE_URL',
          'DIDIT_CA_FILE',
          'CIPHERTEXT_TTL_SECONDS',
          ...(sealing ? ['WEBHOOK_SECRET_SECRET_ID'] : []),
          ...(paid ? SPEND_ENV : []),
        ].sort(),
      );
      expect(fn.reservedConcurrency).toBe(paid ? PAID_RESERVED_CONCURRENCY : undefined);
      expect(fn.events).toHaveLength(1);
      expect(fn.events[0]!.http).toMatchObject({ method: spec.route.method.toLowerCase(), path: spec.route.path, authorizer: API_AUTHORIZER });
      expect(fn.timeout * 1000).toBeGreaterThan(spec.timeoutMs);
    });
  }

  const GATEWAY_ENV = ['SEALED_KEY_SECRET_ID', 'KMS_KEY_ID', 'DIDIT_BASE_URL', 'DIDIT_CA_FILE', 'CIPHERTEXT_TTL_SECONDS', ...SPEND_ENV];
  const eventFunctions: Record<string, { handler: string; timeout: number; memorySize?: number; env: string[] }> = {
    submitJob: { handler: 'functions/jobs.submitJob', timeout: 10, env: ['JOBS_TABLE', 'JOBS_QUEUE_URL', 'JOB_TTL_SECONDS', 'JOB_MAX_MESSAGE_BYTES'] },
    getJob: { handler: 'functions/jobs.getJob', timeout: 10, env: ['JOBS_TABLE', 'JOB_RESULT_KMS_KEY_ID'] },
    jobWorker: {
      handler: 'functions/jobs.worker',
      timeout: 90,
      memorySize: 512,
      env: [...GATEWAY_ENV, 'JOBS_TABLE', 'IDEMPOTENCY_TABLE', 'EVENT_BUS_NAME', 'JOB_RESULT_KMS_KEY_ID', 'JOB_TTL_SECONDS'],
    },
    createUploadUrl: {
      handler: 'functions/uploads.createUploadUrl',
      timeout: 10,
      env: ['UPLOAD_BUCKET', 'UPLOAD_KMS_KEY_ID', 'UPLOAD_URL_EXPIRES_SECONDS', 'S3_FORCE_PATH_STYLE'],
    },
    onUpload: {
      handler: 'functions/uploads.onUpload',
      timeout: 90,
      memorySize: 1024,
      env: [...GATEWAY_ENV, 'UPLOAD_BUCKET', 'IDEMPOTENCY_TABLE', 'EVENT_BUS_NAME', 'S3_FORCE_PATH_STYLE'],
    },
    onSignup: {
      handler: 'functions/signup.onSignup',
      timeout: 20,
      env: [...GATEWAY_ENV, 'IDEMPOTENCY_TABLE', 'EVENT_BUS_NAME', 'DEFAULT_WORKFLOW_ID', 'SIGNUP_CALLBACK_URL'],
    },
  };
  for (const [name, want] of Object.entries(eventFunctions)) {
    it(`${name}: handler, timeout, memory and exactly its environment (STAGE comes from the provider)`, () => {
      const fn = functions[name]!;
      expect(fn.handler).toBe(want.handler);
      expect(fn.timeout).toBe(want.timeout);
      expect(fn.memorySize).toBe(want.memorySize);
      expect(Object.keys(fn.environment ?? {}).sort()).toEqual([...want.env].sort());
    });
  }

  it('the job and upload routes: IAM (the API authoriser), one path parameter `id` for both job routes', () => {
    const http = (name: string) => (functions[name]!.events as Array<{ http?: unknown }>).map((e) => e.http);
    expect(http('submitJob')).toEqual([{ method: 'post', path: '/v1/jobs/{id}', authorizer: API_AUTHORIZER, request: { parameters: { paths: { id: true } } } }]);
    expect(http('getJob')).toEqual([{ method: 'get', path: '/v1/jobs/{id}', authorizer: API_AUTHORIZER, request: { parameters: { paths: { id: true } } } }]);
    expect(http('createUploadUrl')).toEqual([{ method: 'post', path: '/v1/uploads', authorizer: API_AUTHORIZER }]);
    // No route of the table under /v1/jobs or /v1/uploads.
    expect(Object.values(OPERATIONS).filter((op) => /^\/v1\/(jobs|uploads)(\/|$)/.test(op.route.path as string))).toEqual([]);
  });

  it('the worker: SQS on JobsQueue, batches of 5 within 1 s, partial batch failures, at most 5 concurrent batches', () => {
    const fn = functions['jobWorker']!;
    expect(fn.events).toEqual([
      {
        sqs: {
          arn: { 'Fn::GetAtt': ['JobsQueue', 'Arn'] },
          batchSize: 5,
          maximumBatchingWindow: 1,
          functionResponseType: 'ReportBatchItemFailures',
          maximumConcurrency: 5,
        },
      },
    ]);
  });

  it('the triggers: onUpload has no serverless event (the bucket notification is in serverless.yml); both retry twice then go to TriggerDeadLetterQueue', () => {
    const dlq = { onFailure: { type: 'sqs', arn: { 'Fn::GetAtt': ['TriggerDeadLetterQueue', 'Arn'] } } };
    expect(functions['onUpload']).toMatchObject({ maximumRetryAttempts: 2, maximumEventAge: 3600, destinations: dlq });
    expect(functions['onUpload']!.events).toBeUndefined();
    expect(functions['onSignup']).toMatchObject({ maximumRetryAttempts: 2, destinations: dlq });
    expect(functions['onSignup']!.events).toEqual([
      {
        eventBridge: {
          name: SIGNUP_RULE_NAME,
          eventBus: '${param:signupEventBusName}',
          pattern: { source: ['app.users'], 'detail-type': ['user.signup'] },
          retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 185 },
          deadLetterQueueArn: { 'Fn::GetAtt': ['TriggerDeadLetterQueue', 'Arn'] },
        },
      },
    ]);
    // The rule matches what the handler expects (lib/adapters/triggers/signup.ts).
    expect(RULE_PATTERN).toEqual(SIGNUP_EVENT_PATTERN);
    // TriggerDeadLetterQueue's policy names that rule by the same name.
    expect(text.split(`rule/${SIGNUP_RULE_NAME}`).length - 1).toBe(1);
    expect(text.split(`rule/\${Bus}/${SIGNUP_RULE_NAME}`).length - 1).toBe(1);
  });

  it('the event-driven params: defaults as specified, the local stage path-style only, the bucket named as the roles name it', () => {
    const d = config.params.default;
    expect(d).toMatchObject({
      jobTtlSeconds: 604800,
      jobMaxMessageBytes: 262144,
      uploadUrlExpiresSeconds: 300,
      s3ForcePathStyle: 'false',
      signupEventBusName: 'default',
      defaultWorkflowId: '',
      signupCallbackUrl: '',
    });
    expect(config.params.local['s3ForcePathStyle']).toBe('true');
    expect(d['uploadBucketName']).toEqual({ 'Fn::Sub': UPLOAD_BUCKET_NAME });
    // The bucket resource carries the same name.
    expect(text).toContain(`BucketName:\n            Fn::Sub: ${UPLOAD_BUCKET_NAME}`);
  });

  it("each event-driven function's environment is what its code loads (names match lib/*/config.ts)", () => {
    // The environment as the default stage resolves it: params → literal stand-ins, references → ids.
    const resolve = (fn: Fn): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = { STAGE: 'test' };
      for (const [name, value] of Object.entries(fn.environment ?? {})) {
        const param = /^\$\{param:([A-Za-z0-9]+)\}$/.exec(value)?.[1];
        const raw = param === undefined ? value : config.params.default[param];
        env[name] = typeof raw === 'object' ? `arn:aws:test:${name.toLowerCase()}` : String(raw);
      }
      return env;
    };
    const env = (name: string) => resolve(functions[name]!);
    const submit = loadJobConfig(env('submitJob'));
    expect(submit).toMatchObject({ ttlSeconds: 604800, maxMessageBytes: 262144 });
    expect(submit.queueUrl).toBeDefined();
    expect(loadJobConfig(env('getJob')).resultKmsKeyId).toBeDefined();
    const worker = loadJobConfig(env('jobWorker'));
    for (const key of ['idempotencyTable', 'eventBusName', 'resultKmsKeyId'] as const) expect(worker[key], key).toBeDefined();
    expect(() => loadConfig(env('jobWorker'))).not.toThrow();
    expect(loadPresignConfig(env('createUploadUrl'))).toMatchObject({ urlExpiresSeconds: 300, forcePathStyle: false });
    expect(() => loadIntakeConfig(env('onUpload'))).not.toThrow();
    expect(() => loadConfig(env('onUpload'))).not.toThrow();
    expect(loadSignupConfig(env('onSignup'))).toMatchObject({ defaultWorkflowId: undefined, callbackUrl: undefined });
    expect(() => loadConfig(env('onSignup'))).not.toThrow();
  });

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

import { CreateSecretCommand, DeleteSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { OperationSpec } from '../../../lib/operations/types.ts';
import { secretsClientFor } from '../../../infra/local/provision.ts';
import { createOperationHandler } from '../../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS, type OperationName } from '../../../lib/operations/table.ts';
import { lambdaContext } from '../../support/api-events.ts';
import { testEmulator } from '../../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../../support/gateway-fixture.ts';
import { PROBE } from './arbitraries.ts';
import { fuzz, type Violations } from './campaign.ts';
import { captureOutput, checkAnswer, checkDiditCalls, checkLogs, secretForms, settle, trackRejections, type CapturedOutput, type RejectionTracker } from './invariants.ts';
import { SEEDS } from './operation-seeds.ts';
import { badPartNames, requestCase, toEvent, type RequestCase } from './requests.ts';

/**
 * Fuzzing of the operations of the table through their real handler (createOperationHandler), sealed key on
 * the emulator, Didit = the sandbox; one fixture per test file, handlers called in process. The operations
 * are split over three files by area so that the two vitest workers share the campaign.
 */
export function fuzzOperations(area: string, names: readonly OperationName[]): void {
  const STAGE = `fuzz-${area}`;
  const UNLIMITED = 1_000_000_000;
  let gateway: GatewayFixture;
  let output: CapturedOutput;
  let rejections: RejectionTracker;
  let webhookSecretArn: string | undefined;
  let secrets: Record<string, string[]>;

  beforeAll(async () => {
    gateway = await setUpGateway(STAGE, { sandbox: { rateLimits: { decision: UNLIMITED, create: UNLIMITED, pdf: UNLIMITED, other: UNLIMITED } } });
    // seal=true on webhook destinations needs a secret to seal into (as the deployment provides).
    const sm = secretsClientFor(testEmulator());
    try {
      const created = await sm.send(new CreateSecretCommand({ Name: `didit-kms-gateway/${STAGE}/webhook-${randomBytes(5).toString('hex')}`, SecretBinary: Buffer.from('placeholder') }));
      webhookSecretArn = created.ARN;
      process.env['WEBHOOK_SECRET_SECRET_ID'] = webhookSecretArn;
      const sealedKey = await sm.send(new GetSecretValueCommand({ SecretId: gateway.sealed.secretId }));
      const ciphertext = Buffer.from(sealedKey.SecretBinary ?? new Uint8Array());
      secrets = { 'Didit API key': secretForms(gateway.sandbox.apiKey), 'sealed key ciphertext': [ciphertext.toString('base64'), ciphertext.toString('hex')] };
    } finally {
      sm.destroy();
    }
    output = captureOutput();
    rejections = trackRejections();
  });

  afterAll(async () => {
    output?.restore();
    rejections?.stop();
    delete process.env['WEBHOOK_SECRET_SECRET_ID'];
    if (webhookSecretArn) {
      const sm = secretsClientFor(testEmulator());
      await sm.send(new DeleteSecretCommand({ SecretId: webhookSecretArn, ForceDeleteWithoutRecovery: true })).catch(() => undefined).finally(() => sm.destroy());
    }
    await gateway?.close();
  });

  /** Response fields the table redacts: a 2xx must show them only as markers. */
  function checkRedaction(name: OperationName, res: APIGatewayProxyResult | undefined): Violations {
    const spec: OperationSpec = OPERATIONS[name];
    const fields: readonly string[] = spec.redact ?? [];
    if (res === undefined || res.statusCode >= 300 || fields.length === 0 || res.body === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.isBase64Encoded ? Buffer.from(res.body, 'base64').toString('utf8') : res.body);
    } catch {
      return [`[redaction] ${res.statusCode} of a redacting operation is not JSON: redaction could not have run`];
    }
    const leaks: Violations = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          if (fields.includes(k) && v !== '[redacted]' && v !== '[sealed]' && v !== null) leaks.push(`[redaction] ${k} answered unredacted`);
          walk(v);
        }
      }
    };
    walk(parsed);
    if (res.isBase64Encoded) leaks.push('[redaction] a redacting operation answered base64 (raw Didit body)');
    return leaks;
  }

  async function runCase(name: OperationName, handler: ReturnType<typeof createOperationHandler>, c: RequestCase): Promise<Violations> {
    const { sandbox } = gateway;
    // Keep the sandbox small (sessions, recorded requests) over thousands of cases.
    if (sandbox.received.length > 500) sandbox.reset();
    const event = toEvent(OPERATIONS[name], c);
    const before = sandbox.received.length;
    const outcome = await settle(() => handler(event, lambdaContext()) as Promise<APIGatewayProxyResult>);
    const after = sandbox.received.length;
    const violations: Violations = [];
    if (outcome.hung) violations.push('[hang] the handler did not settle within 30 s');
    if ('threw' in outcome) violations.push(`[threw] the handler threw instead of answering: ${String(outcome.threw).slice(0, 200)}`);
    const res = outcome.value;
    violations.push(...checkAnswer(res, { probes: [PROBE], secrets }));
    violations.push(...checkDiditCalls(res, before, after));
    const bad = badPartNames(OPERATIONS[name], c);
    if (bad.length > 0 && after > before) violations.push(`[multipart-limits] a multipart body with repeated or unknown parts (${bad.map((b) => JSON.stringify(b)).join(', ')}) reached Didit: ${res?.statusCode}`);
    violations.push(...checkRedaction(name, res));
    const lines = output.take();
    violations.push(...checkLogs(lines, { 'Didit API key': secrets['Didit API key']! }));
    violations.push(...rejections.take());
    if (violations.length > 0 && res !== undefined) {
      const errors = errorLogs(lines);
      violations.push(`(answer: ${res.statusCode} ${res.body.slice(0, 300)}${errors.length > 0 ? `; error log: ${errors.join(' | ')}` : ''})`);
    }
    return violations;
  }

  /** The operator's view of failures (code, name, causes), for the report. */
  function errorLogs(lines: readonly string[]): string[] {
    const out: string[] = [];
    for (const line of lines) {
      if (!line.includes('"level":"ERROR"')) continue;
      try {
        const { message, errorCode, errorName, errorMessage, causes } = JSON.parse(line) as Record<string, unknown>;
        out.push(JSON.stringify({ message, errorCode, errorName, errorMessage, causes }));
      } catch {
        out.push(line.slice(0, 300));
      }
    }
    return out;
  }

  describe(`fuzz: operations (${area})`, () => {
    it.each(names)('%s', async (name) => {
      const handler = createOperationHandler(OPERATIONS[name], { dependencies: () => gateway.deps });
      await fuzz(`operation ${name}`, requestCase(OPERATIONS[name], SEEDS[name]), (c) => runCase(name, handler, c));
    });
  });
}

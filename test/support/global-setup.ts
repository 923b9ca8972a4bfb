/**
 * Vitest global setup: one AWS emulator for the whole run, shared by every test file via `inject('aws')`
 * (see test/support/aws.ts). LocalStack by default, moto with DIDIT_TEST_EMULATOR=moto, an existing endpoint
 * with AWS_ENDPOINT_URL, none with DIDIT_SKIP_EMULATOR=1 (pure unit runs).
 *
 * DynamoDB (the webhook receiver's dedupe table) is not available in host-mode LocalStack (it downloads a
 * Java runtime): with LocalStack a moto server is started beside it for DynamoDB alone and provided as
 * `dynamodbEndpoint`; with moto, or an external endpoint, the same endpoint serves DynamoDB
 * (`AWS_ENDPOINT_URL_DYNAMODB` overrides). DIDIT_TEST_DYNAMODB=0 skips it.
 *
 * TLS (`inject('awsTls')`, `testTlsEmulator()`): LocalStack serves HTTPS on its own port with a certificate
 * from a CA made for this run; with moto a second server runs in moto's TLS mode (its own state;
 * DIDIT_TEST_TLS=0 skips it). Tests pass the CA as an explicit trust anchor.
 */
import type { TestProject } from 'vitest/node';
import { resolveEmulatorKind, startEmulator, type Emulator } from '../../infra/local/emulator.ts';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.DIDIT_SKIP_EMULATOR === '1') {
    project.provide('aws', undefined);
    project.provide('dynamodbEndpoint', undefined);
    project.provide('awsTls', undefined);
    return undefined;
  }
  const t0 = Date.now();
  const kind = resolveEmulatorKind();
  const wantsDynamo = process.env.DIDIT_TEST_DYNAMODB !== '0' && !process.env.AWS_ENDPOINT_URL_DYNAMODB;
  // Both start at once; a moto that fails to start costs only the tests that need DynamoDB.
  const dynamoStart =
    kind === 'localstack' && wantsDynamo
      ? startEmulator({ kind: 'moto', log }).catch((err: unknown) => {
          log(`[emulator] moto for DynamoDB did not start (${(err as Error).message}); DynamoDB tests will fail`);
          return undefined;
        })
      : Promise.resolve(undefined);
  let em: Emulator;
  try {
    em = await startEmulator({ log });
  } catch (err) {
    await (await dynamoStart)?.stop();
    throw err;
  }
  const dynamo = await dynamoStart;
  // KMS over TLS, as production reaches it (the residue proof depends on the transport). LocalStack serves
  // HTTPS on its own port; moto's TLS mode serves HTTPS only, so a second moto runs for it (its own state).
  let tlsMoto: Emulator | undefined;
  if (em.kind === 'moto' && process.env.DIDIT_TEST_TLS !== '0') {
    tlsMoto = await startEmulator({ kind: 'moto', tls: true, log }).catch((err: unknown) => {
      log(`[emulator] moto in TLS mode did not start (${(err as Error).message}); TLS tests will fail`);
      return undefined;
    });
  }
  const tls = em.tls ?? tlsMoto?.tls;
  log(`[emulator] ${em.kind} ready at ${em.endpoint} (${((Date.now() - t0) / 1000).toFixed(1)} s including install check)`);
  project.provide('aws', {
    kind: em.kind,
    endpoint: em.endpoint,
    region: em.region,
    accessKeyId: em.credentials.accessKeyId,
    secretAccessKey: em.credentials.secretAccessKey,
  });
  project.provide('dynamodbEndpoint', dynamodbEndpoint(em, dynamo, wantsDynamo));
  project.provide(
    'awsTls',
    tls === undefined ? undefined : { endpoint: tls.endpoint, caPem: tls.caPem, caFile: tls.caFile, sharesState: tlsMoto === undefined },
  );
  if (tls) log(`[emulator] TLS endpoint ${tls.endpoint}${tlsMoto ? ' (separate moto process)' : ''}`);
  if (dynamo) log(`[emulator] DynamoDB on moto at ${dynamo.endpoint}`);
  return async () => {
    await Promise.all([em.stop(), dynamo?.stop(), tlsMoto?.stop()]);
  };
}

function dynamodbEndpoint(em: Emulator, dynamo: Emulator | undefined, wanted: boolean): string | undefined {
  if (process.env.AWS_ENDPOINT_URL_DYNAMODB) return process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!wanted) return undefined;
  if (em.kind === 'localstack') return dynamo?.endpoint;
  return em.endpoint;
}

/**
 * The emulator the global setup started, for use inside test files.
 *
 * @example
 * ```ts
 * const em = testEmulator();
 * const res = await provisionSealedKey(em, { stage: 'it', apiKey });
 * ```
 */
import { inject } from 'vitest';
import type { Emulator } from '../../infra/local/emulator.ts';

/** True when the global setup provided an emulator (false under DIDIT_SKIP_EMULATOR=1). */
export function hasTestEmulator(): boolean {
  return inject('aws') !== undefined;
}

/** The shared emulator; `stop()` is a no-op (the global setup owns the process). */
export function testEmulator(): Emulator {
  const aws = inject('aws');
  if (!aws) {
    throw new Error('no AWS emulator was provided: unset DIDIT_SKIP_EMULATOR or skip this file with hasTestEmulator()');
  }
  return {
    kind: aws.kind,
    endpoint: aws.endpoint,
    region: aws.region,
    credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
    stop: async () => {},
  };
}

/**
 * Where DynamoDB answers for this run: a moto server beside LocalStack (host-mode LocalStack has no
 * DynamoDB), the shared emulator itself otherwise. Same region and credentials as {@link testEmulator}.
 */
export function testDynamoDbEndpoint(): string {
  const endpoint = inject('dynamodbEndpoint');
  if (!endpoint) {
    throw new Error('no DynamoDB endpoint was provided: unset DIDIT_SKIP_EMULATOR / DIDIT_TEST_DYNAMODB=0, or check that moto started');
  }
  return endpoint;
}

/**
 * The emulator reached over TLS, with its CA as an explicit trust anchor (`caPem`, `caFile`). With moto it is
 * a separate server (its TLS mode serves HTTPS only), so provision everything a test uses through it.
 * `provisionSealedKey` and friends pass `caPem` to their clients.
 */
export function testTlsEmulator(): Emulator & { caPem: string; caFile: string } {
  const base = testEmulator();
  const tls = inject('awsTls');
  if (!tls) throw new Error('no TLS emulator endpoint was provided (DIDIT_TEST_TLS=0, or it failed to start)');
  return { ...base, endpoint: tls.endpoint, caPem: tls.caPem, caFile: tls.caFile };
}

import { describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../../lib/config/env.ts';
import { is, required, withDefaults } from '../../lib/config/options.ts';
import { defaults as awsClientDefaults } from '../../lib/config/aws-clients.ts';
import { createSecureKmsClient, defaults as kmsClientDefaults } from '../../lib/kms/client.ts';
import { defaults as kmsHandlerDefaults, SecureKmsRequestHandler } from '../../lib/kms/secure-request-handler.ts';
import { ConnectionPool, defaults as poolDefaults } from '../../lib/transport/pool.ts';
import { originOf } from '../../lib/transport/origin.ts';
import { DiditClient, defaults as diditDefaults } from '../../lib/didit/client.ts';
import { EventPublisher } from '../../lib/events/publisher.ts';
import { DeliveryDedupe, defaults as dedupeDefaults } from '../../lib/idempotency/delivery-dedupe.ts';
import { OutcomeStore } from '../../lib/idempotency/outcome-store.ts';
import { PersistentOnce } from '../../lib/idempotency/persistent-once.ts';
import { CiphertextSource } from '../../lib/sealed-key/ciphertext-source.ts';
import { SealedKey, defaults as sealedKeyDefaults } from '../../lib/sealed-key/sealed-key.ts';
import { SpendCounter } from '../../lib/spend-cap/counter.ts';

/** Options that are only ever passed through: the factories store them, nothing here sends a request. */
const dynamodb = {} as DynamoDBClient;
const eventBridge = {} as EventBridgeClient;
const kms = {} as KMSClient;
const secrets = {} as SecretsManagerClient;
const source = new CiphertextSource({ client: secrets, secretId: 's', ttlMs: 1_000 });
const context = { service: 's', stage: 'x', purpose: 'p' };

/** Each factory, built with valid options and with one option changed; `name` is what the error must name. */
const FACTORIES: ReadonlyArray<{ name: string; build: (extra: Record<string, unknown>) => unknown; bad: Record<string, unknown> }> = [
  { name: 'SecureKmsRequestHandler', build: (o) => new SecureKmsRequestHandler(o), bad: { requestTimeoutMs: -1 } },
  { name: 'createSecureKmsClient', build: (o) => createSecureKmsClient({ region: 'eu-west-1', env: {}, ...o }).handler.destroy(), bad: { maxAttempts: 0 } },
  { name: 'ConnectionPool', build: (o) => new ConnectionPool(originOf('https://example.com'), o), bad: { maxIdle: 1.5 } },
  { name: 'DiditClient', build: (o) => new DiditClient({ baseUrl: 'https://example.com', ...o }), bad: { maxRetryWaitMs: '5000' } },
  { name: 'EventPublisher', build: (o) => new EventPublisher({ client: eventBridge, busName: 'b', source: 'didit.test', ...o }), bad: { source: '' } },
  { name: 'PersistentOnce', build: (o) => new PersistentOnce({ client: dynamodb, tableName: 't', ttlSeconds: 3_600, keyPrefix: 'p', ...o }), bad: { ttlSeconds: 1 } },
  { name: 'DeliveryDedupe', build: (o) => new DeliveryDedupe({ client: dynamodb, tableName: 't', ...o }), bad: { ttlSeconds: 31 * 86_400 } },
  { name: 'OutcomeStore', build: (o) => new OutcomeStore({ client: dynamodb, tableName: 't', keyPrefix: 'p', ...o }), bad: { keyPrefix: 7 } },
  { name: 'CiphertextSource', build: (o) => new CiphertextSource({ client: secrets, secretId: 's', ttlMs: 0, ...o }), bad: { now: 'now' } },
  { name: 'SealedKey', build: (o) => new SealedKey({ kms, source, encryptionContext: context, ...o }), bad: { minLength: 0 } },
  { name: 'SpendCounter', build: (o) => new SpendCounter({ client: dynamodb, tableName: 't', stage: 'x', cap: 10, ...o }), bad: { cap: 0 } },
];

describe('one validated defaults object per factory', () => {
  it.each(FACTORIES)('$name: builds with valid options', ({ build }) => {
    expect(() => build({})).not.toThrow();
  });

  it.each(FACTORIES)('$name: refuses an unknown option name, naming it', ({ name, build }) => {
    const error = (() => {
      try {
        build({ requestTimeout: 1_000 });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`${name}: unknown option "requestTimeout"`);
  });

  it.each(FACTORIES)('$name: refuses a bad value with a ConfigError naming the option', ({ name, build, bad }) => {
    const [option] = Object.entries(bad)[0] as [string, unknown];
    let error: unknown;
    try {
      build(bad);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`^${name}: option ${option} must be `));
  });

  it('the message never holds the value (a secret passed by mistake stays out of logs)', () => {
    const secret = 'sk-live-0123456789abcdef';
    expect(() => new DiditClient({ baseUrl: 'https://example.com', maxRetryWaitMs: secret as unknown as number })).toThrow(
      'DiditClient: option maxRetryWaitMs must be an integer in 0..60000',
    );
    expect(() => new SealedKey({ kms, source, encryptionContext: context, kmsKeyId: { secret } as unknown as string })).toThrow(
      /^SealedKey: option kmsKeyId must be a non-empty string$/,
    );
  });

  it('the defaults are frozen: no caller can change a timeout for everyone', () => {
    for (const d of [awsClientDefaults, kmsClientDefaults, kmsHandlerDefaults, poolDefaults, diditDefaults, dedupeDefaults, sealedKeyDefaults]) {
      expect(Object.isFrozen(d)).toBe(true);
    }
    expect(() => {
      (kmsHandlerDefaults as { requestTimeoutMs: number }).requestTimeoutMs = 5_000;
    }).toThrow(TypeError);
  });

  it('one value per timeout: the KMS request timeout is the handler default, 3 s (what every KMS client has used)', () => {
    expect(kmsHandlerDefaults.requestTimeoutMs).toBe(3_000);
    expect('requestTimeoutMs' in kmsClientDefaults).toBe(false);
    expect(kmsClientDefaults.maxAttempts).toBe(awsClientDefaults.maxAttempts);
  });

  it('an option left undefined takes its default; one given replaces it', () => {
    type Options = { name: string; timeoutMs?: number | undefined };
    const rules = { timeoutMs: is.integer(1, 10_000), name: required(is.string) };
    const f = (defaults: Partial<Options>, options: Options) => withDefaults<Options, Partial<Options>>('f', defaults, rules, options);
    expect(f({ timeoutMs: 3_000 }, { name: 'n', timeoutMs: undefined })).toEqual({ timeoutMs: 3_000, name: 'n' });
    expect(f({ timeoutMs: 3_000 }, { name: 'n', timeoutMs: 500 })).toEqual({ timeoutMs: 500, name: 'n' });
    expect(() => f({ timeoutMs: 3_000 }, {} as Options)).toThrow('f: option name is required');
    // A default that breaks its own rule is caught at the first construction, not used.
    expect(() => f({ timeoutMs: 0 }, { name: 'n' })).toThrow('f: default timeoutMs is invalid');
  });

  it('a name inherited from Object.prototype is not an option', () => {
    const rules = { timeoutMs: is.integer(1, 10_000) };
    const hostile = JSON.parse('{"__proto__": {"x": 1}, "constructor": 1}') as { timeoutMs?: number };
    expect(() => withDefaults<{ timeoutMs?: number }, object>('f', {}, rules, hostile)).toThrow(ConfigError);
  });
});

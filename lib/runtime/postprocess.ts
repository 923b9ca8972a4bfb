import { KMSClient } from '@aws-sdk/client-kms';
import { SEALED_MARKER } from './redact.ts';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { logger } from '../observability/telemetry.ts';
import type { PostprocessName } from '../operations/types.ts';
import type { GatewayDependencies } from './dependencies.ts';
import { awsClientConfig } from '../config/aws-clients.ts';
import { loadSealingConfig } from './config.ts';
import { encryptionContextFor } from '../sealed-key/encryption-context.ts';
import { sealIntoSecret, type SealedSecret } from '../sealed-key/seal.ts';
import { SealingNotConfiguredError, WebhookSecretMissingError } from '../errors/index.ts';
import { SecureBuffer } from '../secure/secure-buffer.ts';

/** What a post-processing step may use. */
export interface PostprocessContext {
  readonly deps: GatewayDependencies;
  /** The validated query string of the request (e.g. `seal=true`). */
  readonly query: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/**
 * Runs the table's named post-processing step on Didit's JSON answer. It receives the answer as
 * Didit sent it (before `redact` is applied) and returns what the caller should get; redaction is
 * applied to its result afterwards, so a step can use a secret field and the caller still never
 * sees it. A step's own markers (`[sealed]`) are left alone by redaction.
 */
export async function runPostprocess(name: PostprocessName | undefined, raw: unknown, context: PostprocessContext): Promise<unknown> {
  if (name === undefined) return raw;
  switch (name) {
    case 'sealWebhookSecret':
      return sealWebhookSecret(raw, context);
    default: {
      const unknownStep: never = name;
      throw new Error(`postprocess step ${String(unknownStep)} is not implemented`);
    }
  }
}

/**
 * Optional early check, for the handler to call before the Didit call: refuses a request whose step
 * cannot run here (e.g. `seal=true` on a function without a sealing target) while nothing has happened
 * yet. Without it the same error comes from {@link runPostprocess}, after Didit has created the resource.
 */
export function checkPostprocess(name: PostprocessName | undefined, context: Pick<PostprocessContext, 'deps' | 'query'>): void {
  if (name === 'sealWebhookSecret' && context.query['seal'] === 'true') sealingTarget(context.deps);
}

const SECRET_FIELD = 'secret_shared_key';
/** Didit's secrets are 43-character URL-safe tokens (§6.4); these bounds only catch garbage. */
const MIN_SECRET_LENGTH = 16;
const MAX_SECRET_LENGTH = 512;

/**
 * `seal=true` on a webhook destination answer: encrypt its `secret_shared_key` with KMS under the
 * `didit-webhook-secret` context of this service and stage, store the ciphertext as a new version of
 * the secret named by WEBHOOK_SECRET_SECRET_ID, and answer where it went instead of the secret. Without
 * `seal=true` the answer is returned as is and redaction removes the secret.
 *
 * Limit, by construction: Didit's answer is JSON the client parses, so the secret already exists as a JS
 * string (and in the response bytes) before this step runs; a string cannot be wiped. What this step
 * controls it keeps short-lived: the string is dropped from the parsed answer, its bytes are copied
 * into secure memory that is zeroed right after KMS Encrypt, and the KMS request carries it only in
 * secure memory (lib/kms/encrypt.ts). Nothing here logs it.
 */
async function sealWebhookSecret(raw: unknown, context: PostprocessContext): Promise<unknown> {
  if (context.query['seal'] !== 'true') return raw;
  const target = sealingTarget(context.deps);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WebhookSecretMissingError('webhook destination answer is not an object');
  }
  const answer = raw as Record<string, unknown>;
  const secret = takeSecret(answer);
  let sealed: SealedSecret;
  try {
    sealed = await sealIntoSecret(
      clientsFor(context.deps),
      target.secretId,
      {
        plaintext: secret,
        keyId: target.kmsKeyId,
        encryptionContext: encryptionContextFor({ service: context.deps.config.service, stage: context.deps.config.stage, purpose: 'didit-webhook-secret' }),
      },
      { abortSignal: context.signal },
    );
  } finally {
    secret.dispose();
  }
  logger.info('webhook secret sealed', {
    destination: typeof answer['uuid'] === 'string' ? answer['uuid'] : undefined,
    secretVersionId: sealed.versionId,
    ciphertextFingerprint: sealed.fingerprint,
    kmsKeyId: sealed.kmsKeyId,
  });
  return {
    ...answer,
    [SECRET_FIELD]: SEALED_MARKER,
    sealed_secret: { secretId: sealed.secretId, versionId: sealed.versionId, fingerprint: sealed.fingerprint },
  };
}

/**
 * Moves the secret out of the parsed answer into secure memory. The answer's field is overwritten at
 * once, so the string is referenced by nothing once this returns and the garbage collector can reclaim it.
 */
function takeSecret(answer: Record<string, unknown>): SecureBuffer {
  const value = answer[SECRET_FIELD];
  answer[SECRET_FIELD] = SEALED_MARKER;
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH || value.length > MAX_SECRET_LENGTH || !/^[\x21-\x7e]+$/.test(value)) {
    throw new WebhookSecretMissingError('webhook destination answer has no plausible secret_shared_key');
  }
  // Visible ASCII: one byte per character, written straight into secure memory.
  const secure = SecureBuffer.alloc(value.length);
  secure.bytes().write(value, 0, 'latin1');
  return secure;
}

interface SealingTarget {
  readonly secretId: string;
  readonly kmsKeyId: string;
}

/**
 * Where sealed webhook secrets go: WEBHOOK_SECRET_SECRET_ID (an existing secret; each seal is a new
 * version), encrypted under WEBHOOK_SECRET_KMS_KEY_ID or else the function's KMS_KEY_ID. Loaded per call
 * (lib/runtime/config.ts `loadSealingConfig`), checked only when sealing is asked for: functions that never
 * seal need neither.
 */
function sealingTarget(deps: GatewayDependencies): SealingTarget {
  const sealing = loadSealingConfig();
  const secretId = sealing.secretId;
  if (secretId === undefined) {
    throw new SealingNotConfiguredError('seal=true needs WEBHOOK_SECRET_SECRET_ID (the secret that receives sealed webhook secrets)');
  }
  const kmsKeyId = sealing.kmsKeyId || deps.config.kmsKeyId;
  if (kmsKeyId === undefined || kmsKeyId === '') {
    throw new SealingNotConfiguredError('seal=true needs WEBHOOK_SECRET_KMS_KEY_ID or KMS_KEY_ID (the key to encrypt with)');
  }
  return { secretId, kmsKeyId };
}

interface SealingClients {
  readonly kms: KMSClient;
  readonly secrets: SecretsManagerClient;
}

/**
 * One pair of clients per set of dependencies, reused by warm invocations. The KMS client shares the
 * secure transport (and its keep-alive connection) of the function's Decrypt client.
 */
const clients = new WeakMap<GatewayDependencies, SealingClients>();

function clientsFor(deps: GatewayDependencies): SealingClients {
  let pair = clients.get(deps);
  if (pair === undefined) {
    pair = {
      kms: new KMSClient({ ...awsClientConfig(deps.config.region), requestHandler: deps.kmsHandler }),
      secrets: new SecretsManagerClient(awsClientConfig(deps.config.region)),
    };
    clients.set(deps, pair);
  }
  return pair;
}

import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretMalformedError, SecretNotFoundError, SecretsUnavailableError, KmsAccessDeniedError } from '../errors/index.ts';
import { ciphertextFingerprint } from './fingerprint.ts';
import { is, required, withDefaults } from '../config/options.ts';

/** One sealed version: the KMS ciphertext and where it came from. Contains nothing decryptable without KMS. */
export interface SealedCiphertext {
  readonly ciphertext: Uint8Array;
  readonly versionId: string | undefined;
  readonly fingerprint: string;
  readonly fetchedAt: number;
}

export interface CiphertextSourceOptions {
  readonly client: SecretsManagerClient;
  readonly secretId: string;
  /** How long a fetched ciphertext is reused; rotation is picked up within this time (or on a 401). */
  readonly ttlMs: number;
  readonly now?: () => number;
}

/** The source's defaults: the wall clock (tests pass their own). The TTL is the config's (`CIPHERTEXT_TTL_SECONDS`). */
export const defaults = Object.freeze({ now: (): number => Date.now() });

const rules = { client: required(is.object), secretId: required(is.string), ttlMs: required(is.number(0, 86_400_000)), now: is.function };

/**
 * Reads the sealed key (a Secrets Manager `SecretBinary` holding KMS ciphertext) and caches the
 * *ciphertext* across warm invocations. Caching it is safe: it is useless without a KMS Decrypt
 * under the right encryption context, which every invocation performs anew.
 */
export class CiphertextSource {
  readonly #options: Readonly<CiphertextSourceOptions & typeof defaults>;
  #cached: SealedCiphertext | undefined;
  #inflight: Promise<SealedCiphertext> | undefined;

  constructor(options: CiphertextSourceOptions) {
    this.#options = withDefaults('CiphertextSource', defaults, rules, options);
  }

  async get(options: { abortSignal?: AbortSignal } = {}): Promise<SealedCiphertext> {
    const now = this.#options.now();
    const cached = this.#cached;
    if (cached !== undefined && now - cached.fetchedAt < this.#options.ttlMs) return cached;
    return this.refresh(options);
  }

  /** Forgets the cached ciphertext and fetches the current version (after Didit said 401). */
  async refresh(options: { abortSignal?: AbortSignal } = {}): Promise<SealedCiphertext> {
    this.#cached = undefined;
    this.#inflight ??= this.#fetch(options.abortSignal).finally(() => {
      this.#inflight = undefined;
    });
    const fresh = await this.#inflight;
    this.#cached = fresh;
    return fresh;
  }

  async #fetch(abortSignal: AbortSignal | undefined): Promise<SealedCiphertext> {
    let out: GetSecretValueCommandOutput;
    try {
      out = await this.#options.client.send(new GetSecretValueCommand({ SecretId: this.#options.secretId }), {
        abortSignal,
      });
    } catch (err) {
      throw mapSecretsError(err);
    }
    const blob = out.SecretBinary;
    if (blob === undefined || blob.length === 0) {
      // A SecretString here would mean someone stored the plaintext key: refuse it, never read it.
      throw new SecretMalformedError('secret has no SecretBinary (the sealed key must be KMS ciphertext)');
    }
    return {
      ciphertext: blob,
      versionId: out.VersionId,
      fingerprint: ciphertextFingerprint(blob),
      fetchedAt: this.#options.now(),
    };
  }
}

function mapSecretsError(err: unknown): Error {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'ResourceNotFoundException':
      return new SecretNotFoundError('sealed key secret not found', { cause: err });
    case 'AccessDeniedException':
    case 'DecryptionFailure':
      return new KmsAccessDeniedError(`Secrets Manager refused the read (${name})`, { cause: err });
    case 'InvalidRequestException':
    case 'InvalidParameterException':
      return new SecretMalformedError(`Secrets Manager rejected the read (${name})`, { cause: err });
    default:
      return new SecretsUnavailableError(`Secrets Manager unavailable (${name || 'transport'})`, { cause: err });
  }
}

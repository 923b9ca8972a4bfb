import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { KMSClient } from '@aws-sdk/client-kms';
import { ConfigError } from '../../config/env.ts';
import { generateDataKeyToSecureBuffer } from '../../kms/data-key.ts';
import { decryptToSecureBuffer } from '../../kms/decrypt.ts';
import type { EncryptionContext } from '../../sealed-key/encryption-context.ts';
import type { SecureBuffer } from '../../secure/secure-buffer.ts';
import { ResultTooLargeError, ResultUnreadableError } from './errors.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * A job result at rest: envelope encryption. A 256-bit data key from KMS GenerateDataKey (encryption context
 * `{service, stage, purpose: didit-job-result}`), AES-256-GCM over the gzipped JSON with a random 96-bit IV and
 * the job id as additional data (a result cannot be moved to another job's record). Stored: the KMS-encrypted
 * data key, IV, tag and ciphertext, base64. Reading needs kms:Decrypt on that context.
 */
export interface SealedResult {
  readonly v: 1;
  readonly alg: 'A256GCM';
  readonly zip: 'gzip';
  /** KMS CiphertextBlob of the data key. */
  readonly edk: string;
  readonly iv: string;
  readonly tag: string;
  readonly ct: string;
}

/**
 * Upper bound of `ct` (base64 characters). The sealed result is stored twice — in the job record and in the
 * idempotency record — and each DynamoDB item must stay under 400 KB.
 */
export const MAX_SEALED_CHARS = 340_000;

const IV_BYTES = 12;
const TAG_BYTES = 16;

function additionalData(jobId: string): Buffer {
  return Buffer.from(`didit-job-result:v1:${jobId}`, 'utf8');
}

export interface ResultCryptoOptions {
  /** A client made by `createSecureKmsClient`: data keys are captured into secure memory. */
  readonly kms: KMSClient;
  readonly encryptionContext: EncryptionContext;
  /** The KMS key of the data keys; required to seal, optional (a check) to open. */
  readonly keyId: string | undefined;
  readonly maxSealedChars?: number;
  /** Where data keys come from; default {@link generateDataKeyToSecureBuffer} on `kms`. Tests pass a controllable one. */
  readonly generateDataKey?: typeof generateDataKeyToSecureBuffer;
}

/**
 * Seals and opens job results. One data key per worker batch ({@link ResultSealer}): one GenerateDataKey
 * serves every result of the batch, each with its own IV and its own job id as additional data.
 */
export class ResultCrypto {
  readonly #options: ResultCryptoOptions;

  constructor(options: ResultCryptoOptions) {
    this.#options = options;
  }

  /** A sealer for one batch; call `dispose()` when the batch ends (zeroes the data key). */
  sealer(): ResultSealer {
    return new ResultSealer(this.#options);
  }

  /** Decrypts and decodes a sealed result of `jobId`. */
  async open(jobId: string, sealed: SealedResult, options: { abortSignal?: AbortSignal } = {}): Promise<unknown> {
    if (sealed.v !== 1 || sealed.alg !== 'A256GCM' || sealed.zip !== 'gzip') throw new ResultUnreadableError('unknown sealed result format');
    const { plaintext: key } = await decryptToSecureBuffer(
      this.#options.kms,
      { ciphertext: Buffer.from(sealed.edk, 'base64'), encryptionContext: this.#options.encryptionContext, keyId: this.#options.keyId },
      options,
    );
    let compressed: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes(), Buffer.from(sealed.iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(jobId));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      compressed = Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]);
    } catch (err) {
      throw new ResultUnreadableError('job result failed authentication', { cause: err });
    } finally {
      key.dispose();
    }
    try {
      return JSON.parse((await gunzipAsync(compressed)).toString('utf8'));
    } catch (err) {
      throw new ResultUnreadableError('job result could not be decoded', { cause: err });
    }
  }
}

/** The data key of one batch: generated on first use, zeroed by {@link dispose}. */
export class ResultSealer {
  readonly #options: ResultCryptoOptions;
  #key: Promise<{ plaintext: SecureBuffer; ciphertext: string }> | undefined;
  #disposed = false;

  constructor(options: ResultCryptoOptions) {
    this.#options = options;
  }

  /**
   * Makes sure the data key exists. The worker calls it before a Didit call, so that a KMS failure happens
   * while nothing has been paid for, and sealing afterwards is local work that cannot fail on KMS.
   */
  async ready(options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    await this.#ready(options);
  }

  /** The data key, generated once; resolves to the very key this call waited for (see `seal`). */
  async #ready(options: { abortSignal?: AbortSignal }): Promise<{ plaintext: SecureBuffer; ciphertext: string }> {
    if (this.#disposed) throw new Error('result sealer used after dispose');
    this.#key ??= this.#generate(options);
    const pending = this.#key;
    try {
      return await pending;
    } catch (err) {
      // A later message may try again (the failure is retryable and nothing was paid). Only this failed
      // attempt is forgotten: another message may already have started a new one, which dispose() must
      // still find and zero.
      if (this.#key === pending) this.#key = undefined;
      throw err;
    }
  }

  async seal(jobId: string, value: unknown): Promise<SealedResult> {
    // The key itself, not a re-read of #key: dispose() may have cleared it meanwhile (then bytes() throws).
    const key = await this.#ready({});
    const compressed = await gzipAsync(Buffer.from(JSON.stringify(value ?? null), 'utf8'));
    if (Math.ceil(compressed.length / 3) * 4 > (this.#options.maxSealedChars ?? MAX_SEALED_CHARS)) {
      throw new ResultTooLargeError(`sealed result of ${compressed.length} compressed bytes exceeds the item limit`);
    }
    // dispose() may have run while this seal was compressing: the key is gone, say so plainly.
    if (this.#disposed) throw new Error('result sealer used after dispose');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.plaintext.bytes(), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(jobId));
    const ct = Buffer.concat([cipher.update(compressed), cipher.final()]);
    return {
      v: 1,
      alg: 'A256GCM',
      zip: 'gzip',
      edk: key.ciphertext,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    };
  }

  /** Zeroes the data key. Idempotent. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const pending = this.#key;
    this.#key = undefined;
    if (pending === undefined) return;
    try {
      (await pending).plaintext.dispose();
    } catch {
      // Never generated: nothing to zero.
    }
  }

  async #generate(options: { abortSignal?: AbortSignal }): Promise<{ plaintext: SecureBuffer; ciphertext: string }> {
    const keyId = this.#options.keyId;
    if (keyId === undefined) throw new ConfigError('missing environment variable JOB_RESULT_KMS_KEY_ID (or KMS_KEY_ID)');
    const generate = this.#options.generateDataKey ?? generateDataKeyToSecureBuffer;
    const generated = await generate(this.#options.kms, { keyId, encryptionContext: this.#options.encryptionContext }, options);
    return { plaintext: generated.plaintext, ciphertext: Buffer.from(generated.ciphertext).toString('base64') };
  }
}

import { EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type {
  BuildHandler,
  BuildHandlerArguments,
  BuildMiddleware,
  DeserializeHandler,
  DeserializeHandlerArguments,
  DeserializeMiddleware,
  MetadataBearer,
} from '@smithy/types';
import { SecureBuffer } from '../secure/secure-buffer.ts';
import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import { KmsResponseError } from '../errors/index.ts';
import { mapKmsError, PlaintextSpliceError } from './errors.ts';
import { SecureKmsRequestHandler, takeSecureBody } from './secure-request-handler.ts';

/**
 * What the SDK is given as `Plaintext`: 48 fixed bytes (64 base64 characters, no padding) that
 * cannot occur by chance in a key id or an encryption context. The build-step middleware swaps its
 * base64 for the real one; the placeholder itself is never sent (the splice asserts it was found).
 */
const PLACEHOLDER_TEXT = 'didit-kms-gateway:encrypt-placeholder:v1:#######';
const PLACEHOLDER_BASE64 = Buffer.from(PLACEHOLDER_TEXT, 'latin1').toString('base64');
/** The placeholder as it appears in the serialized JSON body: a string value, quotes included. */
const PLACEHOLDER_JSON = Buffer.from(`"${PLACEHOLDER_BASE64}"`, 'latin1');

/** KMS Encrypt accepts 1 to 4096 bytes of plaintext. */
export const MAX_ENCRYPT_PLAINTEXT_BYTES = 4096;

// Standard alphabet with padding: what the KMS JSON protocol uses for blobs.
const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const PAD = 0x3d;

export interface EncryptInput {
  /** KMS key id, ARN, alias name (`alias/…`) or alias ARN. */
  readonly keyId: string;
  /** The secret. Only read here; the caller still owns and disposes it. */
  readonly plaintext: SecureBuffer;
  readonly encryptionContext: EncryptionContext;
}

export interface EncryptResult {
  readonly ciphertext: Uint8Array;
  /** ARN of the key KMS used (falls back to the requested id when KMS does not say). */
  readonly keyId: string;
}

/** Length of the standard, padded base64 encoding of `n` bytes. */
export function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/**
 * Encodes `src` as standard padded base64 into `out` at `offset`, one table lookup per output
 * character: no string, no intermediate copy. Returns the number of bytes written.
 */
export function encodeBase64Into(src: Uint8Array, out: Uint8Array, offset: number): number {
  const needed = base64Length(src.length);
  if (offset < 0 || offset + needed > out.length) throw new RangeError('base64 output does not fit');
  let o = offset;
  let i = 0;
  let a = 0;
  let b = 0;
  let c = 0;
  for (; i + 2 < src.length; i += 3) {
    a = src[i]!;
    b = src[i + 1]!;
    c = src[i + 2]!;
    out[o++] = ALPHABET[a >> 2]!;
    out[o++] = ALPHABET[((a & 0x03) << 4) | (b >> 4)]!;
    out[o++] = ALPHABET[((b & 0x0f) << 2) | (c >> 6)]!;
    out[o++] = ALPHABET[c & 0x3f]!;
  }
  const rest = src.length - i;
  if (rest === 1) {
    a = src[i]!;
    out[o++] = ALPHABET[a >> 2]!;
    out[o++] = ALPHABET[(a & 0x03) << 4]!;
    out[o++] = PAD;
    out[o++] = PAD;
  } else if (rest === 2) {
    a = src[i]!;
    b = src[i + 1]!;
    out[o++] = ALPHABET[a >> 2]!;
    out[o++] = ALPHABET[((a & 0x03) << 4) | (b >> 4)]!;
    out[o++] = ALPHABET[(b & 0x0f) << 2]!;
    out[o++] = PAD;
  }
  a = 0;
  b = 0;
  c = 0;
  return o - offset;
}

/**
 * Builds the request body that goes on the wire: the serialized body with the placeholder's base64
 * replaced by the base64 of `plaintext`, in a NEW secure buffer (prefix bytes + secure base64 +
 * suffix bytes). The serialized body holds only the placeholder, so it needs no wiping.
 * Throws {@link PlaintextSpliceError} unless the placeholder occurs exactly once.
 */
export function splicePlaintext(serialized: Uint8Array, plaintext: Uint8Array): SecureBuffer {
  const body = Buffer.from(serialized.buffer, serialized.byteOffset, serialized.byteLength);
  const at = body.indexOf(PLACEHOLDER_JSON);
  if (at < 0) throw new PlaintextSpliceError('Encrypt request body does not contain the plaintext placeholder');
  if (body.indexOf(PLACEHOLDER_JSON, at + 1) >= 0) {
    throw new PlaintextSpliceError('Encrypt request body contains the plaintext placeholder more than once');
  }
  const valueStart = at + 1; // after the opening quote
  const valueEnd = valueStart + PLACEHOLDER_BASE64.length; // at the closing quote
  const encodedLength = base64Length(plaintext.length);
  const total = valueStart + encodedLength + (body.length - valueEnd);
  const out = SecureBuffer.alloc(total);
  try {
    const target = out.capacity();
    let o = body.copy(target, 0, 0, valueStart);
    o += encodeBase64Into(plaintext, target, o);
    o += body.copy(target, o, valueEnd);
    if (o !== total) throw new PlaintextSpliceError('Encrypt request body length mismatch');
    return out;
  } catch (err) {
    out.dispose();
    throw err;
  }
}

/** Holds the secure request body of one Encrypt call, so the caller can dispose it after `send`. */
export interface SpliceSlot {
  body?: SecureBuffer;
}

/**
 * Middleware for the `build` step at priority `low`: it runs after serialization and after the
 * SDK's content-length middleware, before retries and SigV4 signing (`finalizeRequest`). It
 * replaces the placeholder in the serialized body, sets `request.body` to the secure buffer and
 * fixes `content-length`, so the signature covers the bytes the secure transport writes. Retries
 * happen below this step and resend the same secure body.
 */
export function plaintextSplice<I extends object, O extends MetadataBearer>(plaintext: SecureBuffer, slot: SpliceSlot): BuildMiddleware<I, O> {
  return (next: BuildHandler<I, O>) => async (args: BuildHandlerArguments<I>) => {
    const request = args.request as { body?: unknown; headers?: Record<string, string> };
    const serialized = request.body;
    let bytes: Uint8Array;
    if (serialized instanceof Uint8Array) bytes = serialized;
    else if (typeof serialized === 'string') bytes = Buffer.from(serialized, 'utf8'); // placeholder only: no secret
    else throw new PlaintextSpliceError('Encrypt request body is neither bytes nor a string');
    const body = splicePlaintext(bytes, plaintext.bytes());
    slot.body?.dispose();
    slot.body = body;
    const headers = request.headers ?? {};
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'content-length') delete headers[name];
    headers['content-length'] = String(body.length);
    request.headers = headers;
    request.body = body.bytes();
    return next(args);
  };
}

export const PLAINTEXT_SPLICE_OPTIONS = {
  step: 'build',
  priority: 'low',
  name: 'diditPlaintextSplice',
  override: true,
} as const;

/**
 * The Encrypt response holds no secret, but the secure handler delivers every KMS body in secure
 * memory: release it and give the SDK an ordinary copy to parse.
 */
function secureResponseRelease<I extends object, O extends MetadataBearer>(): DeserializeMiddleware<I, O> {
  return (next: DeserializeHandler<I, O>) => async (args: DeserializeHandlerArguments<I>) => {
    const result = await next(args);
    const response = result.response as { body?: unknown };
    const secure = takeSecureBody(response.body);
    if (secure !== undefined) {
      try {
        response.body = Buffer.from(secure.bytes());
      } finally {
        secure.dispose();
      }
    }
    return result;
  };
}

const RESPONSE_RELEASE_OPTIONS = {
  step: 'deserialize',
  priority: 'low',
  name: 'diditEncryptResponseRelease',
  override: true,
} as const;

/**
 * KMS Encrypt of a plaintext that lives in secure memory, the mirror of `decryptToSecureBuffer`.
 *
 * The SDK never sees the plaintext: it serializes a fixed placeholder, and {@link plaintextSplice}
 * swaps in the real base64, encoded byte by byte into a secure request body that SigV4 signs and
 * the secure transport writes. That body is zeroed and freed when the call ends, whatever the
 * outcome. Requires a client made by `createSecureKmsClient` (the stock handler would copy the body
 * into strings and native buffers); any other client is refused before anything is sent.
 */
export async function encryptFromSecureBuffer(
  client: KMSClient,
  input: EncryptInput,
  options: { abortSignal?: AbortSignal } = {},
): Promise<EncryptResult> {
  if (!(client.config.requestHandler instanceof SecureKmsRequestHandler)) {
    throw new PlaintextSpliceError('encryptFromSecureBuffer needs a client from createSecureKmsClient');
  }
  const length = input.plaintext.length;
  if (length < 1 || length > MAX_ENCRYPT_PLAINTEXT_BYTES) {
    throw new RangeError(`KMS Encrypt takes 1 to ${MAX_ENCRYPT_PLAINTEXT_BYTES} bytes of plaintext`);
  }
  const command = new EncryptCommand({
    KeyId: input.keyId,
    Plaintext: Buffer.from(PLACEHOLDER_TEXT, 'latin1'),
    EncryptionContext: { ...input.encryptionContext },
  });
  const slot: SpliceSlot = {};
  command.middlewareStack.add(plaintextSplice(input.plaintext, slot), PLAINTEXT_SPLICE_OPTIONS);
  command.middlewareStack.add(secureResponseRelease(), RESPONSE_RELEASE_OPTIONS);
  try {
    const output = await client.send(command, { abortSignal: options.abortSignal });
    if (slot.body === undefined) throw new PlaintextSpliceError('Encrypt was sent without the plaintext splice');
    const ciphertext = output.CiphertextBlob;
    if (ciphertext === undefined || ciphertext.length === 0) {
      throw new KmsResponseError('KMS Encrypt answered without a ciphertext');
    }
    return { ciphertext, keyId: output.KeyId ?? input.keyId };
  } catch (err) {
    throw mapEncryptError(err);
  } finally {
    // The transport is done with the body once `send` settled (answered, failed or aborted).
    slot.body?.dispose();
    slot.body = undefined;
  }
}

/**
 * Encrypt's own refusals (a splice that did not happen, a plaintext out of range) pass through; every
 * KMS failure goes through the one KMS error map (lib/kms/errors.ts).
 */
export function mapEncryptError(err: unknown): Error {
  if (err instanceof PlaintextSpliceError || err instanceof RangeError) return err;
  return mapKmsError(err, 'Encrypt');
}

import {
  DecryptCommand,
  type DecryptCommandOutput,
  type GenerateDataKeyCommand,
  type GenerateDataKeyCommandOutput,
  type KMSClient,
} from '@aws-sdk/client-kms';
import type { DeserializeHandler, DeserializeHandlerArguments, DeserializeMiddleware, MetadataBearer } from '@smithy/types';
import { KmsResponseError } from '../errors/index.ts';
import { type SecureBuffer, wipe } from '../secure/secure-buffer.ts';
import { decodeBase64ToSecure } from '../secure/base64.ts';
import { PlaintextCaptureError } from './errors.ts';
import { takeSecureBody } from './secure-request-handler.ts';

const KEY = Buffer.from('"Plaintext"', 'latin1');
const QUOTE = 0x22;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const NULL_LITERAL = Buffer.from('null', 'latin1');

/** Receives the plaintext taken out of one KMS response. */
export interface PlaintextSlot {
  plaintext?: SecureBuffer;
}

/**
 * Middleware for the `deserialize` step at priority `low`: it sits *inside* the SDK's deserializer,
 * so it sees the raw response before anything parses it.
 *
 * It finds the `"Plaintext":"…"` member in the body bytes, decodes the base64 bytes directly into
 * secure memory, overwrites the member in place with `null` padded with spaces (still valid JSON),
 * and gives the SDK an ordinary copy of the scrubbed body. The SDK's output therefore has no
 * `Plaintext`, and the only copy of the key is the SecureBuffer in `slot`.
 *
 * @example
 * ```ts
 * const slot: PlaintextSlot = {};
 * command.middlewareStack.add(plaintextCapture(slot), PLAINTEXT_CAPTURE_OPTIONS);
 * ```
 */
export function plaintextCapture<I extends object, O extends MetadataBearer>(slot: PlaintextSlot): DeserializeMiddleware<I, O> {
  return (next: DeserializeHandler<I, O>) => async (args: DeserializeHandlerArguments<I>) => {
    const result = await next(args);
    const response = result.response as { statusCode?: number; body?: unknown };
    const secure = takeSecureBody(response.body);
    if (secure === undefined) {
      throw new PlaintextCaptureError('KMS response did not come through the secure request handler');
    }
    try {
      if (response.statusCode === 200) {
        const captured = extractPlaintext(secure.bytes());
        if (captured !== undefined) {
          slot.plaintext?.dispose(); // an earlier attempt's capture, if the SDK retried after parsing
          slot.plaintext = captured;
        }
      }
      // Scrubbed now (or an error body): an ordinary copy is safe for the SDK to parse.
      response.body = Buffer.from(secure.bytes());
    } finally {
      secure.dispose();
    }
    return result;
  };
}

export const PLAINTEXT_CAPTURE_OPTIONS = {
  step: 'deserialize',
  priority: 'low',
  name: 'diditPlaintextCapture',
  override: true,
} as const;

/** The KMS commands whose answer carries a `Plaintext`: every one of them goes through {@link sendCapturingPlaintext}. */
export type PlaintextCommand = DecryptCommand | GenerateDataKeyCommand;
type OutputOf<C extends PlaintextCommand> = C extends DecryptCommand ? DecryptCommandOutput : GenerateDataKeyCommandOutput;

/**
 * Sends one KMS command that answers a plaintext (Decrypt, GenerateDataKey) with the capture middleware on
 * it, and enforces what the capture promises, identically for every such command:
 * - the plaintext reaches only secure memory: an SDK output that still holds `Plaintext` means the capture
 *   did not run, and that plaintext is zeroed and refused;
 * - without the secure request handler the capture throws {@link PlaintextCaptureError} (fail closed);
 * - an answer without a plaintext is refused; on any failure a captured plaintext is disposed.
 *
 * The caller owns the returned plaintext and must dispose it. Errors are the SDK's or ours, unmapped: the
 * caller maps them (`mapKmsError`).
 *
 * @example
 * ```ts
 * const { output, plaintext } = await sendCapturingPlaintext(client, new DecryptCommand(input));
 * try { use(plaintext.bytes()); } finally { plaintext.dispose(); }
 * ```
 * @throws KmsResponseError when the plaintext reached the SDK output or the answer had none.
 * @throws PlaintextCaptureError when the response did not come through the secure request handler.
 */
export async function sendCapturingPlaintext<C extends PlaintextCommand>(
  client: KMSClient,
  command: C,
  options: { abortSignal?: AbortSignal } = {},
): Promise<{ output: Omit<OutputOf<C>, 'Plaintext'>; plaintext: SecureBuffer }> {
  const slot: PlaintextSlot = {};
  const sendOptions = { abortSignal: options.abortSignal };
  let send: () => Promise<OutputOf<C>>;
  let operation: string;
  // Two branches only because the SDK's stack and `send` are typed per command; the steps are the same.
  if (command instanceof DecryptCommand) {
    operation = 'Decrypt';
    command.middlewareStack.add(plaintextCapture(slot), PLAINTEXT_CAPTURE_OPTIONS);
    send = () => client.send(command, sendOptions) as Promise<OutputOf<C>>;
  } else {
    operation = 'GenerateDataKey';
    const generate = command as GenerateDataKeyCommand;
    generate.middlewareStack.add(plaintextCapture(slot), PLAINTEXT_CAPTURE_OPTIONS);
    send = () => client.send(generate, sendOptions) as Promise<OutputOf<C>>;
  }
  try {
    const output = await send();
    if (output.Plaintext !== undefined) {
      // The capture did not run: the plaintext is now in SDK-owned memory. Refuse to use it.
      output.Plaintext.fill(0);
      throw new KmsResponseError('KMS plaintext reached the SDK output: capture middleware bypassed');
    }
    const plaintext = slot.plaintext;
    if (plaintext === undefined) throw new KmsResponseError(`KMS ${operation} answered without a plaintext`);
    slot.plaintext = undefined;
    return { output, plaintext };
  } catch (err) {
    slot.plaintext?.dispose();
    slot.plaintext = undefined;
    throw err;
  }
}

/**
 * Decodes and blanks the Plaintext member of a KMS JSON body, in place. Returns undefined when the
 * body has no such member. Throws when it has one that is not a base64 string.
 */
export function extractPlaintext(body: Buffer): SecureBuffer | undefined {
  const at = findKey(body);
  if (at < 0) return undefined;
  let i = skipSpace(body, at + KEY.length);
  if (body[i] !== COLON) throw new PlaintextCaptureError('Plaintext member is not followed by a colon');
  i = skipSpace(body, i + 1);
  if (body[i] !== QUOTE) throw new PlaintextCaptureError('Plaintext member is not a string');
  const start = i + 1;
  let end = start;
  while (end < body.length && body[end] !== QUOTE) end++;
  if (end >= body.length) throw new PlaintextCaptureError('Plaintext string is not terminated');
  const encoded = body.subarray(start, end);
  let plaintext: SecureBuffer;
  try {
    plaintext = decodeBase64ToSecure(encoded);
  } finally {
    wipe(encoded);
  }
  // Replace `"<base64>"` (quotes included) with `null` and spaces: same length, valid JSON.
  const value = body.subarray(i, end + 1);
  value.fill(0x20);
  NULL_LITERAL.copy(value, 0);
  return plaintext;
}

function findKey(body: Buffer): number {
  let from = 0;
  for (;;) {
    const at = body.indexOf(KEY, from);
    if (at < 0) return -1;
    // Inside a JSON string a quote is escaped; a key's opening quote never follows a backslash.
    if (at === 0 || body[at - 1] !== BACKSLASH) return at;
    from = at + 1;
  }
}

function skipSpace(body: Buffer, i: number): number {
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0a || body[i] === 0x0d)) i++;
  return i;
}

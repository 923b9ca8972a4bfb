import { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { KmsResponseError } from '../../lib/errors/index.ts';
import { generateDataKeyToSecureBuffer } from '../../lib/kms/data-key.ts';
import { decryptToSecureBuffer } from '../../lib/kms/decrypt.ts';

// A KMS that answers a plaintext through an ordinary request handler (not the secure one): both KMS calls that
// answer a plaintext must refuse it the same way (fail closed), since they go through one capture path.
function ordinaryKms(): { client: KMSClient; answers: Buffer[] } {
  const answers: Buffer[] = [];
  const requestHandler = {
    handle: async () => {
      const body = Buffer.from(JSON.stringify({ KeyId: 'arn:aws:kms:eu-west-1:000000000000:key/k', Plaintext: Buffer.alloc(32, 7).toString('base64'), CiphertextBlob: 'AAAA' }));
      answers.push(body);
      return { response: { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body } };
    },
  };
  const client = new KMSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }, requestHandler });
  return { client, answers };
}

describe('one capture path for every KMS call that answers a plaintext', () => {
  const encryptionContext = { service: 's', stage: 'x', purpose: 'p' };

  it('Decrypt without the secure request handler: no key (KMS_BAD_RESPONSE)', async () => {
    const { client, answers } = ordinaryKms();
    const refused = decryptToSecureBuffer(client, { ciphertext: new Uint8Array([1]), encryptionContext });
    await expect(refused).rejects.toBeInstanceOf(KmsResponseError);
    await expect(refused).rejects.toMatchObject({ cause: { name: 'PlaintextCaptureError' } });
    expect(answers).toHaveLength(1);
  });

  it('GenerateDataKey without the secure request handler: no key (KMS_BAD_RESPONSE)', async () => {
    const { client, answers } = ordinaryKms();
    const refused = generateDataKeyToSecureBuffer(client, { keyId: 'k', encryptionContext });
    await expect(refused).rejects.toBeInstanceOf(KmsResponseError);
    await expect(refused).rejects.toMatchObject({ cause: { name: 'PlaintextCaptureError' } });
    expect(answers).toHaveLength(1);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { SecureKmsRequestHandler } from '../../lib/kms/secure-request-handler.ts';
import { checkAwsEndpoints, ConfigError } from '../../lib/config/env.ts';
import { loadConfig } from '../../lib/runtime/config.ts';

// Issue 8, finding 5: plain-http AWS endpoints only where the configuration says "local emulator".
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('AWS endpoints', () => {
  it('plain http is refused without the local-emulator switch, whatever the host', () => {
    for (const endpoint of ['http://127.0.0.1:4566', 'http://localhost:5000', 'http://[::1]:4566']) {
      expect(() => checkAwsEndpoints({ AWS_ENDPOINT_URL: endpoint }), endpoint).toThrow(ConfigError);
      expect(() => checkAwsEndpoints({ AWS_ENDPOINT_URL_KMS: endpoint }), endpoint).toThrow(ConfigError);
      expect(() => checkAwsEndpoints({}, endpoint), endpoint).toThrow(ConfigError);
    }
  });

  it('with the switch, plain http only on loopback; https always; anything else never', () => {
    const local = { DIDIT_LOCAL_EMULATOR: '1' };
    expect(() => checkAwsEndpoints({ ...local, AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_ENDPOINT_URL_DYNAMODB: 'http://localhost:5001' })).not.toThrow();
    expect(() => checkAwsEndpoints({ IS_OFFLINE: 'true', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })).not.toThrow();
    for (const endpoint of ['http://127.attacker.example:4566', 'http://10.0.0.5:4566', 'http://kms.eu-west-1.amazonaws.com', 'ftp://127.0.0.1/', 'not a url']) {
      expect(() => checkAwsEndpoints({ ...local, AWS_ENDPOINT_URL_S3: endpoint }), endpoint).toThrow(ConfigError);
    }
    expect(() => checkAwsEndpoints({ AWS_ENDPOINT_URL: 'https://kms.eu-west-1.amazonaws.com', AWS_ENDPOINT_URL_SQS: 'https://10.0.0.5' })).not.toThrow();
    expect(() => checkAwsEndpoints({ DIDIT_LOCAL_EMULATOR: 'yes', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })).toThrow(ConfigError);
  });

  it('the secure KMS client refuses at startup, not at the first Decrypt', () => {
    expect(() => createSecureKmsClient({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', env: {} })).toThrow(ConfigError);
    expect(() => createSecureKmsClient({ region: 'eu-west-1', env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' } })).toThrow(ConfigError);
    vi.stubEnv('DIDIT_LOCAL_EMULATOR', '');
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4566');
    expect(() => createSecureKmsClient({ region: 'eu-west-1' })).toThrow(ConfigError);
    vi.stubEnv('DIDIT_LOCAL_EMULATOR', '1');
    expect(() => createSecureKmsClient({ region: 'eu-west-1' }).handler.destroy()).not.toThrow();
  });

  it('the request handler itself speaks plain http only when told this is a local emulator', async () => {
    const request = { protocol: 'http:', hostname: '127.0.0.1', port: 9, method: 'POST', path: '/', headers: {}, query: {}, body: '{}' };
    const strict = new SecureKmsRequestHandler({ requestTimeoutMs: 500 });
    await expect(strict.handle(request as never)).rejects.toThrow(/https/);
    const dns = new SecureKmsRequestHandler({ requestTimeoutMs: 500, allowPlainHttpLoopback: true });
    await expect(dns.handle({ ...request, hostname: '127.attacker.example' } as never)).rejects.toThrow(/https/);
    strict.destroy();
    dns.destroy();
  });

  it('the Didit base URL is https in every stage, loopback or not', () => {
    const base = { STAGE: 'dev', SEALED_KEY_SECRET_ID: 'didit/dev', DIDIT_LOCAL_EMULATOR: '1' };
    for (const url of ['http://127.0.0.1:8443', 'http://verification.didit.me']) {
      expect(() => loadConfig({ ...base, DIDIT_BASE_URL: url }), url).toThrow(ConfigError);
    }
  });
});

describe('the upload URL function (no KMS client of its own)', () => {
  it('refuses a plain-http S3 endpoint at startup without the switch', async () => {
    const { createPresignDependencies } = await import('../../lib/adapters/uploads/presign.ts');
    const config = { region: 'eu-west-1', bucket: 'b', kmsKeyId: 'k', expiresInSeconds: 900, forcePathStyle: true } as never;
    vi.stubEnv('DIDIT_LOCAL_EMULATOR', '');
    vi.stubEnv('AWS_ENDPOINT_URL_S3', 'http://127.0.0.1:4566');
    expect(() => createPresignDependencies(config)).toThrow(ConfigError);
    vi.stubEnv('DIDIT_LOCAL_EMULATOR', '1');
    expect(() => createPresignDependencies(config)).not.toThrow();
  });
});

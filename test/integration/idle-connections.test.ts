import { randomBytes, randomUUID } from 'node:crypto';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionSealedKey, secretsClientFor, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { buildRequestHead } from '../../lib/didit/request-head.ts';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { decryptToSecureBuffer } from '../../lib/kms/decrypt.ts';
import { SecureKmsRequestHandler } from '../../lib/kms/secure-request-handler.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import type { WireRequest } from '../../lib/transport/connection.ts';
import { WireError } from '../../lib/transport/errors.ts';
import { originOf } from '../../lib/transport/origin.ts';
import { ConnectionPool } from '../../lib/transport/pool.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { testEmulator, testTlsEmulator } from '../support/aws.ts';
import { startTlsCountingProxy, type TlsCountingProxy } from '../support/tls-counting-proxy.ts';

// After an idle period (a frozen Lambda environment) the transport must not pay a full TLS handshake:
// it reuses a connection the server still keeps, notices one the server closed before writing into
// it, and reconnects with a resumed TLS session. Idle time is a clock the pool reads (no sleeping);
// servers close connections on demand and the test waits for their 'close' events.

describe('Didit leg (sandbox: Keep-Alive timeout=120)', () => {
  let sandbox: Sandbox;
  let key: SecureBuffer;
  let offsetMs = 0;
  let pool: ConnectionPool;
  let baseline = { full: 0, resumed: 0 };

  beforeAll(async () => {
    sandbox = await startSandbox();
    key = SecureBuffer.alloc(sandbox.apiKey.length);
    sandbox.apiKey.copy(key.bytes());
  });
  afterAll(async () => {
    key.dispose();
    await sandbox.close();
  });
  beforeEach(() => {
    sandbox.reset();
    offsetMs = 0;
    pool = new ConnectionPool(originOf(sandbox.url), { ca: sandbox.caPem, now: () => Date.now() + offsetMs });
    baseline = { full: 0, resumed: 0 };
    baseline = handshakes();
  });
  afterEach(() => pool.close());

  /** createSession, the operation Didit charges for: never idempotent. */
  const createSession = (): WireRequest => {
    const body = Buffer.from(JSON.stringify({ workflow_id: randomUUID() }));
    const owner = buildRequestHead(
      {
        method: 'POST',
        target: '/v3/session/',
        host: pool.origin.hostHeader,
        headers: [
          ['content-type', 'application/json'],
          ['content-length', String(body.length)],
        ],
      },
      key,
    );
    return { head: owner.bytes(), headOwner: owner, body: [body], sink: 'plain', maxBodyBytes: 1 << 20, deadline: Date.now() + 10_000 };
  };
  const sessionsReceived = (): number => sandbox.count({ method: 'POST', pathPrefix: '/v3/session/' });
  /** Server-side counts since this test's pool was created (a new pool has no session: its first is full). */
  const handshakes = (): { full: number; resumed: number } => ({
    full: sandbox.tlsHandshakes() - sandbox.tlsResumedHandshakes() - baseline.full,
    resumed: sandbox.tlsResumedHandshakes() - baseline.resumed,
  });

  it('learns the keep-alive and reuses the connection after 60 s idle while the server keeps it', async () => {
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    expect(pool.idleBudgetMs).toBe(118_000);
    offsetMs = 60_000;
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    expect(pool.stats).toMatchObject({ connectionsOpened: 1, reusedExchanges: 1, closedWhileIdle: 0 });
    expect(handshakes()).toEqual({ full: 1, resumed: 0 });
    expect(sessionsReceived()).toBe(2);
  });

  it('a connection the server closed while idle is dropped before writing and replaced by a resumed session', async () => {
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    // The server's idle timeout fires while the environment is frozen: it closes, we have not read it yet.
    expect(await sandbox.closeIdleConnections()).toBe(1);
    offsetMs = 61_000;
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    // Detected before writing: the dead connection carried no exchange, nothing was resent.
    expect(pool.stats).toMatchObject({ closedWhileIdle: 1, exchanges: 2, reusedExchanges: 0, connectionsOpened: 2 });
    expect(pool.stats).toMatchObject({ fullTlsHandshakes: 1, resumedTlsHandshakes: 1 });
    expect(handshakes()).toEqual({ full: 1, resumed: 1 });
    expect(sessionsReceived()).toBe(2);
  });

  it('past the advertised keep-alive a connection is not reused for a request that must not be sent twice', async () => {
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    offsetMs = 119_000; // the server would close it any moment now (timeout=120 minus the margin)
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    expect(pool.stats).toMatchObject({ connectionsOpened: 2, reusedExchanges: 0 });
    expect(handshakes()).toEqual({ full: 1, resumed: 1 });
  });

  it('a non-idempotent request that may have left is not resent; an idempotent one is, on a resumed session', async () => {
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    offsetMs = 30_000;
    // The reused connection dies after the request reached the server, before any answer.
    sandbox.inject({ fault: { kind: 'reset' }, method: 'POST', pathPrefix: '/v3/session/' });
    const outcome = await pool.send(createSession, { idempotent: false }).then(
      () => 'answered',
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(WireError);
    expect(outcome).toMatchObject({ reused: true, requestSent: true, responseStarted: false });
    expect(sessionsReceived()).toBe(2); // the first call, and the failed one exactly once

    offsetMs = 31_000;
    const before = handshakes();
    // A new connection (resumed), reused below and lost the same way.
    expect((await pool.send(createSession, { idempotent: false })).status).toBe(201);
    sandbox.inject({ fault: { kind: 'reset' }, method: 'POST', pathPrefix: '/v3/session/' });
    offsetMs = 32_000;
    expect((await pool.send(createSession, { idempotent: true })).status).toBe(201);
    expect(sessionsReceived()).toBe(2 + 1 + 2); // the idempotent one: the lost attempt and its resend
    expect(handshakes().full).toBe(before.full);
  });
});

describe('KMS leg (emulator behind a TLS proxy that counts handshakes)', () => {
  const em = testEmulator();
  const apiKey = Buffer.from(`sk_idle_${randomBytes(18).toString('hex')}`);
  let sealed: SealedKeyResources;
  let ciphertext: Uint8Array;
  let proxy: TlsCountingProxy;

  beforeAll(async () => {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: em.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey });
    sealed = await provisionSealedKey(em, { stage: 'idle', apiKey });
    const sm = secretsClientFor(em);
    ciphertext = (await sm.send(new GetSecretValueCommand({ SecretId: sealed.secretId }))).SecretBinary!;
    sm.destroy();
    proxy = await startTlsCountingProxy(em.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await teardownSealedKey(em, sealed);
  });

  it('Decrypt after the server closed the idle connection resumes the TLS session', async () => {
    const handler = new SecureKmsRequestHandler({ ca: proxy.caPem });
    const client = new KMSClient({ region: em.region, endpoint: proxy.url, requestHandler: handler, maxAttempts: 1 });
    const decrypt = async (): Promise<void> => {
      const { plaintext } = await decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext });
      expect(plaintext.equals(apiKey)).toBe(true);
      plaintext.dispose();
    };
    try {
      await decrypt();
      expect({ full: proxy.fullHandshakes(), resumed: proxy.resumedHandshakes() }).toEqual({ full: 1, resumed: 0 });
      await proxy.closeAll();
      await decrypt();
      await proxy.closeAll();
      await decrypt();
      // moto closes after every answer, LocalStack keeps the connection: either way, one full handshake.
      expect(proxy.fullHandshakes()).toBe(1);
      expect(proxy.resumedHandshakes()).toBe(2);
    } finally {
      client.destroy();
      handler.destroy();
    }
  });
});

describe("KMS leg over the emulator's own TLS server (client-side counts)", () => {
  const em = testTlsEmulator();
  const apiKey = Buffer.from(`sk_idle_${randomBytes(18).toString('hex')}`);
  let sealed: SealedKeyResources;
  let ciphertext: Uint8Array;

  beforeAll(async () => {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: em.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey });
    sealed = await provisionSealedKey(em, { stage: 'idle-tls', apiKey });
    const sm = secretsClientFor(em);
    ciphertext = (await sm.send(new GetSecretValueCommand({ SecretId: sealed.secretId }))).SecretBinary!;
    sm.destroy();
  });
  afterAll(async () => {
    await teardownSealedKey(em, sealed);
  });

  it('every reconnect resumes: one full handshake whatever the emulator does with connections', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint, emulatorCa: em.caPem, maxAttempts: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const { plaintext } = await decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext });
        expect(plaintext.equals(apiKey)).toBe(true);
        plaintext.dispose();
      }
      // moto (TLS mode) closes after every answer: 3 connections, 2 resumed. LocalStack keeps one open.
      expect(handler.tlsHandshakes.full).toBe(1);
      expect(handler.tlsHandshakes.resumed).toBe(handler.connectionsOpened - 1);
      expect(handler.connectionsOpened).toBe(em.kind === 'moto' ? 3 : 1);
    } finally {
      client.destroy();
      handler.destroy();
    }
  });
});

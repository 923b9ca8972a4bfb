/**
 * One benchmark variant's warm run, in its own process (forked by bench/run.ts with IPC), so no
 * variant's warm connections or JIT help another.
 *
 * Protocol: child → {ready}; parent → {run, warmup, calls}; child runs the warm-up calls →
 * {warmed, counters}; parent snapshots the sandbox → {measure}; child runs the measured calls →
 * {measured, latencies, counters}; parent snapshots again → {extra}; child runs variant-specific
 * extra measurements (for `ours`: the KMS Decrypt round trip alone) → {extra, data}; parent → {exit}.
 *
 * The variant's configuration comes from this process's environment, set by the parent. The Didit
 * key reaches this process only in the naive variant (DIDIT_API_KEY, by definition of that variant).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Pluggable } from '@smithy/types';
import { apiEvent, lambdaContext } from '../test/support/api-events.ts';

export type VariantName = 'naive' | 'powertools' | 'ours';

export type ParentMessage =
  | { type: 'run'; warmup: number; calls: number; body: string }
  | { type: 'measure' }
  | { type: 'extra' }
  | { type: 'exit' };

export type Counters = Record<string, number>;

export type ChildMessage =
  | { type: 'ready'; loadMs: number }
  | { type: 'warmed'; counters: Counters; failures: number[] }
  | { type: 'measured'; latencies: number[]; windowMs: number; counters: Counters; failures: number[] }
  | { type: 'extra'; data: Record<string, unknown> }
  | { type: 'error'; message: string };

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

interface Probe {
  readonly handler: Handler;
  counters(): Counters;
  extra(calls: number): Promise<Record<string, unknown>>;
  close(): void;
}

// New TCP connections to the AWS endpoint, whatever opens them (SDK agent, undici, our pool). Must be
// subscribed before any client exists. TLS sockets are not published here; Didit's side is counted by
// the sandbox (server side) instead.
const awsPort = Number(process.env['BENCH_AWS_PORT'] ?? '0');
let awsSockets = 0;
diagnosticsChannel.subscribe('net.client.socket', (message) => {
  const socket = (message as { socket: Socket }).socket;
  socket.once('connect', () => {
    if (socket.remotePort === awsPort) awsSockets += 1;
  });
});

const variant = process.argv[2] as VariantName;
const send = (message: ChildMessage): void => {
  process.send?.(message);
};

async function load(name: VariantName): Promise<Probe> {
  switch (name) {
    case 'naive': {
      const mod = await import('./variants/naive.ts');
      return { handler: mod.handler, counters: () => ({ awsSockets }), extra: async () => ({}), close: () => {} };
    }
    case 'powertools': {
      const mod = await import('./variants/powertools.ts');
      // Instrumentation only: count the GetSecretValue calls Powertools actually makes (cache misses).
      let secretReads = 0;
      const counting: Pluggable<object, object> = {
        applyToStack: (stack) =>
          stack.add(
            (next) => async (args) => {
              secretReads += 1;
              return next(args);
            },
            { step: 'initialize', name: 'benchCountReads' },
          ),
      };
      (mod.secrets as unknown as { client: SecretsManagerClient }).client.middlewareStack.use(counting as never);
      return {
        handler: mod.handler,
        counters: () => ({ awsSockets, secretReads }),
        async extra(calls) {
          // What a Powertools cache miss costs: GetSecretValue through the same provider, cache bypassed.
          const secretId = process.env['DIDIT_SECRET_ID'] ?? '';
          const once = async (): Promise<number> => {
            const started = performance.now();
            await mod.secrets.get(secretId, { forceFetch: true });
            return performance.now() - started;
          };
          for (let i = 0; i < Math.min(20, calls); i++) await once();
          const socketsBefore = awsSockets;
          const secretReadMs: number[] = [];
          for (let i = 0; i < calls; i++) secretReadMs.push(await once());
          return { secretReadMs, secretReadConnectionsOpened: awsSockets - socketsBefore };
        },
        close: () => {},
      };
    }
    case 'ours':
      return loadOurs();
  }
}

async function loadOurs(): Promise<Probe> {
  const [{ createDependencies }, { loadConfig }, { createOperationHandler }, { OPERATIONS }, { createSecureKmsClient }, { decryptToSecureBuffer }] =
    await Promise.all([
      import('../lib/runtime/dependencies.ts'),
      import('../lib/runtime/config.ts'),
      import('../lib/adapters/http/operation-handler.ts'),
      import('../lib/operations/table.ts'),
      import('../lib/kms/client.ts'),
      import('../lib/kms/decrypt.ts'),
    ]);
  type SealedKey = import('../lib/sealed-key/sealed-key.ts').SealedKey;
  const config = loadConfig(process.env);
  const deps = createDependencies(config);

  // The handler's own KMS latency per call, read through the observer it already passes to withKey.
  const kmsInCall: number[] = [];
  const real = deps.sealedKey;
  const withKey: SealedKey['withKey'] = (fn, options = {}) =>
    real.withKey(fn, {
      ...options,
      observer: {
        ...options.observer,
        decrypted: (info) => {
          kmsInCall.push(info.kmsLatencyMs);
          options.observer?.decrypted?.(info);
        },
      },
    });
  const benchDeps = { ...deps, sealedKey: { withKey } as unknown as SealedKey };
  const handler = createOperationHandler(OPERATIONS.createSession, { dependencies: () => benchDeps });

  return {
    handler,
    counters: () => ({
      awsSockets,
      kmsConnectionsOpened: deps.kmsHandler.connectionsOpened,
      diditConnectionsOpened: deps.didit.stats.connectionsOpened,
      diditReusedExchanges: deps.didit.stats.reusedExchanges,
      diditExchanges: deps.didit.stats.exchanges,
      kmsInCallSamples: kmsInCall.length,
    }),
    async extra(calls) {
      // KMS Decrypt alone: the same call the handler makes, through the same kind of secure client,
      // with the ciphertext and context the handler uses. Own client, warmed up first.
      const sm = new SecretsManagerClient({ region: config.region });
      const secret = await sm.send(new GetSecretValueCommand({ SecretId: config.sealedKeySecretId }));
      sm.destroy();
      const ciphertext = secret.SecretBinary;
      if (ciphertext === undefined) throw new Error('sealed secret has no SecretBinary');
      const { client, handler: kmsHandler } = createSecureKmsClient({ region: config.region });
      const input = { ciphertext, encryptionContext: deps.encryptionContext, keyId: config.kmsKeyId };
      const once = async (): Promise<number> => {
        const started = performance.now();
        const { plaintext } = await decryptToSecureBuffer(client, input);
        const elapsed = performance.now() - started;
        plaintext.dispose();
        return elapsed;
      };
      for (let i = 0; i < Math.min(20, calls); i++) await once();
      const connectionsBefore = kmsHandler.connectionsOpened;
      const decryptMs: number[] = [];
      for (let i = 0; i < calls; i++) decryptMs.push(await once());
      const connectionsDuring = kmsHandler.connectionsOpened - connectionsBefore;
      client.destroy();
      return { decryptMs, decryptConnectionsOpened: connectionsDuring, kmsInCallMs: [...kmsInCall] };
    },
    close: () => {
      deps.didit.close();
      deps.kmsHandler.destroy();
    },
  };
}

function nextMessage(): Promise<ParentMessage> {
  return new Promise((resolve) => process.once('message', (m) => resolve(m as ParentMessage)));
}

async function call(handler: Handler, body: string): Promise<{ ms: number; status: number }> {
  const event = apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body });
  const context = lambdaContext({ remainingMs: 13_000 });
  const started = performance.now();
  const result = await handler(event, context);
  return { ms: performance.now() - started, status: result.statusCode };
}

async function main(): Promise<void> {
  // The parent going away (crash, Ctrl-C) ends this process too.
  process.once('disconnect', () => process.exit(2));
  const loadStarted = performance.now();
  const probe = await load(variant);
  send({ type: 'ready', loadMs: performance.now() - loadStarted });

  const run = await nextMessage();
  if (run.type !== 'run') throw new Error(`expected run, got ${run.type}`);
  const warmFailures: number[] = [];
  for (let i = 0; i < run.warmup; i++) {
    const { status } = await call(probe.handler, run.body);
    if (status !== 201) warmFailures.push(status);
  }
  send({ type: 'warmed', counters: probe.counters(), failures: warmFailures });

  if ((await nextMessage()).type !== 'measure') throw new Error('expected measure');
  const latencies: number[] = [];
  const failures: number[] = [];
  const windowStarted = performance.now();
  for (let i = 0; i < run.calls; i++) {
    const { ms, status } = await call(probe.handler, run.body);
    latencies.push(ms);
    if (status !== 201) failures.push(status);
  }
  send({ type: 'measured', latencies, windowMs: performance.now() - windowStarted, counters: probe.counters(), failures });

  if ((await nextMessage()).type !== 'extra') throw new Error('expected extra');
  send({ type: 'extra', data: await probe.extra(run.calls) });

  await nextMessage();
  probe.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  // Names and our own messages only: nothing here carries the key.
  send({ type: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown error' });
  setTimeout(() => process.exit(1), 100);
});

/**
 * The gateway's createSession handler in its own process, for bench/idle.ts: the parent freezes this
 * process between calls (cgroup freezer, as Lambda freezes an idle environment) and asks for one call
 * after each thaw.
 *
 * Protocol: child → {ready}; parent → {call} … child → {called, ms, status, counters}; parent → {exit}.
 * Configuration comes from the environment the parent sets (sealed key, KMS endpoint behind the TLS
 * counting proxy, Didit sandbox); the Didit key never reaches this process other than through KMS.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { apiEvent, lambdaContext } from '../test/support/api-events.ts';

export type IdleParentMessage = { type: 'call'; body: string } | { type: 'exit' };

export interface IdleCounters {
  diditFull: number;
  diditResumed: number;
  diditConnectionsOpened: number;
  diditReusedExchanges: number;
  diditClosedWhileIdle: number;
  kmsFull: number;
  kmsResumed: number;
  kmsConnectionsOpened: number;
}

export type IdleChildMessage =
  | { type: 'ready' }
  | { type: 'called'; ms: number; kmsMs: number; status: number; counters: IdleCounters }
  | { type: 'error'; message: string };

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const send = (message: IdleChildMessage): void => {
  process.send?.(message);
};

function nextMessage(): Promise<IdleParentMessage> {
  return new Promise((resolve) => process.once('message', (m) => resolve(m as IdleParentMessage)));
}

async function main(): Promise<void> {
  process.once('disconnect', () => process.exit(2));
  const [{ createDependencies }, { loadConfig }, { createOperationHandler }, { OPERATIONS }] = await Promise.all([
    import('../lib/runtime/dependencies.ts'),
    import('../lib/runtime/config.ts'),
    import('../lib/adapters/http/operation-handler.ts'),
    import('../lib/operations/table.ts'),
  ]);
  const deps = createDependencies(loadConfig(process.env));
  // The KMS share of each call, read through the observer the handler already passes to withKey.
  type SealedKey = import('../lib/sealed-key/sealed-key.ts').SealedKey;
  let kmsMs = 0;
  const real = deps.sealedKey;
  const withKey: SealedKey['withKey'] = (fn, options = {}) =>
    real.withKey(fn, {
      ...options,
      observer: {
        ...options.observer,
        decrypted: (info) => {
          kmsMs = info.kmsLatencyMs;
          options.observer?.decrypted?.(info);
        },
      },
    });
  const benchDeps = { ...deps, sealedKey: { withKey } as unknown as SealedKey };
  const handler: Handler = createOperationHandler(OPERATIONS.createSession, { dependencies: () => benchDeps });
  // The Didit client's stats object is its pool's (typed narrower than it is).
  const didit = deps.didit.stats as unknown as {
    connectionsOpened: number;
    reusedExchanges: number;
    fullTlsHandshakes: number;
    resumedTlsHandshakes: number;
    closedWhileIdle: number;
  };
  const counters = (): IdleCounters => ({
    diditFull: didit.fullTlsHandshakes,
    diditResumed: didit.resumedTlsHandshakes,
    diditConnectionsOpened: didit.connectionsOpened,
    diditReusedExchanges: didit.reusedExchanges,
    diditClosedWhileIdle: didit.closedWhileIdle,
    kmsFull: deps.kmsHandler.tlsHandshakes.full,
    kmsResumed: deps.kmsHandler.tlsHandshakes.resumed,
    kmsConnectionsOpened: deps.kmsHandler.connectionsOpened,
  });
  send({ type: 'ready' });
  for (;;) {
    const message = await nextMessage();
    if (message.type === 'exit') break;
    const event = apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: message.body });
    kmsMs = Number.NaN;
    const started = performance.now();
    const result = await handler(event, lambdaContext({ remainingMs: 13_000 }));
    send({ type: 'called', ms: performance.now() - started, kmsMs, status: result.statusCode, counters: counters() });
  }
  deps.didit.close();
  deps.kmsHandler.destroy();
  process.exit(0);
}

main().catch((err: unknown) => {
  // Names and our own messages only: nothing here carries the key.
  send({ type: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown error' });
  setTimeout(() => process.exit(1), 100);
});

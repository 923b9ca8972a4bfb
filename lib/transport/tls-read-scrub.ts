import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { TlsReadScrubError } from './errors.ts';

/**
 * Overwrites the native stack array that Node's TLS layer decrypts every read into.
 *
 * `TLSWrap::ClearOut` (src/crypto/crypto_tls.cc) calls `SSL_read` into `char out[16384]` on the main
 * thread's C stack and copies from there into the buffer JavaScript sees. Nothing zeroes that array; it
 * keeps the last cleartext read until a later TLS read at the same stack depth overwrites it. For KMS
 * that is the Decrypt answer, `{"Plaintext":"<base64 key>",…}`: after a call whose Didit leg ends in a
 * reset or a timeout nothing else is read, and a frozen Lambda environment keeps it
 * (../shared/key-hygiene.md, "The TLS read path"; test/residue reproduces it).
 *
 * JavaScript cannot write to that array, but it can make ClearOut overwrite it: every TLS read from a TCP
 * socket reaches ClearOut through the same native call chain from the event loop (uv__io_poll →
 * uv__read → LibuvStreamWrap::OnUvRead → TLSWrap::OnStreamRead → Cycle → ClearOut), so its frame, and
 * `out`, sit at the same address. This module keeps an in-process loopback TLS pair (TLS 1.2 with a random
 * pre-shared key: no certificate, nothing leaves the host) and, per scrub, sends one full record of 16 KiB
 * of junk through it: the client's ClearOut `SSL_read`s all 16384 bytes into `out`, which overwrites every
 * byte of it. The scrub resolves once the client has received them, i.e. after the overwrite happened.
 *
 * Cost: one 16 KiB loopback write and read (measured in bench/ and the residue suite's report); the pair is
 * made once per process (one PSK handshake) and kept, unref'd, so it never holds the process open.
 */

/** The most cleartext one TLS record carries, and the size of ClearOut's array (kClearOutChunkSize). */
export const CLEAR_OUT_BYTES = 16 * 1024;

/** OpenSSL 3's SSL_OP_CLEANSE_PLAINTEXT (ssl.h: SSL_OP_BIT(1)); Node 22 does not export it in crypto.constants. */
export const SSL_OP_CLEANSE_PLAINTEXT = 1 << 1;

/**
 * `secureOptions` for a TLS connection whose reads may carry a secret: OpenSSL then cleanses each record's
 * decrypted bytes in its own read buffer once they are handed to the application, and the buffer when it is
 * released. Only defined for OpenSSL 3 (the bit means something else, or nothing, before).
 */
export function cleansingSecureOptions(): number {
  const major = Number((process.versions.openssl ?? '').split('.')[0]);
  return major >= 3 ? SSL_OP_CLEANSE_PLAINTEXT : 0;
}

const CIPHERS = 'PSK-AES128-GCM-SHA256';
const JUNK = Buffer.alloc(CLEAR_OUT_BYTES, 0x2e);
const SCRUB_TIMEOUT_MS = 2_000;

interface Pair {
  readonly server: tls.Server;
  readonly client: tls.TLSSocket;
  /** The server's end of the connection, which writes the junk. */
  readonly writer: tls.TLSSocket;
  /** Called with the byte count of every client read (into a junk-only buffer). */
  onRead: ((n: number) => void) | undefined;
  dead: boolean;
}

let pair: Promise<Pair> | undefined;
let queue: Promise<void> = Promise.resolve();
let disabled = false;
const stats = { scrubs: 0, pairsOpened: 0, totalMs: 0 };

/** Scrubs and pairs made so far in this process (for the benchmark and the residue report). */
export function tlsReadScrubStats(): Readonly<typeof stats> {
  return { ...stats };
}

/**
 * Overwrites ClearOut's stack array with junk. Call it once a TLS read that may have carried a secret is
 * finished (before the secret's scope ends, on every path). Scrubs run one at a time, in call order.
 * Rejects with {@link TlsReadScrubError} if the overwrite could not be confirmed; callers fail closed.
 */
export function scrubTlsReadStack(): Promise<void> {
  if (disabled) return Promise.resolve();
  const run = queue.then(scrubOnce, scrubOnce);
  queue = run.catch(() => undefined);
  return run;
}

async function scrubOnce(): Promise<void> {
  const started = performance.now();
  let current: Pair;
  try {
    current = await openPair();
  } catch (err) {
    pair = undefined;
    throw new TlsReadScrubError('could not open the loopback TLS pair', { cause: err });
  }
  // Idle, the pair never holds the process open; while a scrub waits for its read it must, or a process
  // with nothing else to do (the CLI) would exit in the middle of it.
  current.client.ref();
  try {
    await new Promise<void>((resolve, reject) => {
      let received = 0;
      const timer = setTimeout(() => fail(new Error('timed out')), SCRUB_TIMEOUT_MS);
      timer.unref();
      const fail = (err: Error): void => {
        clearTimeout(timer);
        current.onRead = undefined;
        reject(err);
      };
      current.onRead = (n) => {
        received += n;
        if (received >= CLEAR_OUT_BYTES) {
          clearTimeout(timer);
          current.onRead = undefined;
          resolve();
        }
      };
      // One write of exactly one full record: the client's SSL_read fills all of `out` at once.
      current.writer.write(JUNK, (err) => {
        if (err) fail(err);
      });
      if (current.dead) fail(new Error('loopback pair closed'));
    });
    stats.scrubs++;
    stats.totalMs += performance.now() - started;
  } catch (err) {
    destroyPair(current);
    throw new TlsReadScrubError('the TLS read stack scrub did not complete', { cause: err });
  } finally {
    current.client.unref();
  }
}

function openPair(): Promise<Pair> {
  pair ??= createPair().catch((err: unknown) => {
    pair = undefined;
    throw err;
  });
  return pair.then((p) => {
    if (!p.dead) return p;
    pair = undefined;
    return openPair();
  });
}

async function createPair(): Promise<Pair> {
  const psk = randomBytes(32);
  let writer: tls.TLSSocket | undefined;
  let acceptedResolve: (s: tls.TLSSocket) => void = () => {};
  // Resolved from the secureConnection listener below.
  const accepted = new Promise<tls.TLSSocket>((resolve) => {
    acceptedResolve = resolve;
  });
  const server = tls.createServer({ pskCallback: () => psk, ciphers: CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, (socket) => {
    socket.on('error', () => socket.destroy());
    acceptedResolve(socket);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  // The client reads into one fixed buffer that only ever holds junk.
  const readBuffer = Buffer.alloc(CLEAR_OUT_BYTES);
  const state: { pair?: Pair } = {};
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    pskCallback: () => ({ psk, identity: 'didit-kms-gateway-scrub' }),
    ciphers: CIPHERS,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    // No certificate is involved with a PSK cipher; the PSK, unknown outside this process, authenticates.
    checkServerIdentity: () => undefined,
    ...({
      onread: {
        buffer: readBuffer,
        callback: (n: number): boolean => {
          state.pair?.onRead?.(n);
          return true;
        },
      },
    } as object),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('secureConnect', () => resolve());
      client.once('error', reject);
    });
    writer = await accepted;
  } catch (err) {
    client.destroy();
    server.close();
    throw err;
  }
  client.unref();
  writer.unref();
  const made: Pair = { server, client, writer, onRead: undefined, dead: false };
  state.pair = made;
  const kill = (): void => destroyPair(made);
  client.on('close', kill);
  client.on('error', kill);
  writer.on('close', kill);
  stats.pairsOpened++;
  return made;
}

function destroyPair(p: Pair): void {
  if (p.dead) return;
  p.dead = true;
  p.client.destroy();
  p.writer.destroy();
  p.server.close();
  if (pair !== undefined) {
    void pair.then((q) => {
      if (q === p) pair = undefined;
    });
  }
}

/**
 * Opens the loopback pair ahead of the first scrub (its one handshake then overlaps the invocation's other
 * work instead of delaying the first key use). Failures are left for the first scrub to report.
 */
export function prepareTlsReadScrub(): void {
  if (disabled) return;
  void openPair().catch(() => undefined);
}

/** Closes the loopback pair (tests, shutdown). The next scrub opens a new one. */
export function closeTlsReadScrub(): void {
  const current = pair;
  pair = undefined;
  void current?.then(destroyPair, () => undefined);
}

/**
 * Turns the scrub off for the rest of the process. Only the residue proof's negative control calls it (a
 * child process that must show the copy the scrub removes); no configuration reaches it.
 */
export function disableTlsReadScrubForResidueControl(): void {
  disabled = true;
}

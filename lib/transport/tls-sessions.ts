import type { TLSSocket } from 'node:tls';
import { SecureBuffer, wipe } from '../secure/secure-buffer.ts';

/** Sessions larger than this are not kept (OpenSSL's serialized TLS 1.3 sessions are ~1–2 KiB). */
const MAX_SESSION_BYTES = 16 * 1024;

/**
 * The latest TLS session ticket of one origin, so a reconnect (the server closed an idle connection
 * while the Lambda environment was frozen) resumes instead of paying a full handshake: no certificate
 * chain to send and verify, no signature, one round trip.
 *
 * What is kept: the serialized session (`SSL_SESSION`) of an earlier connection to the same origin —
 * the server's opaque ticket and the resumption secret of that connection. It holds TLS secrets, not
 * the Didit key (the key is only ever written as application data, from its own secure buffer). It
 * is still a secret, so:
 * - only TLS 1.3 sessions are kept. A TLS 1.3 resumption secret is derived for resumption only and
 *   Node resumes with (EC)DHE (psk_dhe_ke), so it decrypts neither the connection it came from nor the
 *   resumed one. A TLS 1.2 session *is* the master secret of the connection that carried the key; it
 *   is never stored, and a TLS 1.2 server gets full handshakes;
 * - the bytes live in secure memory (off the V8 heap, zeroed on replacement), and the Buffer Node
 *   handed out is wiped once copied;
 * - the server decides whether a ticket is still good: a stale one costs a full handshake, nothing else.
 */
export class TlsSessionCache {
  #session: SecureBuffer | undefined;

  /** The session to offer on the next connection, as a view valid until the next {@link store}/{@link clear}. */
  current(): Buffer | undefined {
    return this.#session?.bytes();
  }

  /** Listens for tickets on a new connection (TLS 1.3 delivers them after the handshake, possibly several). */
  watch(socket: TLSSocket): void {
    socket.on('session', (session: Buffer) => {
      if (socket.getProtocol() === 'TLSv1.3') this.store(session);
      wipe(session);
    });
  }

  /** Keeps a copy of `session` in secure memory; the caller still owns (and wipes) `session`. */
  store(session: Buffer): void {
    if (session.length === 0 || session.length > MAX_SESSION_BYTES) return;
    const copy = SecureBuffer.alloc(session.length);
    session.copy(copy.bytes());
    this.#session?.dispose();
    this.#session = copy;
  }

  clear(): void {
    this.#session?.dispose();
    this.#session = undefined;
  }
}

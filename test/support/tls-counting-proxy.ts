/**
 * A TLS-terminating TCP proxy in front of a plain-HTTP AWS emulator, counting full and resumed TLS
 * handshakes server-side, as a real endpoint would see them.
 *
 * It forwards bytes both ways and mirrors each side's close onto the other: when the emulator closes
 * a connection (moto after every answer, LocalStack when it decides a connection has idled), the
 * client sees its TLS connection close too. So the client meets the emulator's keep-alive behaviour,
 * over TLS, with session tickets (Node's TLS server issues TLS 1.3 tickets by default).
 *
 * @example
 * ```ts
 * const proxy = await startTlsCountingProxy(em.endpoint);
 * // KMS client endpoint: proxy.url, trust anchor: proxy.caPem (or KMS_EMULATOR_CA_FILE=proxy.caFile)
 * await proxy.closeAll(); // as the server's idle timeout would
 * await proxy.close();
 * ```
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { createCertificates } from '../sandbox/certificates.ts';

export interface TlsCountingProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly caPem: string;
  /** `caPem` in a 0600 file (KMS_EMULATOR_CA_FILE for a child process); removed on close. */
  readonly caFile: string;
  fullHandshakes(): number;
  resumedHandshakes(): number;
  /** Client connections open right now. */
  openConnections(): number;
  /** Closes every client connection (and its emulator side); resolves once each emitted 'close'. */
  closeAll(): Promise<number>;
  close(): Promise<void>;
}

export async function startTlsCountingProxy(target: string): Promise<TlsCountingProxy> {
  const upstream = new URL(target);
  if (upstream.protocol !== 'http:') throw new Error('the proxy forwards to a plain-http emulator');
  const certificates = await createCertificates('127.0.0.1');
  let full = 0;
  let resumed = 0;
  const open = new Set<TLSSocket>();
  const server = tls.createServer({ key: certificates.keyPem, cert: certificates.certPem, minVersion: 'TLSv1.2' }, (front) => {
    if (front.isSessionReused()) resumed += 1;
    else full += 1;
    open.add(front);
    const back = net.connect({ host: upstream.hostname, port: Number(upstream.port || 80) });
    back.setNoDelay(true);
    front.setNoDelay(true);
    front.pipe(back);
    back.pipe(front);
    const kill = (): void => {
      front.destroy();
      back.destroy();
    };
    front.on('error', kill);
    back.on('error', kill);
    back.on('close', () => front.destroy());
    front.on('close', () => {
      open.delete(front);
      back.destroy();
    });
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const dir = await mkdtemp(join(tmpdir(), 'didit-kms-proxy-'));
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, certificates.caPem, { mode: 0o600 });
  const { port } = server.address() as AddressInfo;

  const closeAll = async (): Promise<number> => {
    const sockets = [...open];
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.closed) return resolve();
            socket.once('close', () => resolve());
            socket.destroy();
          }),
      ),
    );
    return sockets.length;
  };

  return {
    url: `https://127.0.0.1:${port}`,
    caPem: certificates.caPem,
    caFile,
    fullHandshakes: () => full,
    resumedHandshakes: () => resumed,
    openConnections: () => open.size,
    closeAll,
    async close() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await closeAll();
      await stopped;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

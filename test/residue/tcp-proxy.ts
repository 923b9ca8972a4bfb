import net from 'node:net';

/**
 * A byte-for-byte TCP relay between the child and a peer (the Didit sandbox, the emulator). TLS runs end to
 * end through it: it sees only ciphertext. It lets the proof act as the peer's side of the connection:
 *  - {@link closeAll}: the peer closes its kept connections (FIN), as servers do after their idle timeout,
 *    resolved once the child has closed its side too (it only can after a thaw);
 *  - {@link cutNextAnswers}: the next answers are cut in the middle (half forwarded, then a TCP reset).
 */
export interface TcpProxy {
  readonly port: number;
  /** Connections currently open from the child. */
  open(): number;
  closeAll(): Promise<void>;
  cutNextAnswers(times: number): void;
  cuts(): number;
  close(): Promise<void>;
}

/** A request is larger than any TLS handshake message a client sends (ClientHello, Finished). */
const REQUEST_BYTES = 900;

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; closed: Promise<void> }>();
  let armed = 0;
  let cut = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const pair = { client, upstream, closed };
    pairs.add(pair);
    let requestSeen = false;
    client.on('data', (d: Buffer) => {
      if (d.length >= REQUEST_BYTES) requestSeen = true;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (armed > 0 && requestSeen) {
        armed--;
        cut++;
        client.write(d.subarray(0, Math.max(1, d.length >> 1)), () => client.resetAndDestroy());
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      pairs.delete(pair);
    });
    upstream.on('close', () => {
      if (!client.destroyed && client.writableEnded === false) client.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    open: () => pairs.size,
    async closeAll() {
      const waiting = [...pairs].map((p) => p.closed);
      for (const p of pairs) {
        p.upstream.destroy();
        p.client.end();
      }
      await Promise.all(waiting);
    },
    cutNextAnswers(times) {
      armed = times;
    },
    cuts: () => cut,
    async close() {
      for (const p of pairs) {
        p.upstream.destroy();
        p.client.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

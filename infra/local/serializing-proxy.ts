import { request as httpRequest, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy that forwards one request at a time to `target`, in arrival order.
 *
 * Why: moto applies a conditional `UpdateItem` without a lock, so two of its request threads can both see
 * `count < cap` and both add one (seen here: 22 of 50 concurrent calls passed a cap of 20 on a loaded
 * 2-core machine). DynamoDB itself serialises the writes to one item. Putting moto behind this proxy gives
 * it that property and nothing more: a client that read, decided and then wrote in separate requests would
 * still interleave with other clients between its requests, so a non-atomic counter still fails the test.
 *
 * The same holds for a conditional `PutItem` (Powertools Idempotency's IN_PROGRESS record): two concurrent
 * puts of one new key both succeeded in 1 of 300 races against moto 5.2.1 here, so `npm run load`'s webhook
 * flood (duplicates sent beside their original) once saw one delivery published twice. `npm run load` puts
 * its DynamoDB behind this proxy too, so what it counts is the gateway's behaviour, not the emulator's race.
 */
export interface SerializingProxy {
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startSerializingProxy(target: string): Promise<SerializingProxy> {
  const upstream = new URL(target);
  if (upstream.protocol !== 'http:') throw new Error('serializing proxy: plain-http loopback targets only');
  let queue: Promise<void> = Promise.resolve();
  const server: Server = createServer((req, res) => {
    const body = collect(req);
    queue = queue.then(async () => {
      const bytes = await body;
      await new Promise<void>((resolve) => {
        const out = httpRequest(
          { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            answer.on('end', resolve);
            answer.on('error', resolve);
          },
        );
        out.on('error', () => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
          resolve();
        });
        out.end(bytes);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function collect(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

import { isIP } from 'node:net';

/** Where a connection goes. Built once from configuration; the URL object itself is not kept. */
export interface Origin {
  readonly protocol: 'https:' | 'http:';
  readonly hostname: string;
  readonly port: number;
  /** Value of the Host header: hostname, plus the port when it is not the protocol's default. */
  readonly hostHeader: string;
  /** SNI name: absent for IP literals, which TLS must not send as SNI. */
  readonly servername: string | undefined;
}

export function originOf(url: string | URL, options: { allowPlainHttp?: boolean } = {}): Origin {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && options.allowPlainHttp)) {
    throw new TypeError(`origin must use https (got ${u.protocol})`);
  }
  if (u.username !== '' || u.password !== '') throw new TypeError('origin must not carry credentials');
  const protocol = u.protocol as 'https:' | 'http:';
  const defaultPort = protocol === 'https:' ? 443 : 80;
  const port = u.port === '' ? defaultPort : Number(u.port);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    protocol,
    hostname,
    port,
    hostHeader: u.port === '' ? u.hostname : `${u.hostname}:${port}`,
    servername: isIP(hostname) === 0 ? hostname : undefined,
  };
}

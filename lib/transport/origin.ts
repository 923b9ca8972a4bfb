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

/**
 * Loopback hosts, the only places a local emulator may be reached (plain http, its own CA): `localhost`,
 * `::1` (bracketed or not) and IPv4 literals in 127/8. A DNS name such as `127.attacker.example` is not one.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
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

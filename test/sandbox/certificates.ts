/**
 * A throwaway CA and a server certificate it signs, made fresh for every sandbox start.
 *
 * Clients under test must verify the server the way they would verify Didit: against a trust anchor
 * (`ca`), never with `rejectUnauthorized: false`. A CA plus a leaf (rather than one self-signed leaf)
 * mirrors a real chain, and new keys per run mean no private key ever lands on disk or in the repo.
 */
import { isIP } from 'node:net';
import { generate } from 'selfsigned';

export interface SandboxCertificates {
  /** CA certificate (PEM): the only thing a client needs. */
  caPem: string;
  /** Server certificate (PEM) signed by the CA. */
  certPem: string;
  /** Server private key (PEM), kept in memory only. */
  keyPem: string;
}

const FIVE_MINUTES_MS = 5 * 60 * 1000;
const ONE_DAY_MS = 24 * 60 * 60 * 1000;

/**
 * `extraHost`: one more name or address the server certificate is valid for. `caName`: the CA's common name
 * (the AWS emulators use the same chain with their own name, infra/local/emulator.ts). `validDays`: 1 by default.
 */
export async function createCertificates(
  extraHost?: string,
  options: { caName?: string; validDays?: number } = {},
): Promise<SandboxCertificates> {
  const now = Date.now();
  // Back-date a little so a client whose clock lags ours does not see "not yet valid".
  const notBeforeDate = new Date(now - FIVE_MINUTES_MS);
  const notAfterDate = new Date(now + (options.validDays ?? 1) * ONE_DAY_MS);

  const ca = await generate([{ name: 'commonName', value: options.caName ?? 'didit-kms-gateway sandbox CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });

  const altNames: Array<{ type: 2 | 7; value?: string; ip?: string }> = [
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
    { type: 2, value: 'localhost' },
  ];
  if (extraHost !== undefined && !['127.0.0.1', '::1', 'localhost', '0.0.0.0', '::'].includes(extraHost)) {
    altNames.push(isIP(extraHost) === 0 ? { type: 2, value: extraHost } : { type: 7, ip: extraHost });
  }

  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      // ECDSA keys sign the handshake; keyEncipherment only applies to RSA key transport.
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });

  return { caPem: ca.cert, certPem: server.cert, keyPem: server.private };
}

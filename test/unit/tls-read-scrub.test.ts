import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CLEAR_OUT_BYTES,
  SSL_OP_CLEANSE_PLAINTEXT,
  cleansingSecureOptions,
  closeTlsReadScrub,
  scrubTlsReadStack,
  tlsReadScrubStats,
} from '../../lib/transport/tls-read-scrub.ts';

// The scrub's behaviour; that it removes the copy is proven by test/residue (scan of a child's memory).
describe('TLS read stack scrub', () => {
  it('pushes one full ClearOut array of junk per scrub, in order, over one kept loopback pair', async () => {
    const before = tlsReadScrubStats();
    await Promise.all([scrubTlsReadStack(), scrubTlsReadStack(), scrubTlsReadStack()]);
    const after = tlsReadScrubStats();
    expect(after.scrubs - before.scrubs).toBe(3);
    expect(after.pairsOpened - before.pairsOpened).toBeLessThanOrEqual(1);
    expect(CLEAR_OUT_BYTES).toBe(16 * 1024);
    closeTlsReadScrub();
  });

  it('reopens the pair after it was closed', async () => {
    closeTlsReadScrub();
    const before = tlsReadScrubStats();
    await scrubTlsReadStack();
    expect(tlsReadScrubStats().pairsOpened - before.pairsOpened).toBe(1);
    closeTlsReadScrub();
  });

  it('keeps a process with nothing else to do alive until the scrub completed (the CLI case)', () => {
    const script = `import { scrubTlsReadStack } from ${JSON.stringify(join(import.meta.dirname, '../../lib/transport/tls-read-scrub.ts'))};
await scrubTlsReadStack();
await scrubTlsReadStack();
process.stdout.write('done');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).not.toContain('unsettled top-level await');
    expect(r.stdout).toBe('done');
    expect(r.status).toBe(0);
  });

  it('asks OpenSSL 3 to cleanse decrypted records (SSL_OP_CLEANSE_PLAINTEXT)', () => {
    const major = Number(process.versions.openssl.split('.')[0]);
    expect(cleansingSecureOptions()).toBe(major >= 3 ? SSL_OP_CLEANSE_PLAINTEXT : 0);
    expect(SSL_OP_CLEANSE_PLAINTEXT).toBe(2);
  });
});

/**
 * Vitest global setup: one AWS emulator for the whole run, shared by every test file via `inject('aws')`
 * (see test/support/aws.ts). LocalStack by default, moto with DIDIT_TEST_EMULATOR=moto, an existing endpoint
 * with AWS_ENDPOINT_URL, none with DIDIT_SKIP_EMULATOR=1 (pure unit runs).
 */
import type { TestProject } from 'vitest/node';
import { startEmulator } from '../../infra/local/emulator.ts';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.DIDIT_SKIP_EMULATOR === '1') {
    project.provide('aws', undefined);
    return undefined;
  }
  const t0 = Date.now();
  const em = await startEmulator({ log });
  log(`[emulator] ${em.kind} ready at ${em.endpoint} (${((Date.now() - t0) / 1000).toFixed(1)} s including install check)`);
  project.provide('aws', {
    kind: em.kind,
    endpoint: em.endpoint,
    region: em.region,
    accessKeyId: em.credentials.accessKeyId,
    secretAccessKey: em.credentials.secretAccessKey,
  });
  return async () => {
    await em.stop();
  };
}

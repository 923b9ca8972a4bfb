import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/index.ts';
import { testEmulator } from './aws.ts';

/** Everything an integration test of the operations needs, on the run's emulator. */
export interface GatewayFixture {
  readonly sandbox: Sandbox;
  readonly sealed: SealedKeyResources;
  /** Dependencies as a function would build them from its environment. */
  readonly deps: GatewayDependencies;
  /** The functions' environment for this fixture, with overrides (to build other dependencies). */
  environment(extra?: Record<string, string>): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/**
 * Starts a Didit sandbox, seals its key on the provided emulator under `stage`, and wires the
 * dependencies the way `functions/operation.ts` does (config from the environment). Also points
 * this process's AWS SDK at the emulator, as the Lambda environment would be configured.
 */
export async function setUpGateway(stage: string, options: { sandbox?: SandboxOptions } = {}): Promise<GatewayFixture> {
  const em = testEmulator();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  const sandbox = await startSandbox(options.sandbox);
  const sealed = await provisionSealedKey(em, { stage, apiKey: sandbox.apiKey });
  const environment = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    STAGE: stage,
    SEALED_KEY_SECRET_ID: sealed.secretId,
    KMS_KEY_ID: sealed.kmsKeyArn,
    DIDIT_BASE_URL: sandbox.url,
    DIDIT_CA_FILE: sandbox.caFile,
    AWS_REGION: em.region,
    CIPHERTEXT_TTL_SECONDS: '300',
    ...extra,
  });
  const deps = createDependencies(loadConfig(environment()));
  return {
    sandbox,
    sealed,
    deps,
    environment,
    close: async () => {
      deps.didit.close();
      await teardownSealedKey(em, sealed);
      await sandbox.close();
    },
  };
}

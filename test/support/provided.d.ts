// Values the global setup (test/support/global-setup.ts) provides to test files through `inject`.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared AWS emulator; absent when DIDIT_SKIP_EMULATOR=1. */
    aws: {
      kind: 'localstack' | 'moto' | 'external';
      endpoint: string;
      region: string;
      accessKeyId: string;
      secretAccessKey: string;
    } | undefined;
    /**
     * Where DynamoDB answers (same region and credentials as `aws`): a moto server beside LocalStack, the
     * emulator itself otherwise. Absent with DIDIT_SKIP_EMULATOR=1 or DIDIT_TEST_DYNAMODB=0.
     */
    dynamodbEndpoint: string | undefined;
    /**
     * The emulator over TLS: LocalStack's own HTTPS (same state as `aws`), or a second moto in TLS mode
     * (`sharesState: false`: provision what a test uses through this endpoint). `caPem` is the only trust anchor.
     */
    awsTls: { endpoint: string; caPem: string; caFile: string; sharesState: boolean } | undefined;
  }
  /** Set by test/residue: the residue report table, printed by the summary reporter after the run. */
  export interface TaskMeta {
    residueReport?: string;
  }
}

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
  }
}

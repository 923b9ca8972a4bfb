// What the lambda project's global setup (test/lambda/package-setup.ts) provides through `inject`.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder `sls package` wrote (zips and cloudformation-template-update-stack.json). */
    lambdaPackageDir: string;
  }
}

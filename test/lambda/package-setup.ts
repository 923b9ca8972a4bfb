/**
 * Vitest global setup of the `lambda` project: the functions packaged once per run, exactly as a deployment
 * does (`sls package --stage build`, arm64 zips with sodium-native installed by `npm ci`), in a private
 * folder (any `sls package` elsewhere deletes `.serverless/`). DIDIT_LAMBDA_PACKAGE_DIR reuses a package
 * (copied): CI packages right before `npm test`, local reruns skip the packaging.
 */
import type { TestProject } from 'vitest/node';
import { preparePackage } from '../../infra/local/lambda/package.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const prepared = await preparePackage(process.env['DIDIT_LAMBDA_PACKAGE_DIR'] || undefined, (line) => process.stderr.write(`${line}\n`));
  project.provide('lambdaPackageDir', prepared.dir);
  return () => prepared.cleanup();
}

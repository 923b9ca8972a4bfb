/**
 * Variant (c) of the benchmark as deployed: the entry point every function of serverless.yml runs
 * (`functions/operation.handler`), serving the operation named by OPERATION (createSession here).
 * Used for the bundle size and the cold starts; the warm run builds its dependencies itself so it
 * can read the connection counters.
 */
export { handler } from '../../functions/operation.ts';

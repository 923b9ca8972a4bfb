/**
 * Variant (c) of the benchmark as deployed: the one-function entry of `createSession`, exactly the
 * handler serverless.yml names (`functions/handlers.createSession`), built from the environment.
 * Used for the bundle size and the cold starts; the warm run builds its dependencies itself so it
 * can read the connection counters.
 */
export { createSession as handler } from '../../functions/handlers.ts';

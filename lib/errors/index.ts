/**
 * The gateway's caller-facing errors, one module per core layer: the base and its factory
 * (gateway-error.ts), caller input, the sealed key (Secrets Manager, KMS, sealing), Didit, and the
 * guards (spend cap, idempotency, events). Each trigger adapter keeps its own errors.ts.
 */
export * from './gateway-error.ts';
export * from './input.ts';
export * from './key.ts';
export * from './didit.ts';
export * from './guards.ts';

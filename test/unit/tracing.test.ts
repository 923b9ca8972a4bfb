import { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { failureOf, startSpan, traceAwsCalls, traced, tracingEnabled } from '../../lib/observability/tracing.ts';

// Tracing off (the default, and outside Lambda): nothing is wrapped, loaded or added. The "on" path is
// test/integration/tracing.test.ts (segments read from a UDP daemon stand-in).
describe('tracing switch', () => {
  it('on only when the stage asks for it AND this is Lambda', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ POWERTOOLS_TRACE_ENABLED: 'true' })).toBe(false);
    expect(tracingEnabled({ POWERTOOLS_TRACE_ENABLED: 'false', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' })).toBe(false);
    expect(tracingEnabled({ POWERTOOLS_TRACE_ENABLED: 'true', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' })).toBe(true);
  });

  it('off: the handler is returned as is, spans are no-ops, AWS clients get no middleware', () => {
    const handler = async () => 'ok';
    expect(traced(handler)).toBe(handler);
    expect(() => startSpan('Didit', 'remote').end({ operation: 'x', status: 200 })).not.toThrow();
    const client = new KMSClient({ region: 'us-east-1' });
    const before = client.middlewareStack.identify().length;
    traceAwsCalls(client, 'KMS');
    expect(client.middlewareStack.identify()).toHaveLength(before);
    client.destroy();
  });

  it('flags: 2xx clean, 4xx error, 429 throttle, 5xx and no answer fault', () => {
    expect(failureOf(200)).toBeUndefined();
    expect(failureOf(404)).toBe('error');
    expect(failureOf(429)).toBe('throttle');
    expect(failureOf(502)).toBe('fault');
    expect(failureOf(undefined)).toBe('fault');
  });
});

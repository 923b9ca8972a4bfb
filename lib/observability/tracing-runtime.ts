import { Tracer } from '@aws-lambda-powertools/tracer';
import { SERVICE_NAME } from '../sealed-key/encryption-context.ts';
import type { Span, SpanAnnotations, TracingRuntime } from './tracing.ts';

/**
 * The loaded half of lib/observability/tracing.ts: Powertools Tracer (and with it the X-Ray SDK), imported
 * only when the stage traces. `captureHTTPsRequests: false` — the tracer must not patch http/https/fetch:
 * those subsegments would carry Didit URLs (session ids in paths, filters in query strings). Nothing here
 * calls `captureAWSv3Client`, `captureLambdaHandler` or `captureMethod` (they record request ids, handler
 * responses and error objects); the spans are built by hand from fixed names and annotations only.
 */
export function createTracingRuntime(): TracingRuntime {
  const tracer = new Tracer({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? SERVICE_NAME, captureHTTPsRequests: false });

  return {
    async invoke(handler, event, context) {
      const parent = tracer.getSegment();
      if (!tracer.isTracingEnabled() || parent === undefined) return handler(event, context);
      const subsegment = parent.addNewSubsegment(`## ${context.functionName}`);
      tracer.setSegment(subsegment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
      try {
        return await handler(event, context);
      } catch (err) {
        // The flag only: the error object (message, stack) is never attached.
        subsegment.addFaultFlag();
        throw err;
      } finally {
        subsegment.close();
        tracer.setSegment(parent);
      }
    },

    startSpan(name, namespace): Span {
      const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
      if (parent === undefined) return { end: () => {} };
      const subsegment = parent.addNewSubsegment(name);
      subsegment.namespace = namespace;
      let ended = false;
      return {
        end(annotations: Partial<SpanAnnotations>, failed) {
          if (ended) return;
          ended = true;
          for (const [key, value] of Object.entries(annotations)) {
            if (value !== undefined) subsegment.addAnnotation(key, value);
          }
          if (failed === 'error') subsegment.addErrorFlag();
          if (failed === 'fault') subsegment.addFaultFlag();
          if (failed === 'throttle') subsegment.addThrottleFlag();
          subsegment.close();
        },
      };
    },
  };
}

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SERVICE_NAME } from '../sealed-key/encryption-context.ts';

/**
 * Structured JSON logs on stdout (CloudWatch) and EMF metrics, one instance each per execution
 * environment. What goes into them is decided in audit.ts and the handler: never a key, a
 * ciphertext, an image, a document number or a request body.
 */
export const logger = new Logger({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? SERVICE_NAME });

export const metrics = new Metrics({
  namespace: process.env['POWERTOOLS_METRICS_NAMESPACE'] ?? 'DiditKmsGateway',
  serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? SERVICE_NAME,
});

export { MetricUnit };

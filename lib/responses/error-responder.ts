import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DiditBadRequestError, DiditError, GatewayError, InternalError, ValidationError } from '../errors/index.ts';
import { jsonResponse, rateLimitHeaders } from './json-response.ts';

/**
 * Turns any error into a defined HTTP answer, in the manner of middy's http-error-handler, from the
 * taxonomy alone (lib/errors/): `status`, `publicCode`, `publicMessage` (a message only where `expose`
 * allows it), `retryAfterSeconds`; anything that is not a {@link GatewayError} is an `INTERNAL` 500.
 * Internal messages never reach the caller; the Lambda request id lets support find the log line.
 *
 * @example
 * ```ts
 * middy(handler).use(errorResponder({ logger }));
 * ```
 */
export function errorResponder(options: {
  logger: Logger;
}): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> {
  if (options.logger === undefined) throw new TypeError('errorResponder needs a logger');
  return {
    onError: (request) => {
      const error = request.error;
      const requestId = request.context.awsRequestId;
      // Anything that is not in the taxonomy is a bug: answered as the taxonomy's own InternalError.
      const known = error instanceof GatewayError ? error : new InternalError('unclassified error');
      const status = known.status;
      const body: Record<string, unknown> = { code: known.publicCode, message: known.publicMessage, requestId };
      if (error instanceof ValidationError) body['issues'] = error.issues;
      if (error instanceof DiditBadRequestError) body['fields'] = error.fields;
      const headers: Record<string, string> = { 'x-request-id': requestId };
      if (known.retryAfterSeconds !== undefined) headers['retry-after'] = String(known.retryAfterSeconds);
      else if (status === 503) headers['retry-after'] = '1';
      if (error instanceof DiditError) Object.assign(headers, rateLimitHeaders(error.rateLimit));

      // Names and codes only: a dependency's message may quote input (JSON.parse does).
      const log = status >= 500 ? options.logger.error.bind(options.logger) : options.logger.warn.bind(options.logger);
      log('request failed', {
        status,
        errorCode: known.code,
        errorName: error?.name,
        errorMessage: error instanceof GatewayError ? error.message : undefined,
        causes: causeNames(error),
      });
      request.response = jsonResponse(status, { error: body }, headers);
    },
  };
}

function causeNames(error: unknown): string[] {
  const names: string[] = [];
  let current: unknown = error instanceof Error ? error.cause : undefined;
  while (current instanceof Error && names.length < 5) {
    const code = (current as NodeJS.ErrnoException).code;
    names.push(code === undefined ? current.name : `${current.name}(${code})`);
    current = current.cause;
  }
  return names;
}

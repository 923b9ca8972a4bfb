/**
 * `GET /v1/openapi.json`: the API's OpenAPI document, as checked in (infra/openapi/openapi.json,
 * generated from the operation table). The bundler inlines the file, so the function reads nothing at
 * run time; it imports nothing of the key path either (no KMS, no Secrets Manager, no Didit): a
 * documentation request can never cost a decrypt or touch the key.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import document from '../infra/openapi/openapi.json' with { type: 'json' };
import { traced } from '../lib/observability/tracing.ts';

const BODY = JSON.stringify(document);
/** Strong validator of the exact bytes served: lets callers (and caches they control) revalidate cheaply. */
const ETAG = `"${createHash('sha256').update(BODY).digest('base64url').slice(0, 27)}"`;

/** 200 with the document and its ETag, or 304 when `If-None-Match` names it: see `serve` below. */
export const handler = traced(serve);

async function serve(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  const headers: Record<string, string> = {
    // Revalidate every time: a deployment changes the document, and the ETag makes the check cheap.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'x-request-id': context.awsRequestId,
    etag: ETAG,
  };
  if (ifNoneMatch(event)?.split(',').some((tag) => tag.trim() === ETAG || tag.trim() === '*')) {
    return { statusCode: 304, headers, body: '' };
  }
  return { statusCode: 200, headers: { ...headers, 'content-type': 'application/json' }, body: BODY };
}

function ifNoneMatch(event: APIGatewayProxyEvent): string | undefined {
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (name.toLowerCase() === 'if-none-match' && value !== undefined) return value;
  }
  return undefined;
}

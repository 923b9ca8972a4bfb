/**
 * Variant (a) of the benchmark, the deliberately naive baseline: the Didit key is a plain string
 * read once from an environment variable, sent with the global `fetch` (undici, kept-alive by its
 * global dispatcher). TLS trust comes from NODE_EXTRA_CA_CERTS; verification is never disabled.
 *
 * This is what the gateway exists to avoid; it is here only to be measured against.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

const apiKey = process.env['DIDIT_API_KEY'] ?? '';
const baseUrl = process.env['DIDIT_BASE_URL'] ?? 'https://verification.didit.me';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const res = await fetch(`${baseUrl}/v3/session/`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json', accept: 'application/json' },
    body: event.body ?? '',
  });
  const body = await res.text();
  return { statusCode: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' }, body };
};

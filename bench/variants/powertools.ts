/**
 * Variant (b) of the benchmark, what users typically pick today: Powertools Parameters'
 * `SecretsProvider` reading the *plaintext* key from a Secrets Manager `SecretString`, then the
 * global `fetch`. Caching is Powertools' default: a fetched value is reused for 5 s
 * (`DEFAULT_MAX_AGE_SECS`), after which the next call reads Secrets Manager again.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';

/** Module scope, as the Powertools docs show: the client and the cache survive warm invocations. */
export const secrets = new SecretsProvider();

const secretId = process.env['DIDIT_SECRET_ID'] ?? '';
const baseUrl = process.env['DIDIT_BASE_URL'] ?? 'https://verification.didit.me';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const apiKey = await secrets.get(secretId);
  if (typeof apiKey !== 'string') throw new Error('the secret has no SecretString');
  const res = await fetch(`${baseUrl}/v3/session/`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json', accept: 'application/json' },
    body: event.body ?? '',
  });
  const body = await res.text();
  return { statusCode: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' }, body };
};

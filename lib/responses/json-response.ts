import type { APIGatewayProxyResult } from 'aws-lambda';
import type { RateLimitInfo } from '../didit/rate-limit.ts';

/** Headers on every response: nothing here may be cached by a proxy or sniffed by a browser. */
const BASE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

export function jsonResponse(
  statusCode: number,
  body: unknown,
  extra: Readonly<Record<string, string>> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { ...BASE_HEADERS, 'content-type': 'application/json', ...extra },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

export function rateLimitHeaders(info: RateLimitInfo | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (info?.limit !== undefined) out['x-ratelimit-limit'] = String(info.limit);
  if (info?.remaining !== undefined) out['x-ratelimit-remaining'] = String(info.remaining);
  if (info?.reset !== undefined) out['x-ratelimit-reset'] = String(info.reset);
  return out;
}

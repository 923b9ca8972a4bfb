/**
 * Typed client of the gateway for callers: one SigV4-signed method per operation of the table.
 *
 * @example
 * ```ts
 * import { createGatewayClient } from './lib/client/index.ts';
 * const client = createGatewayClient({ baseUrl, region, credentials });
 * const { body } = await client.retrieveDecision({ params: { sessionId } });
 * ```
 */
export { createGatewayClient, fetchTransport, GatewayClientError, type ErrorIssue, type GatewayClient, type GatewayClientOptions } from './client.ts';
export { EXECUTE_API, executeApiSigner, NodeSha256, signRequest, type AwsCredentials, type CredentialsSource, type SignableRequest } from './sigv4.ts';
export { buildRequest, escapeUri, queryString, type LooseArgs, type UnsignedRequest } from './request.ts';
// Every type of types.ts is the client's public vocabulary (arguments, answers, transport).
export type * from './types.ts';

/**
 * Invokes a function served by serverless-offline through its Lambda Invoke API
 * (`POST /2015-03-31/functions/<name>/invocations` on the `lambdaPort`), as Lambda's service invokes a
 * function for an event source: the same bundle, environment and worker threads that answer the HTTP routes.
 * The answer has the Lambda sandbox's {@link InvokeResult} shape, so the event-source mappers of
 * infra/local/lambda/ (sqs-mapping.ts, async-mapping.ts) drive offline functions unchanged.
 *
 * serverless-offline answers 200 with the handler's result, or 200 with `X-Amz-Function-Error: Unhandled`
 * and an error payload when the handler threw or ran past its timeout ("[504] - Lambda timeout."). Anything
 * else (unknown function, offline not answering) means the function was not invoked at all: that throws,
 * which the mappers treat as a delivery failure (the source's retry policy decides), never as a success.
 */
import { randomUUID } from 'node:crypto';
import type { InvokeResult } from './lambda/sandbox.ts';

export type Invoke = (event: unknown) => Promise<InvokeResult>;

export class OfflineInvokeError extends Error {
  override readonly name = 'OfflineInvokeError';
}

export function offlineInvoker(lambdaPort: number, functionName: string): Invoke {
  const url = `http://127.0.0.1:${lambdaPort}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
  return async (event) => {
    const requestId = randomUUID();
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
        body: JSON.stringify(event),
      });
    } catch (err) {
      throw new OfflineInvokeError(`serverless-offline did not answer the invocation of ${functionName}`, { cause: err });
    }
    const text = await res.text();
    if (res.status !== 200) {
      throw new OfflineInvokeError(`serverless-offline refused the invocation of ${functionName}: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
    let payload: unknown = text;
    if (text !== '') {
      try {
        payload = JSON.parse(text) as unknown;
      } catch {
        // Not JSON: keep the text, as the Lambda sandbox does.
      }
    } else {
      payload = null;
    }
    const functionError = res.headers.get('x-amz-function-error') ?? undefined;
    const timedOut = functionError !== undefined && /Lambda timeout/.test(text);
    return { requestId, status: res.status, payload, functionError, timedOut };
  };
}

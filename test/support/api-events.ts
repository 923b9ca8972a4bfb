import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';

/** An API Gateway REST (v1) proxy event as API Gateway builds it for an IAM-authorised route. */
export function apiEvent(options: {
  method: string;
  path: string;
  resource?: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  base64?: boolean;
}): APIGatewayProxyEvent {
  const isBase64 = options.base64 ?? Buffer.isBuffer(options.body);
  const body =
    options.body === undefined ? null : Buffer.isBuffer(options.body) ? options.body.toString('base64') : options.body;
  return {
    httpMethod: options.method,
    path: options.path,
    resource: options.resource ?? options.path,
    pathParameters: options.pathParameters ?? null,
    queryStringParameters: options.query ?? null,
    multiValueQueryStringParameters: null,
    headers: options.headers ?? {},
    multiValueHeaders: {},
    stageVariables: null,
    isBase64Encoded: isBase64,
    body,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      httpMethod: options.method,
      path: options.path,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'r',
      resourcePath: options.resource ?? options.path,
      stage: 'test',
      authorizer: null,
      identity: {
        accessKey: null,
        accountId: '000000000000',
        apiKey: null,
        apiKeyId: null,
        caller: 'AIDATESTCALLER',
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '127.0.0.1',
        user: 'AIDATESTCALLER',
        userAgent: 'vitest',
        userArn: 'arn:aws:iam::000000000000:user/test-caller',
      },
    },
  } as APIGatewayProxyEvent;
}

export function lambdaContext(options: { remainingMs?: number } = {}): Context {
  const deadline = Date.now() + (options.remainingMs ?? 30_000);
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'didit-kms-gateway-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:didit-kms-gateway-test',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A multipart/form-data body as a browser would send it. */
export function multipartBody(
  parts: ReadonlyArray<readonly [string, string | { filename: string; type: string; data: Buffer }]>,
): { body: Buffer; contentType: string } {
  const boundary = `----vitest${randomUUID().replace(/-/g, '')}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of parts) {
    if (typeof value === 'string') {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
    } else {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${value.filename}"\r\nContent-Type: ${value.type}\r\n\r\n`,
        ),
        value.data,
        Buffer.from('\r\n'),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Smallest byte strings that pass the magic-byte checks. */
export const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2048, 7)]);
export const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(512, 1)]);

/** `POST /v1/jobs/amlScreening` for one person: the job the Lambda and load runs submit. */
export function amlJobRequest(fullName: string): APIGatewayProxyEvent {
  return apiEvent({
    method: 'POST',
    path: '/v1/jobs/amlScreening',
    resource: '/v1/jobs/{operation}',
    pathParameters: { operation: 'amlScreening' },
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ body: { full_name: fullName, nationality: 'ES' } }),
  });
}

/**
 * The OpenAPI 3.1 document of the gateway, built from the operation table: never written by hand.
 * `npm run generate:openapi` writes it to infra/openapi/openapi.json (checked in, served by
 * functions/openapi.ts); a unit test fails when the file is stale.
 *
 * What comes from where:
 *   - paths, methods, operationId, summary, parameters, request bodies: the table entry (its zod
 *     schemas through `z.toJSONSchema`, input side, so transforms and defaults do not leak in);
 *   - error codes and which status carries which: the error classes themselves (lib/errors/: base,
 *     input, key, didit), instantiated once here, so a new error class appears without editing this;
 */
import { API_GATEWAY_BUDGET_MS } from '../../lib/adapters/http/gateway-limits.ts';
import { z } from 'zod';
import pkg from '../../package.json' with { type: 'json' };
import * as baseErrors from '../../lib/errors/gateway-error.ts';
import * as inputErrors from '../../lib/errors/input.ts';
import * as keyErrors from '../../lib/errors/key.ts';
import * as diditErrors from '../../lib/errors/didit.ts';
import { GatewayError } from '../../lib/errors/index.ts';
import { MIME } from '../../lib/operations/file-types.ts';
import * as management from '../../lib/operations/management.ts';
import * as sessions from '../../lib/operations/sessions.ts';
import * as standalone from '../../lib/operations/standalone.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { FileRule, OperationSpec } from '../../lib/operations/types.ts';
import { DOCS_FUNCTION } from '../serverless/functions.ts';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** The modules whose exported classes are the errors callers can get. */
const ERROR_MODULES: ReadonlyArray<Record<string, unknown>> = [baseErrors, inputErrors, keyErrors, diditErrors];

/** Area modules, for grouping operations in documentation tools (each export is a table entry). */
const AREAS: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
  ['sessions', sessions, 'Verification sessions: create, read, list, review, delete, share (didit-api.md §3)'],
  ['standalone', standalone, 'Standalone checks: one request, one billed answer (didit-api.md §5)'],
  ['management', management, 'Workflows, blocklist and webhook destinations (didit-api.md §4, §6.5)'],
];
const DOCS_TAG = 'documentation';

const MB = 1024 * 1024;


/** API Gateway's own error body (missing or wrong signature, throttling, integration timeout). */
const API_GATEWAY_ERROR = '#/components/schemas/ApiGatewayError';
const ERROR = '#/components/schemas/Error';

// ---- error responses ---------------------------------------------------------------------------

interface ErrorStatus {
  readonly key: string;
  readonly description: string;
  /** Whether API Gateway itself may give this status (its body is then `{message}`). */
  readonly apiGateway?: string;
  readonly retryAfter?: boolean;
  /** Whether it may carry Didit's rate-limit headers (the status can come from a Didit answer). */
  readonly diditHeaders?: boolean;
  /** Only for operations with a body. */
  readonly bodyOnly?: boolean;
}

/** Every error status an operation can answer, and what it means to the caller. */
const ERROR_STATUSES: Readonly<Record<number, ErrorStatus>> = {
  400: { key: 'BadRequest', description: 'The request is invalid (nothing was sent to Didit), or Didit rejected the input (`fields` names what it refused).', diditHeaders: true },
  401: {
    key: 'Unauthorized',
    description: 'Reserved for API Gateway. With IAM authorisation a missing or wrong signature is a 403; a client mapping 401 generically finds it here.',
    apiGateway: 'API Gateway refused the credentials.',
  },
  403: {
    key: 'Forbidden',
    description: 'Didit refused the operation (permission, credits, or the resource state), or API Gateway refused the request.',
    apiGateway: 'API Gateway: the request is not signed (`Missing Authentication Token`, also for an unknown route), its signature does not match, or the principal may not invoke this route.',
    diditHeaders: true,
  },
  404: { key: 'NotFound', description: 'Didit does not know the resource.', diditHeaders: true },
  413: {
    key: 'PayloadTooLarge',
    description: 'The body exceeds what the gateway accepts (10 MB; 2 MB for JSON-only operations).',
    apiGateway: 'API Gateway: the body exceeds its 10 MB payload limit.',
    bodyOnly: true,
  },
  415: { key: 'UnsupportedMediaType', description: 'The content type is not one this operation accepts.', bodyOnly: true },
  429: {
    key: 'TooManyRequests',
    description: "Didit's rate limit was reached; retry after Retry-After seconds.",
    apiGateway: 'API Gateway throttling (`Too Many Requests`).',
    retryAfter: true,
    diditHeaders: true,
  },
  500: { key: 'InternalError', description: 'A fault of the gateway (configuration or bug). Quote `requestId` to support: the log line with that id has the precise cause.' },
  502: {
    key: 'BadGateway',
    description: 'Didit failed or answered something unusable, or KMS did. Paid operations are not retried by the gateway.',
    apiGateway: 'API Gateway: the function failed (`Internal server error`).',
    diditHeaders: true,
  },
  503: { key: 'ServiceUnavailable', description: 'KMS or Secrets Manager is throttling or unavailable; retry after Retry-After seconds.', retryAfter: true },
  504: {
    key: 'GatewayTimeout',
    description:
      "Didit did not answer in the operation's time budget (it may still have processed, and billed, the request), or not within the 29 s API Gateway allows.",
    apiGateway: 'API Gateway: the integration timed out (`Endpoint request timed out`).',
    retryAfter: true,
    diditHeaders: true,
  },
};

/** The public codes of every error class, by HTTP status (500s are all `INTERNAL` to callers). */
export function errorCodesByStatus(): Map<number, string[]> {
  const byStatus = new Map<number, Set<string>>();
  for (const module of ERROR_MODULES) {
    for (const exported of Object.values(module)) {
      if (typeof exported !== 'function' || !(exported.prototype instanceof GatewayError)) continue;
      let error: GatewayError;
      try {
        // Every error class takes a message or a list as its first argument; an empty list fits both.
        error = Reflect.construct(exported, [[]]) as GatewayError;
      } catch {
        continue;
      }
      // Abstract bases have no code of their own.
      if (typeof error.code !== 'string' || typeof error.status !== 'number') continue;
      const codes = byStatus.get(error.status) ?? new Set<string>();
      codes.add(error.publicCode);
      byStatus.set(error.status, codes);
    }
  }
  return new Map([...byStatus].map(([status, codes]) => [status, [...codes].sort()]));
}

// ---- zod to JSON Schema ------------------------------------------------------------------------

/**
 * The input side of a zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect). Refinements
 * (`refine`, `superRefine`) have no JSON Schema form and are left out: the gateway still checks them
 * and answers 400 listing each broken rule. Unions become `anyOf`.
 */
export function jsonSchemaOf(schema: z.ZodType, where: string): JsonObject {
  let converted: unknown;
  try {
    converted = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'throw', cycles: 'throw', reused: 'inline' });
  } catch (err) {
    throw new Error(`${where}: the schema has no JSON Schema form (${err instanceof Error ? err.message : String(err)})`);
  }
  const out = JSON.parse(JSON.stringify(converted)) as JsonObject;
  // OpenAPI 3.1 declares the dialect once for the document.
  delete out['$schema'];
  // A `$ref` would resolve against the OpenAPI document, not the schema: keep every schema self-contained.
  if (JSON.stringify(out).includes('"$ref"') || '$defs' in out) {
    throw new Error(`${where}: the schema refers to shared definitions (a zod id or a cycle); inline it`);
  }
  return out;
}

/** An object schema's properties and required list; query, path and multipart fields must be flat objects. */
function objectParts(schema: z.ZodType, where: string): { properties: Record<string, JsonObject>; required: string[]; schema: JsonObject } {
  const json = jsonSchemaOf(schema, where);
  if (json['type'] !== 'object' || !isObject(json['properties'])) {
    throw new Error(`${where}: must be an object schema with named fields (got ${JSON.stringify(json).slice(0, 80)})`);
  }
  const properties = json['properties'] as Record<string, JsonObject>;
  const required = Array.isArray(json['required']) ? json['required'].filter((r): r is string => typeof r === 'string') : [];
  return { properties, required, schema: json };
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---- one operation -----------------------------------------------------------------------------

/** The status a successful call answers with, as the table declares it (Didit's status, passed on). */
export function successStatus(spec: OperationSpec): 200 | 201 | 204 {
  return spec.successStatus ?? 200;
}

export function routeParameterNames(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

function parameters(spec: OperationSpec): JsonObject[] {
  const out: JsonObject[] = [];
  const declared = spec.params === undefined ? undefined : objectParts(spec.params, `${spec.name}.params`);
  for (const name of routeParameterNames(spec.route.path)) {
    const schema = declared?.properties[name];
    if (schema === undefined) throw new Error(`${spec.name}: route parameter {${name}} has no schema in params`);
    out.push({ name, in: 'path', required: true, schema });
  }
  if (spec.query !== undefined) {
    const query = objectParts(spec.query, `${spec.name}.query`);
    for (const [name, schema] of Object.entries(query.properties)) {
      out.push({ name, in: 'query', required: query.required.includes(name), schema });
    }
  }
  return out;
}

const FILE_TYPE_NAMES = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', tiff: 'TIFF', pdf: 'PDF' } as const;

function fileDescription(rule: FileRule): string {
  return `${rule.types.map((t) => FILE_TYPE_NAMES[t]).join(', ')}; at most ${rule.maxBytes / MB} MB. The type is recognised by the first bytes, not by the name or the announced type.`;
}

/** Base64 text of `bytes` bytes (with padding). */
function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/**
 * API Gateway hands the request to Lambda as one synchronous invocation of at most 6 MB, a multipart
 * body base64-encoded (binary media type): the per-file limits cannot all be reached through it.
 */
const LAMBDA_PAYLOAD_NOTE =
  "Through API Gateway the whole request reaches the function as one Lambda invocation of at most 6 MB, a multipart body base64-encoded (4/3 of its size): files of more than about 4 MB in total are refused before the gateway's own checks, whatever the per-file limits.";

const VALIDATION_NOTE =
  'Checked by the gateway before any Didit call, including rules between fields that JSON Schema cannot express; a request that breaks any gets 400 VALIDATION_FAILED listing every issue.';

function requestBody(spec: OperationSpec): JsonObject | undefined {
  if (spec.body === 'none') return undefined;
  if (spec.body === 'json') {
    const schema = spec.input === undefined ? { type: 'object', additionalProperties: false } : jsonSchemaOf(spec.input, `${spec.name}.input`);
    return { required: true, description: VALIDATION_NOTE, content: { 'application/json': { schema } } };
  }
  const fields = spec.input === undefined ? { properties: {}, required: [] as string[], schema: { type: 'object', additionalProperties: false } as JsonObject } : objectParts(spec.input, `${spec.name}.input`);
  const files = Object.entries(spec.files ?? {});
  const requiredFiles = files.filter(([, rule]) => rule.required).map(([name]) => name);
  const required = [...fields.required, ...requiredFiles];
  const form: JsonObject = { ...fields.schema, properties: { ...fields.properties } };
  const asJson: JsonObject = { ...fields.schema, properties: { ...fields.properties } };
  if (required.length > 0) {
    form['required'] = required;
    asJson['required'] = required;
  }
  const encoding: JsonObject = {};
  for (const [name, rule] of files) {
    (form['properties'] as JsonObject)[name] = {
      type: 'string',
      contentMediaType: 'application/octet-stream',
      description: `A file part: ${fileDescription(rule)}`,
    };
    encoding[name] = { contentType: rule.types.map((t) => MIME[t]).join(', ') };
    (asJson['properties'] as JsonObject)[name] = {
      type: 'string',
      contentEncoding: 'base64',
      ...(rule.types.length === 1 ? { contentMediaType: MIME[rule.types[0]!] } : {}),
      maxLength: base64Length(rule.maxBytes),
      description: `The file as standard base64 (no data: prefix): ${fileDescription(rule)}`,
    };
  }
  return {
    required: true,
    description: `${VALIDATION_NOTE} Send multipart/form-data (text fields and file parts), or the same fields as a JSON object with each file as a base64 string. Text fields are strings in both forms (e.g. "true", "18"). ${LAMBDA_PAYLOAD_NOTE}`,
    content: {
      'multipart/form-data': { schema: form, encoding },
      'application/json': { schema: asJson },
    },
  };
}

const header = (name: string): JsonObject => ({ $ref: `#/components/headers/${name}` });
const RATE_LIMIT_HEADERS: JsonObject = {
  'X-RateLimit-Limit': header('XRateLimitLimit'),
  'X-RateLimit-Remaining': header('XRateLimitRemaining'),
  'X-RateLimit-Reset': header('XRateLimitReset'),
};

function successResponse(spec: OperationSpec, status: number): JsonObject {
  const headers: JsonObject = { 'x-request-id': header('XRequestId'), ...RATE_LIMIT_HEADERS };
  if (status === 204) return { description: 'Done; no body (as Didit answers).', headers };
  if (spec.response === 'binary') {
    return {
      description:
        'The document as Didit sends it. Send `Accept: application/pdf`: API Gateway returns binary bodies only when the first Accept type is one of its binary media types. The answer leaves Lambda base64-encoded within its 6 MB response limit, so documents over about 4.5 MB fail (502).',
      headers,
      content: { [MIME.pdf]: { schema: { type: 'string', contentMediaType: MIME.pdf } } },
    };
  }
  const redacted = spec.redact === undefined || spec.redact.length === 0 ? '' : ` Fields named ${spec.redact.map((f) => `\`${f}\``).join(', ')} (at any depth) are replaced by "[redacted]".`;
  return {
    description: `Didit's answer, passed on as Didit sent it.${redacted}`,
    headers,
    content: { 'application/json': { schema: { type: 'object', description: `Didit's answer to ${spec.didit.method} ${spec.didit.path}.` } } },
  };
}

function idempotency(spec: OperationSpec): string {
  if (typeof spec.idempotent === 'function') return 'depends on the input';
  return spec.idempotent ? 'yes' : 'no';
}

function operationObject(spec: OperationSpec, tag: string | undefined): JsonObject {
  const status = successStatus(spec);
  const responses: JsonObject = { [String(status)]: successResponse(spec, status) };
  for (const [code, info] of Object.entries(ERROR_STATUSES)) {
    if (info.bodyOnly && spec.body === 'none') continue;
    responses[code] = { $ref: `#/components/responses/${info.key}` };
  }
  const retried =
    spec.idempotent === true
      ? 'The gateway may resend it once after a Didit failure (it cannot bill or act twice).'
      : spec.idempotent === false
        ? 'The gateway never resends it: a resend could bill or act twice.'
        : 'The gateway resends it after a Didit failure only when the input makes that safe.';
  const out: JsonObject = {
    operationId: spec.name,
    summary: spec.summary,
    description: [
      `Calls Didit \`${spec.didit.method} ${spec.didit.path}\` with the gateway's sealed API key.`,
      `Time budget ${spec.timeoutMs / 1000} s${spec.timeoutMs > API_GATEWAY_BUDGET_MS ? ` (more than API Gateway allows: through API Gateway the call is cut at ${API_GATEWAY_BUDGET_MS / 1000} s and answers 504 EXCEEDS_GATEWAY_TIMEOUT)` : ''}.`,
      `Billing: ${spec.billing}.`,
      retried,
    ].join(' '),
    parameters: parameters(spec),
    responses,
    security: [{ sigv4: [] }],
    'x-didit': {
      method: spec.didit.method,
      path: spec.didit.path,
      timeoutMs: spec.timeoutMs,
      idempotent: idempotency(spec),
      billing: spec.billing,
      ...(spec.redact === undefined ? {} : { redacted: [...spec.redact] }),
      ...(spec.postprocess === undefined ? {} : { postprocess: spec.postprocess }),
    },
  };
  if (tag !== undefined) out['tags'] = [tag];
  const body = requestBody(spec);
  if (body !== undefined) out['requestBody'] = body;
  return out;
}

function docsOperation(): JsonObject {
  return {
    operationId: DOCS_FUNCTION.name,
    summary: DOCS_FUNCTION.summary,
    description: 'This document. Served from the copy bundled with the function: no Didit call, no key use.',
    tags: [DOCS_TAG],
    parameters: [],
    security: [{ sigv4: [] }],
    responses: {
      '200': {
        description: 'The OpenAPI document.',
        headers: { 'x-request-id': header('XRequestId'), ETag: { description: 'Changes when the document does.', schema: { type: 'string' } } },
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      '304': { description: 'Not modified (If-None-Match matched the ETag).' },
      '403': { $ref: '#/components/responses/Forbidden' },
      '429': { $ref: '#/components/responses/TooManyRequests' },
      '500': { $ref: '#/components/responses/InternalError' },
    },
  };
}

// ---- the document ------------------------------------------------------------------------------

function components(): JsonObject {
  const codes = errorCodesByStatus();
  const allCodes = [...new Set([...codes.values()].flat())].sort();
  const responses: JsonObject = {};
  for (const [status, info] of Object.entries(ERROR_STATUSES)) {
    const statusCodes = codes.get(Number(status)) ?? [];
    const headers: JsonObject = { 'x-request-id': header('XRequestId') };
    if (info.retryAfter) headers['Retry-After'] = header('RetryAfter');
    if (info.diditHeaders) Object.assign(headers, RATE_LIMIT_HEADERS);
    const schema: JsonObject = info.apiGateway === undefined ? { $ref: ERROR } : { anyOf: [{ $ref: ERROR }, { $ref: API_GATEWAY_ERROR }] };
    const parts = [info.description];
    if (statusCodes.length > 0) parts.push(`Codes: ${statusCodes.map((c) => `\`${c}\``).join(', ')}.`);
    if (info.apiGateway !== undefined) parts.push(`${info.apiGateway} Its body is \`{"message": "..."}\` and has no x-request-id.`);
    responses[info.key] = { description: parts.join(' '), headers, content: { 'application/json': { schema } } };
  }
  return {
    securitySchemes: {
      sigv4: {
        type: 'apiKey',
        name: 'Authorization',
        in: 'header',
        description: 'AWS Signature Version 4 for service `execute-api` with IAM credentials allowed to call `execute-api:Invoke` on the route (lib/client signs requests this way).',
        'x-amazon-apigateway-authtype': 'awsSigv4',
      },
    },
    headers: {
      XRequestId: { description: 'Id of the gateway invocation (also `requestId` in error bodies): quote it to support.', schema: { type: 'string' } },
      XRateLimitLimit: { description: "Didit's request budget of the current window, passed on when Didit sent it.", schema: { type: 'integer', minimum: 0 } },
      XRateLimitRemaining: { description: 'Requests left in the current window (Didit), passed on when Didit sent it.', schema: { type: 'integer', minimum: 0 } },
      XRateLimitReset: { description: "When Didit's window resets, in Unix seconds, passed on when Didit sent it.", schema: { type: 'integer', minimum: 0 } },
      RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
    },
    responses,
    schemas: {
      Error: {
        type: 'object',
        description: "The gateway's error body. Messages are the gateway's own: they never quote input values, Didit's text or key material.",
        required: ['error'],
        additionalProperties: false,
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message', 'requestId'],
            additionalProperties: false,
            properties: {
              code: { type: 'string', enum: allCodes, description: 'Stable code; 500s are all INTERNAL (the precise cause is in the log line with `requestId`).' },
              message: { type: 'string' },
              requestId: { type: 'string' },
              issues: { type: 'array', description: 'VALIDATION_FAILED: every problem found.', items: { $ref: '#/components/schemas/FieldIssue' } },
              fields: { type: 'array', description: 'DIDIT_REJECTED_INPUT: the fields Didit refused (names only).', items: { type: 'string' } },
            },
          },
        },
      },
      FieldIssue: {
        type: 'object',
        required: ['field', 'message'],
        additionalProperties: false,
        properties: {
          field: { type: 'string', description: 'Dotted path, e.g. `contact_details.email`, `path.sessionId`, `query.limit`, `front_image`.' },
          message: { type: 'string' },
        },
      },
      ApiGatewayError: {
        type: 'object',
        description: "API Gateway's own answer, before the request reaches the gateway's function.",
        required: ['message'],
        properties: { message: { type: 'string' } },
      },
    },
  };
}

/** The whole document (keys in insertion order; `renderOpenApiJson` sorts them). */
export function buildOpenApiDocument(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): JsonObject {
  const paths: Record<string, JsonObject> = {};
  const add = (path: string, method: string, operation: JsonObject): void => {
    const item = paths[path] ?? {};
    paths[path] = item;
    const key = method.toLowerCase();
    if (key in item) throw new Error(`two operations for ${method} ${path}`);
    item[key] = operation;
  };
  for (const spec of Object.values(operations)) add(spec.route.path, spec.route.method, operationObject(spec, areaOf(spec.name)));
  add(DOCS_FUNCTION.route.path, DOCS_FUNCTION.route.method, docsOperation());
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'didit-kms-gateway',
      version: pkg.version,
      description:
        "Didit's identity-verification API (v3) behind AWS API Gateway with IAM authorisation. The gateway holds Didit's API key sealed with KMS, validates every request before any (billed) Didit call and passes Didit's answers on. Generated from lib/operations/table.ts by `npm run generate:openapi`: do not edit by hand.",
      license: { name: pkg.license, identifier: pkg.license },
    },
    servers: [
      {
        url: 'https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}',
        description: 'A deployed stage (`sls deploy --stage <stage>`).',
        variables: {
          restApiId: { default: 'abcdef1234', description: 'The REST API id printed by the deployment.' },
          region: { default: 'us-east-1' },
          stage: { default: 'dev' },
        },
      },
      { url: 'http://127.0.0.1:3000/local', description: '`npm start` (serverless-offline; IAM authorisation is not enforced offline).' },
    ],
    security: [{ sigv4: [] }],
    tags: [...AREAS.map(([name, , description]) => ({ name, description })), { name: DOCS_TAG, description: 'This document.' }],
    paths,
    components: components(),
  };
}

function areaOf(name: string): string | undefined {
  return AREAS.find(([, module]) => Object.hasOwn(module, name))?.[0];
}

/** Keys sorted at every level, so regenerating gives the same bytes whatever order the table was built in. */
export function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]!);
  return out;
}

export function renderOpenApiJson(operations: Readonly<Record<string, OperationSpec>> = OPERATIONS): string {
  return `${JSON.stringify(sortKeys(buildOpenApiDocument(operations)), null, 2)}\n`;
}

import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handler as docsHandler } from '../../functions/openapi.ts';
import { buildOpenApiDocument, errorCodesByStatus, renderOpenApiJson, routeParameterNames, successStatus, type JsonObject } from '../../infra/openapi/document.ts';
import { DOCS_FUNCTION } from '../../infra/serverless/functions.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';

// The OpenAPI document is generated from the operation table and checked in; these tests keep the
// two in step and check the document says what the handlers do.

const FILE = new URL('../../infra/openapi/openapi.json', import.meta.url);
const checkedIn = readFileSync(FILE, 'utf8');
const doc = JSON.parse(checkedIn) as any;
const specs = Object.values(OPERATIONS) as OperationSpec[];
const operationOf = (spec: OperationSpec) => doc.paths[spec.route.path]?.[spec.route.method.toLowerCase()];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('the checked-in OpenAPI document', () => {
  it('is what the generator makes from the table now (run `npm run generate:openapi` when this fails)', () => {
    const fresh = renderOpenApiJson();
    expect(fresh === checkedIn, 'infra/openapi/openapi.json is stale: run `npm run generate:openapi` and commit the result').toBe(true);
  });

  it('is deterministic: same bytes whatever order the table is in, keys sorted at every level', () => {
    const reversed = Object.fromEntries(Object.entries(OPERATIONS).reverse()) as Record<string, OperationSpec>;
    expect(renderOpenApiJson(reversed)).toBe(checkedIn);
    const sorted = (value: unknown): boolean => {
      if (Array.isArray(value)) return value.every(sorted);
      if (value === null || typeof value !== 'object') return true;
      const keys = Object.keys(value);
      return keys.join('\0') === [...keys].sort().join('\0') && Object.values(value).every(sorted);
    };
    expect(sorted(doc)).toBe(true);
  });

  it('is valid OpenAPI 3.1 (@readme/openapi-parser), with no warnings', async () => {
    const result = await validate(structuredClone(doc));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('the validator does catch a broken document (the check above is not vacuous)', async () => {
    const broken = structuredClone(doc);
    broken.paths['/v1/sessions'].post.responses = 'none';
    expect((await validate(broken)).valid).toBe(false);
  });

  it('every request and parameter schema is a valid JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    let compiled = 0;
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of METHODS.filter((m) => m in item)) {
        const op = item[method];
        for (const p of op.parameters ?? []) {
          ajv.compile(p.schema);
          compiled++;
        }
        for (const [type, media] of Object.entries<any>(op.requestBody?.content ?? {})) {
          expect(() => ajv.compile(media.schema), `${method} ${path} ${type}`).not.toThrow();
          compiled++;
        }
      }
    }
    expect(compiled).toBeGreaterThan(specs.length);
  });
});

describe('operations', () => {
  it('has every table entry once, plus the documentation route, and nothing else', () => {
    const ids: string[] = [];
    for (const item of Object.values<any>(doc.paths)) for (const m of METHODS) if (item[m]) ids.push(item[m].operationId);
    expect(ids.sort()).toEqual([...Object.keys(OPERATIONS), DOCS_FUNCTION.name].sort());
    expect(doc.paths[DOCS_FUNCTION.route.path].get.operationId).toBe(DOCS_FUNCTION.name);
  });

  for (const spec of specs) {
    it(`${spec.name}: route, summary, SigV4, x-didit`, () => {
      const op = operationOf(spec);
      expect(op, `${spec.route.method} ${spec.route.path}`).toBeDefined();
      expect(op.operationId).toBe(spec.name);
      expect(op.summary).toBe(spec.summary);
      expect(op.security).toEqual([{ sigv4: [] }]);
      expect(op['x-didit']).toMatchObject({ method: spec.didit.method, path: spec.didit.path, timeoutMs: spec.timeoutMs, billing: spec.billing });
      expect(op['x-didit'].idempotent).toBe(typeof spec.idempotent === 'function' ? 'depends on the input' : spec.idempotent ? 'yes' : 'no');
      expect(op.tags).toHaveLength(1);
    });
  }

  it('declares every path parameter of every route as required, and no parameter the route does not have', () => {
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of METHODS.filter((m) => m in item)) {
        const declared = (item[method].parameters ?? []).filter((p: any) => p.in === 'path');
        expect(declared.map((p: any) => p.name).sort(), `${method} ${path}`).toEqual(routeParameterNames(path).sort());
        for (const p of declared) expect(p.required).toBe(true);
      }
    }
  });

  it('query parameters come from the query schema, with their required flags', () => {
    for (const spec of specs.filter((s) => s.query !== undefined)) {
      const query = operationOf(spec).parameters.filter((p: any) => p.in === 'query');
      expect(query.map((p: any) => p.name).sort(), spec.name).toEqual(Object.keys(spec.query!.shape).sort());
    }
  });

  it('request bodies: JSON from `input`; multipart as form-data AND as JSON with base64 files; none without a body', () => {
    for (const spec of specs) {
      const body = operationOf(spec).requestBody;
      if (spec.body === 'none') {
        expect(body, spec.name).toBeUndefined();
        continue;
      }
      expect(body.required).toBe(true);
      if (spec.body === 'json') {
        expect(Object.keys(body.content), spec.name).toEqual(['application/json']);
        continue;
      }
      expect(Object.keys(body.content).sort(), spec.name).toEqual(['application/json', 'multipart/form-data']);
      const form = body.content['multipart/form-data'];
      const json = body.content['application/json'].schema;
      for (const [name, rule] of Object.entries(spec.files ?? {})) {
        expect(form.schema.properties[name], `${spec.name}.${name}`).toMatchObject({ type: 'string', contentMediaType: 'application/octet-stream' });
        expect(form.encoding[name].contentType).toContain('image/jpeg');
        expect(json.properties[name]).toMatchObject({ type: 'string', contentEncoding: 'base64', maxLength: Math.ceil(rule.maxBytes / 3) * 4 });
        expect(json.properties[name].description).toContain(`at most ${rule.maxBytes / (1024 * 1024)} MB`);
        expect(form.schema.required?.includes(name) ?? false).toBe(rule.required);
      }
      for (const field of Object.keys(spec.input && 'shape' in spec.input ? (spec.input.shape as object) : {})) {
        expect(form.schema.properties[field], `${spec.name}.${field}`).toBeDefined();
        expect(json.properties[field]).toEqual(form.schema.properties[field]);
      }
    }
  });

  it('describes schemas from the input side: unions, refinements and transforms', () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const schemaOf = (name: keyof typeof OPERATIONS) => operationOf(OPERATIONS[name]).requestBody.content['application/json'].schema;
    const create = ajv.compile(schemaOf('createSession'));
    expect(create({ workflow_id: '11111111-2222-4333-8444-555555555555', metadata: { a: 1 } })).toBe(true);
    expect(create({ workflow_id: '11111111-2222-4333-8444-555555555555', metadata: 'text' })).toBe(true);
    expect(create({ workflow_id: 'nope' })).toBe(false);
    expect(create({ workflow_id: '11111111-2222-4333-8444-555555555555', colour: 'red' })).toBe(false);
    // superRefine: the object is described, the cross-field rule is the gateway's (and said so).
    expect(schemaOf('batchDeleteSessions').properties).toHaveProperty('delete_all');
    expect(operationOf(OPERATIONS.batchDeleteSessions).requestBody.description).toMatch(/rules between fields/);
    // transform: the caller may send the alias the transform folds away.
    expect(schemaOf('databaseValidation').properties).toHaveProperty('id_number');
  });

  it('success status: 204 for deletes, 201 for creates and imports, 200 otherwise; PDF for binary answers', () => {
    for (const spec of specs) {
      const responses = operationOf(spec).responses;
      const success = Object.keys(responses).filter((s) => s.startsWith('2'));
      expect(success, spec.name).toEqual([String(successStatus(spec))]);
      const ok = responses[success[0]!];
      expect(Object.keys(ok.headers).sort()).toEqual(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'x-request-id']);
      if (successStatus(spec) === 204) expect(ok.content, spec.name).toBeUndefined();
      else if (spec.response === 'binary') expect(Object.keys(ok.content)).toEqual(['application/pdf']);
      else expect(Object.keys(ok.content)).toEqual(['application/json']);
    }
    expect(successStatus(OPERATIONS.createSession)).toBe(201);
    expect(successStatus(OPERATIONS.deleteSession)).toBe(204);
    expect(successStatus(OPERATIONS.amlScreening)).toBe(200);
    expect(successStatus(OPERATIONS.batchDeleteSessions)).toBe(204);
    expect(successStatus(OPERATIONS.importSharedSession)).toBe(201);
    expect(successStatus(OPERATIONS.addSessionReview)).toBe(201);
    expect(successStatus(OPERATIONS.blocklistRemove)).toBe(200);
    expect(successStatus({ ...OPERATIONS.amlScreening, successStatus: 201 } as OperationSpec)).toBe(201);
  });

  it('error responses share one Error schema whose code enum is every public code of the error classes', () => {
    const codes = errorCodesByStatus();
    const all = [...new Set([...codes.values()].flat())].sort();
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toEqual(all);
    expect(all).toEqual(expect.arrayContaining(['VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'RATE_LIMITED', 'INTERNAL', 'DIDIT_TIMEOUT', 'KMS_THROTTLED']));
    // 500s are INTERNAL to callers: internal codes are not part of the contract.
    expect(codes.get(500)).toEqual(['INTERNAL']);
    expect(all).not.toContain('SECRET_NOT_FOUND');
    for (const spec of specs) {
      const responses = operationOf(spec).responses;
      const expected = ['400', '401', '403', '404', '429', '500', '502', '503', '504', ...(spec.body === 'none' ? [] : ['413', '415'])];
      expect(Object.keys(responses).filter((s) => !s.startsWith('2')).sort(), spec.name).toEqual(expected.sort());
    }
    const limited = doc.components.responses.TooManyRequests;
    expect(Object.keys(limited.headers).sort()).toEqual(['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'x-request-id']);
    expect(doc.components.responses.ServiceUnavailable.headers).toHaveProperty('Retry-After');
    expect(doc.components.responses.BadRequest.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
  });

  it('SigV4 security scheme for API Gateway, required everywhere', () => {
    expect(doc.components.securitySchemes.sigv4).toMatchObject({ type: 'apiKey', name: 'Authorization', in: 'header', 'x-amazon-apigateway-authtype': 'awsSigv4' });
    expect(doc.security).toEqual([{ sigv4: [] }]);
  });

  it('refuses a table entry whose route parameter has no schema, or a schema with no JSON form', () => {
    const broken = { ...OPERATIONS.retrieveDecision, params: undefined } as OperationSpec;
    expect(() => buildOpenApiDocument({ retrieveDecision: broken })).toThrow(/route parameter \{sessionId\} has no schema/);
    const dated = { ...OPERATIONS.amlScreening, input: z.strictObject({ when: z.date() }) } as OperationSpec;
    expect(() => buildOpenApiDocument({ amlScreening: dated })).toThrow(/amlScreening.input: the schema has no JSON Schema form/);
  });
});

describe('the documentation function', () => {
  const context = lambdaContext();
  const get = (headers: Record<string, string> = {}) =>
    docsHandler(apiEvent({ method: 'GET', path: '/v1/openapi.json', headers }) as APIGatewayProxyEvent, context);

  it('serves the checked-in document as JSON, with an ETag', async () => {
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-cache', 'x-request-id': context.awsRequestId });
    expect(JSON.parse(res.body) as JsonObject).toEqual(doc);
    const again = await get({ 'If-None-Match': String(res.headers!['etag']) });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('needs no configuration and imports nothing of the key path (no KMS, Secrets Manager or Didit)', () => {
    const source = readFileSync(new URL('../../functions/openapi.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1]);
    expect(imports.sort()).toEqual(['../infra/openapi/openapi.json', '../lib/observability/tracing.ts', 'aws-lambda', 'node:crypto'].sort());
    // The tracing switch imports types only (the tracer is loaded on demand, and holds nothing of the key path).
    const tracing = readFileSync(new URL('../../lib/observability/tracing.ts', import.meta.url), 'utf8');
    expect([...tracing.matchAll(/^import (?!type ).* from '([^']+)'/gm)].map((m) => m[1])).toEqual([]);
  });
});

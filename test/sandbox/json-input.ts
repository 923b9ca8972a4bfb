/**
 * The front door of the JSON routes: turn a decoded body into an object or into the error DRF
 * would answer (415 for another media type, 400 for broken JSON or a non-object).
 */
import type { Reply } from './reply.ts';
import { detailReply, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import { isRecord, jsonTypeName } from './validation.ts';

export type JsonInput = { ok: true; value: Record<string, unknown> } | { ok: false; reply: Reply };

export function jsonObjectInput(body: ParsedBody): JsonInput {
  switch (body.kind) {
    case 'empty':
      return { ok: true, value: {} };
    case 'json':
      if (isRecord(body.value)) return { ok: true, value: body.value };
      return {
        ok: false,
        reply: jsonReply(400, { non_field_errors: [`Invalid data. Expected a dictionary, but got ${jsonTypeName(body.value)}.`] }),
      };
    case 'invalid-json':
      return { ok: false, reply: detailReply(400, `JSON parse error - ${body.message}`) };
    case 'multipart':
    case 'invalid-multipart':
      return { ok: false, reply: detailReply(415, 'Unsupported media type "multipart/form-data" in request.') };
    case 'other':
      return { ok: false, reply: detailReply(415, `Unsupported media type "${body.mediaType}" in request.`) };
  }
}

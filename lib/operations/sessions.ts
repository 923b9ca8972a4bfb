import { z } from 'zod';
import { defineOperation } from './types.ts';
import { MB, alpha3, base64Image, e164, isoDate, text, uuid } from './formats.ts';

// Session operations (didit-api.md §3).

export const createSession = defineOperation({
  name: 'createSession',
  summary: 'Create a verification session (hosted flow) for a workflow',
  route: { method: 'POST', path: '/v1/sessions' },
  didit: { method: 'POST', path: '/v3/session/' },
  body: 'json',
  input: z.strictObject({
    workflow_id: uuid,
    vendor_data: text(256).optional(),
    callback: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048).optional(),
    callback_method: z.enum(['initiator', 'completer', 'both']).optional(),
    metadata: z.union([z.record(z.string(), z.unknown()), z.string().max(4096)]).optional(),
    language: z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'must be an ISO 639-1 code (e.g. en, pt-BR)').optional(),
    contact_details: z
      .strictObject({
        email: z.email({ message: 'must be an email address' }).optional(),
        send_notification_emails: z.boolean().optional(),
        email_lang: z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/).optional(),
        phone: e164.optional(),
      })
      .optional(),
    expected_details: z
      .strictObject({
        first_name: text(128).optional(),
        last_name: text(128).optional(),
        date_of_birth: isoDate.optional(),
        gender: z.enum(['M', 'F']).nullable().optional(),
        nationality: alpha3.optional(),
        country: alpha3.optional(),
        id_country: alpha3.optional(),
        poa_country: alpha3.optional(),
        address: text(512).optional(),
        identification_number: text(64).optional(),
        ip_address: z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' }).optional(),
        expected_document_types: z.array(z.string().regex(/^[A-Z]{1,3}$/)).max(10).optional(),
      })
      .optional(),
    portrait_image: base64Image(1 * MB).optional(),
  }),
  timeoutMs: 10_000,
  // Didit returns the same unfinished session for the same workflow and vendor_data (§3.1).
  idempotent: (input) => typeof input['vendor_data'] === 'string',
  billing: 'free to create; the session is billed when the user completes it',
});

export const retrieveDecision = defineOperation({
  name: 'retrieveDecision',
  summary: "Retrieve a session's decision",
  route: { method: 'GET', path: '/v1/sessions/{sessionId}/decision' },
  didit: { method: 'GET', path: '/v3/session/{sessionId}/decision/' },
  body: 'none',
  params: z.strictObject({ sessionId: uuid }),
  timeoutMs: 10_000,
  idempotent: true,
  billing: 'free',
});


/**
 * Signs webhook deliveries the way Didit does (didit-api.md §6.4), for tests of the receiver:
 * `X-Timestamp`, `X-Signature` (raw body), `X-Signature-V2` (canonical JSON; or the timestamp-prefixed and
 * ASCII-escaped [?] variants, and both at once) and `X-Signature-Simple` (`{timestamp}:{session_id}:{status}:{webhook_type}`).
 *
 * The canonical JSON comes from lib/adapters/webhooks/canonical-json.ts, which the unit tests check against Python's
 * own output and against signatures made by Python (webhook-canonical-vectors.json).
 *
 * @example
 * ```ts
 * const secret = webhookSecret();
 * const delivery = signDelivery({ secret, payload: sessionStatusPayload({ status: 'Approved' }) });
 * await handler(webhookEvent(delivery), lambdaContext());
 * ```
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { canonicalForms } from '../../lib/adapters/webhooks/canonical-json.ts';
import { apiEvent } from '../support/api-events.ts';

export type SignerForm = 'v2' | 'v2-timestamped' | 'v2-ascii' | 'v2-ascii-timestamped' | 'v1' | 'simple';
/** Every form the receiver accepts (lib/adapters/webhooks/signatures.ts; `v1` is its `v1-raw`). */
export const SIGNER_FORMS: readonly SignerForm[] = ['v2', 'v2-timestamped', 'v2-ascii', 'v2-ascii-timestamped', 'v1', 'simple'];

export function isSignerForm(value: unknown): value is SignerForm {
  return typeof value === 'string' && (SIGNER_FORMS as readonly string[]).includes(value);
}

export interface SignOptions {
  readonly secret: Uint8Array;
  /** An object (serialised with `JSON.stringify`, optionally indented) or the exact body text. */
  readonly payload: unknown;
  /** `X-Timestamp`, unix seconds; default now. */
  readonly headerTimestamp?: number;
  /** Which signature headers to send; default all three in their standard forms (`v2`, `v1`, `simple`). */
  readonly forms?: readonly SignerForm[];
  /** Indentation of the serialised body (Didit's raw body need not be compact). */
  readonly indent?: number;
}

export interface SignedDelivery {
  readonly body: string;
  readonly headers: Record<string, string>;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A fresh secret shaped like Didit's `secret_shared_key`: 43 URL-safe characters, as bytes (never a string). */
export function webhookSecret(length = 43): Buffer {
  const out = Buffer.alloc(length);
  const random = randomBytes(length);
  for (let i = 0; i < length; i++) out[i] = ALPHABET.charCodeAt(random[i]! & 63);
  random.fill(0);
  return out;
}

function hmacHex(secret: Uint8Array, message: string | Uint8Array): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

export function signDelivery(options: SignOptions): SignedDelivery {
  const body = typeof options.payload === 'string' ? options.payload : JSON.stringify(options.payload, null, options.indent);
  const timestamp = String(options.headerTimestamp ?? Math.floor(Date.now() / 1000));
  const forms = options.forms ?? ['v2', 'v1', 'simple'];
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'DiditWebhook/2.0 +https://didit.me',
    'X-Timestamp': timestamp,
  };
  const canonical = canonicalForms(body);
  for (const form of forms) {
    switch (form) {
      case 'v2':
        headers['X-Signature-V2'] = hmacHex(options.secret, canonical.unicode);
        break;
      case 'v2-timestamped':
        headers['X-Signature-V2'] = hmacHex(options.secret, `${timestamp}:${canonical.unicode}`);
        break;
      case 'v2-ascii':
        headers['X-Signature-V2'] = hmacHex(options.secret, canonical.ascii);
        break;
      case 'v2-ascii-timestamped':
        headers['X-Signature-V2'] = hmacHex(options.secret, `${timestamp}:${canonical.ascii}`);
        break;
      case 'v1':
        headers['X-Signature'] = hmacHex(options.secret, Buffer.from(body, 'utf8'));
        break;
      case 'simple': {
        const b = JSON.parse(body) as Record<string, unknown>;
        headers['X-Signature-Simple'] = hmacHex(options.secret, `${b['timestamp']}:${b['session_id']}:${b['status']}:${b['webhook_type']}`);
        break;
      }
    }
  }
  return { body, headers };
}

/** The API Gateway (REST, proxy) event of a delivery to `POST /v1/webhooks/didit`; no IAM identity. */
export function webhookEvent(delivery: SignedDelivery, options: { base64?: boolean; headers?: Record<string, string> } = {}): APIGatewayProxyEvent {
  const event = apiEvent({
    method: 'POST',
    path: '/v1/webhooks/didit',
    headers: { ...delivery.headers, ...options.headers },
    body: options.base64 ? Buffer.from(delivery.body, 'utf8') : delivery.body,
    base64: options.base64 ?? false,
  });
  const identity = event.requestContext.identity as unknown as Record<string, unknown>;
  for (const key of ['accessKey', 'caller', 'user', 'userArn', 'accountId']) identity[key] = null;
  identity['sourceIp'] = '18.203.201.92';
  identity['userAgent'] = 'DiditWebhook/2.0 +https://didit.me';
  return event;
}

/** Marker values that must never leave the receiver (document number, media URLs, names, address). */
export const SENSITIVE_MARKERS = {
  documentNumber: 'YZ9876543',
  personalNumber: '99887766X',
  portraitUrl: 'https://media.didit.invalid/portrait-abcdef.jpg?signature=SIGNED',
  frontUrl: 'https://media.didit.invalid/front-abcdef.jpg?signature=SIGNED',
  videoUrl: 'https://media.didit.invalid/selfie-abcdef.mp4?signature=SIGNED',
  firstName: 'Ñandú',
  lastName: 'Østergård-Łukasiewicz',
  address: '12 Calle Mayor, 28013 Madrid',
  warningDescription: 'Document holder Ñandú Østergård-Łukasiewicz appears twice',
} as const;

/**
 * A `status.updated` delivery as Didit v3 sends it, with a full decision for final statuses: ID document
 * (document number, names, images), liveness (video), face match, a warning with a description that
 * quotes the person. Floats like `1.0` and `0.5` are there on purpose (V2 canonicalisation).
 */
export function sessionStatusPayload(options: {
  sessionId?: string;
  status?: string;
  timestamp?: number;
  eventId?: string;
  vendorData?: string;
  webhookType?: string;
  withDecision?: boolean;
} = {}): Record<string, unknown> {
  const status = options.status ?? 'Approved';
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const sessionId = options.sessionId ?? randomUUID();
  const m = SENSITIVE_MARKERS;
  const payload: Record<string, unknown> = {
    session_id: sessionId,
    status,
    webhook_type: options.webhookType ?? 'status.updated',
    created_at: timestamp,
    timestamp,
    workflow_id: '11111111-2222-4333-8444-555555555555',
    workflow_version: 3,
    vendor_data: options.vendorData ?? 'customer-42',
    metadata: { internal_note: `${m.firstName} VIP` },
    environment: 'live',
    session_kind: 'user',
  };
  if (options.eventId !== undefined) payload['event_id'] = options.eventId;
  if (options.withDecision ?? ['Approved', 'Declined', 'In Review', 'Abandoned'].includes(status)) {
    payload['decision'] = {
      session_id: sessionId,
      session_number: 1234,
      status,
      features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'],
      vendor_data: options.vendorData ?? 'customer-42',
      id_verifications: [
        {
          node_id: 'feature_ocr',
          status: status === 'In Review' ? 'In Review' : status,
          document_type: 'Identity Card',
          document_number: m.documentNumber,
          personal_number: m.personalNumber,
          first_name: m.firstName,
          last_name: m.lastName,
          full_name: `${m.firstName} ${m.lastName}`,
          date_of_birth: '1980-02-29',
          age: 44.0,
          address: m.address,
          portrait_image: m.portraitUrl,
          front_image: m.frontUrl,
          back_image: null,
          front_video: m.videoUrl,
          warnings:
            status === 'In Review'
              ? [
                  {
                    risk: 'POSSIBLE_DUPLICATED_USER',
                    log_type: 'warning',
                    short_description: 'Possible duplicated user',
                    long_description: m.warningDescription,
                    additional_data: { duplicated_session_id: randomUUID(), name: m.lastName },
                  },
                ]
              : [],
        },
      ],
      liveness_checks: [
        { node_id: 'feature_liveness', status: 'Approved', method: 'PASSIVE', score: 89.5, age_estimation: 44.0, video_url: m.videoUrl, warnings: [] },
      ],
      face_matches: [
        {
          node_id: 'feature_face',
          status: status === 'Declined' ? 'Declined' : 'Approved',
          score: status === 'Declined' ? 0.5 : 92.25,
          source_image: m.portraitUrl,
          target_image: m.frontUrl,
          warnings: status === 'Declined' ? [{ risk: 'LOW_FACE_MATCH_SIMILARITY', log_type: 'error', short_description: 'Low face match similarity' }] : [],
        },
      ],
      reviews: [],
      created_at: new Date(timestamp * 1000).toISOString(),
    };
  }
  return payload;
}

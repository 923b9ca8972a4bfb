import type { Coverage, SignatureForm } from './signatures.ts';

/** EventBridge `source` of every event this receiver publishes. */
export const EVENT_SOURCE = 'didit.webhooks';

/** Didit `webhook_type` (§6.2) → EventBridge `detail-type`. */
export const DETAIL_TYPES: Readonly<Record<string, string>> = Object.freeze({
  'status.updated': 'didit.session.status-updated',
  'data.updated': 'didit.session.data-updated',
  'user.status.updated': 'didit.user.status-updated',
  'user.data.updated': 'didit.user.data-updated',
  'business.status.updated': 'didit.business.status-updated',
  'business.data.updated': 'didit.business.data-updated',
  'activity.created': 'didit.activity.created',
  'transaction.created': 'didit.transaction.created',
  'transaction.status.updated': 'didit.transaction.status-updated',
});

/**
 * What {@link detailTypeFor} answers for a type not in {@link DETAIL_TYPES}. The receiver refuses such
 * deliveries before verifying them (WebhookTypeError): Didit sends only the types a destination subscribed to.
 */
export const UNKNOWN_DETAIL_TYPE = 'didit.webhook.unknown';

export function detailTypeFor(webhookType: string): { detailType: string; known: boolean } {
  const detailType = Object.hasOwn(DETAIL_TYPES, webhookType) ? DETAIL_TYPES[webhookType] : undefined;
  return detailType === undefined ? { detailType: UNKNOWN_DETAIL_TYPE, known: false } : { detailType, known: true };
}

/** One verification step of the decision: which feature, its status, and the risk codes it raised. */
export interface FeatureSummary {
  readonly feature: string;
  readonly node_id?: string;
  readonly status?: string;
  readonly risks: readonly string[];
}

/**
 * The `detail` of a published event: identifiers, statuses, risk codes and timestamps — what a consumer
 * needs to react, and nothing that identifies a person beyond the caller's own `vendor_data`. Built by an
 * allow-list: a field appears here only because this code copies it, by name and type, so whatever Didit
 * adds to its payloads (names, document numbers, image and video URLs, addresses, AML hits, metadata)
 * stays out until someone decides otherwise. Consumers fetch the full decision through the gateway.
 */
export interface WebhookEventDetail {
  readonly schema_version: 1;
  readonly webhook_type: string;
  readonly event_id?: string;
  readonly session_id?: string;
  readonly session_kind?: string;
  readonly business_session_id?: string;
  readonly status?: string;
  readonly previous_status?: string;
  readonly vendor_data?: string;
  readonly workflow_id?: string;
  readonly workflow_version?: number | string;
  readonly environment?: string;
  readonly timestamp?: number;
  readonly created_at?: number | string;
  readonly decision?: {
    readonly status?: string;
    readonly features?: readonly string[];
    readonly results: readonly FeatureSummary[];
  };
  readonly entity?: {
    readonly uuid?: string;
    readonly status?: string;
    readonly previous_status?: string;
    readonly reason?: string;
    readonly changed_fields?: readonly string[];
  };
  readonly delivery: {
    readonly received_at: number;
    /** The strongest form presented (every presented form verified). */
    readonly signature: SignatureForm;
    /** `body`: every field above comes from the signed body. `envelope`: see {@link summariseSimple}. */
    readonly authenticated: Coverage;
    /** Where `decision` (and vendor_data, workflow_*) came from: the signed body, or Didit's API. */
    readonly decision_source: 'delivery' | 'didit-api';
  };
}

/** What the receiver knows about how a delivery was verified. */
export interface DeliveryMeta {
  readonly signature: SignatureForm;
  readonly receivedAt: number;
}

/**
 * Decision arrays of the v3 decision (§3.2) and the singular objects of older payload versions; the output
 * names the v3 array for both.
 */
const FEATURE_KEYS: ReadonlyArray<readonly [key: string, feature: string]> = [
  ['id_verifications', 'id_verifications'],
  ['id_verification', 'id_verifications'],
  ['nfc_verifications', 'nfc_verifications'],
  ['nfc', 'nfc_verifications'],
  ['liveness_checks', 'liveness_checks'],
  ['liveness', 'liveness_checks'],
  ['face_matches', 'face_matches'],
  ['face_match', 'face_matches'],
  ['poa_verifications', 'poa_verifications'],
  ['poa', 'poa_verifications'],
  ['phone_verifications', 'phone_verifications'],
  ['phone', 'phone_verifications'],
  ['email_verifications', 'email_verifications'],
  ['email', 'email_verifications'],
  ['aml_screenings', 'aml_screenings'],
  ['aml', 'aml_screenings'],
  ['database_validations', 'database_validations'],
  ['database_validation', 'database_validations'],
  ['ip_analyses', 'ip_analyses'],
  ['ip_analysis', 'ip_analyses'],
];

const MAX_RESULTS = 50;
const MAX_RISKS = 50;

/** The detail of a delivery whose whole body is authenticated (X-Signature-V2 or X-Signature). */
export function summarise(body: unknown, meta: DeliveryMeta): WebhookEventDetail {
  return summariseFields(body, { received_at: meta.receivedAt, signature: meta.signature, authenticated: 'body', decision_source: 'delivery' });
}

/** The four fields X-Signature-Simple signs, as the envelope read them from the body. */
export interface SimpleFields {
  readonly webhookType: string;
  readonly sessionId: string;
  readonly status: string;
  /** Body `timestamp`, unix seconds. */
  readonly timestamp: number;
}

/**
 * The detail of a delivery authenticated by X-Signature-Simple alone: the four fields it signs from the body,
 * and everything else (decision, vendor_data, workflow) from `decision`, the document Didit's API returned for
 * the session. Nothing else of the body is read: `event_id`, `previous_status`, `vendor_data`, `metadata` and
 * the body's `decision` are unsigned there and may have been edited.
 */
export function summariseSimple(fields: SimpleFields, decision: Readonly<Record<string, unknown>>, meta: DeliveryMeta): WebhookEventDetail {
  const trusted: Record<string, unknown> = {
    webhook_type: fields.webhookType,
    session_id: fields.sessionId,
    status: fields.status,
    timestamp: fields.timestamp,
    decision,
  };
  for (const name of ['vendor_data', 'workflow_id', 'workflow_version', 'session_kind', 'environment']) {
    if (Object.hasOwn(decision, name)) trusted[name] = decision[name];
  }
  return summariseFields(trusted, { received_at: meta.receivedAt, signature: meta.signature, authenticated: 'envelope', decision_source: 'didit-api' });
}

function summariseFields(body: unknown, delivery: WebhookEventDetail['delivery']): WebhookEventDetail {
  const b = record(body) ?? {};
  const webhookType = str(b['webhook_type'], 64) ?? str(b['event'], 64) ?? 'unknown';
  const detail: Record<string, unknown> = { schema_version: 1, webhook_type: webhookType };
  copyStr(detail, 'event_id', b['event_id'], 128);
  if (Number.isSafeInteger(b['event_id'])) detail['event_id'] = String(b['event_id']);
  copyStr(detail, 'session_id', b['session_id'], 128);
  copyStr(detail, 'session_kind', b['session_kind'], 32);
  copyStr(detail, 'business_session_id', b['business_session_id'], 128);
  copyStr(detail, 'status', b['status'], 64);
  copyStr(detail, 'previous_status', b['previous_status'], 64);
  copyStr(detail, 'vendor_data', b['vendor_data'], 1024);
  copyStr(detail, 'workflow_id', b['workflow_id'], 128);
  const version = b['workflow_version'];
  if (isFiniteNumber(version) || str(version, 32) !== undefined) detail['workflow_version'] = version;
  copyStr(detail, 'environment', b['environment'], 32);
  if (isFiniteNumber(b['timestamp'])) detail['timestamp'] = b['timestamp'];
  const createdAt = b['created_at'];
  if (isFiniteNumber(createdAt) || str(createdAt, 40) !== undefined) detail['created_at'] = createdAt;

  const decision = record(b['decision']);
  if (decision !== undefined) {
    const out: Record<string, unknown> = { results: featureResults(decision) };
    copyStr(out, 'status', decision['status'], 64);
    const features = strings(decision['features'], 32, 32);
    if (features !== undefined) out['features'] = features;
    detail['decision'] = out;
  }

  const data = record(b['data']);
  if (data !== undefined) {
    const entity: Record<string, unknown> = {};
    copyStr(entity, 'uuid', data['uuid'], 128);
    copyStr(entity, 'status', data['status'], 64);
    copyStr(entity, 'previous_status', data['previous_status'], 64);
    copyStr(entity, 'reason', data['reason'], 64);
    const changed = strings(data['changed_fields'], 64, 100);
    if (changed !== undefined) entity['changed_fields'] = changed;
    if (detail['vendor_data'] === undefined) copyStr(detail, 'vendor_data', data['vendor_data'], 1024);
    if (Object.keys(entity).length > 0) detail['entity'] = entity;
  }

  detail['delivery'] = delivery;
  return detail as unknown as WebhookEventDetail;
}

function featureResults(decision: Readonly<Record<string, unknown>>): FeatureSummary[] {
  const results: FeatureSummary[] = [];
  for (const [key, feature] of FEATURE_KEYS) {
    if (!Object.hasOwn(decision, key)) continue;
    const value = decision[key];
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      const step = record(item);
      if (step === undefined || results.length >= MAX_RESULTS) continue;
      const summary: { feature: string; node_id?: string; status?: string; risks: string[] } = { feature, risks: risks(step['warnings']) };
      const nodeId = str(step['node_id'], 64);
      if (nodeId !== undefined) summary.node_id = nodeId;
      const status = str(step['status'], 64);
      if (status !== undefined) summary.status = status;
      results.push(summary);
    }
  }
  return results;
}

/** Only each warning's `risk` tag (e.g. `POSSIBLE_DUPLICATED_USER`): descriptions and additional data may quote the person. */
function risks(warnings: unknown): string[] {
  if (!Array.isArray(warnings)) return [];
  const out: string[] = [];
  for (const w of warnings) {
    const risk = str(record(w)?.['risk'], 64);
    if (risk !== undefined && /^[A-Z0-9_]+$/.test(risk) && out.length < MAX_RISKS) out.push(risk);
  }
  return out;
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length <= max ? value : undefined;
}

function strings(value: unknown, maxLength: number, maxItems: number): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((v): v is string => typeof v === 'string' && v.length <= maxLength).slice(0, maxItems);
}

function copyStr(target: Record<string, unknown>, name: string, value: unknown, max: number): void {
  const s = str(value, max);
  if (s !== undefined) target[name] = s;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

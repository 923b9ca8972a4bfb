import * as z from 'zod';
import { defineOperation } from './types.ts';
import { boolText, text, uuid } from './formats.ts';

// Management APIs (didit-api.md §4.1, §4.3, §6.5): workflows, blocklist, webhook destinations.
// All of them are free; their 4xx answers come back from Didit as DIDIT_REJECTED_INPUT / NOT_FOUND.

/** Management calls are small reads and writes: no document processing behind them. */
const MANAGEMENT_TIMEOUT_MS = 10_000;
const FREE = 'free (management API)';

// ---- workflows (§4.1) -------------------------------------------------------------------------

/**
 * Feature names of the "features array" shape. §4.1 names OCR, LIVENESS, FACE_MATCH, NFC, DB validation,
 * AML and QUESTIONNAIRE; the rest are the upper-case values of Didit's newer feature-configs page. A name
 * missing here is a 400 from us rather than a workflow Didit might build differently than intended.
 */
const WORKFLOW_FEATURES = [
  'OCR',
  'NFC',
  'LIVENESS',
  'FACE_MATCH',
  'AML',
  'PROOF_OF_ADDRESS',
  'DATABASE_VALIDATION',
  'PHONE_VERIFICATION',
  'EMAIL_VERIFICATION',
  'IP_ANALYSIS',
  'QUESTIONNAIRE',
  'DOCUMENT_AI',
  'SIGNATURE',
  'KYB_REGISTRY',
  'KYB_DOCUMENTS',
  'KYB_KEY_PEOPLE',
] as const;
type WorkflowFeature = (typeof WORKFLOW_FEATURES)[number];

/**
 * Linear workflows only (§4.1): a feature that reads document data must come after a feature that
 * produces it. OCR before FACE_MATCH, NFC and DB validation; user AML needs a name from OCR (or, for
 * businesses and Document AI flows, from KYB_REGISTRY / DOCUMENT_AI); KYB sub-features need the registry.
 */
const NEEDS_EARLIER: Partial<Record<WorkflowFeature, readonly WorkflowFeature[]>> = {
  FACE_MATCH: ['OCR'],
  NFC: ['OCR'],
  DATABASE_VALIDATION: ['OCR'],
  AML: ['OCR', 'KYB_REGISTRY', 'DOCUMENT_AI'],
  KYB_DOCUMENTS: ['KYB_REGISTRY'],
  KYB_KEY_PEOPLE: ['KYB_REGISTRY'],
};

/** Thresholds are percentages (§4.1 flat shape: `0 <= x <= 100`). */
const threshold = z.number('must be a number').min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100');
const livenessMethod = z.enum(['passive', 'active_3d', 'flashing']);
/** Documented as "REVIEW" in one generation and "review" in another [?]: accept both spellings. */
const duplicatedUserAction = z.enum(['no_action', 'review', 'decline', 'NO_ACTION', 'REVIEW', 'DECLINE']);
/** `{ISO3_COUNTRY: {DOC_TYPE: {...}}}`; Didit validates the contents, we bound the shape. */
const documentsAllowed = z.record(z.string().regex(/^[A-Z]{3}$/, 'keys must be ISO 3166-1 alpha-3 codes'), z.record(z.string(), z.unknown()));

/**
 * One feature's `config`. Its fields differ per feature and Didit documents many of them, so unknown
 * keys are passed through; the ones whose meaning we know are checked (every `*_threshold` is a percentage).
 */
const featureConfig = z
  .record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'config keys are snake_case names'), z.unknown())
  .superRefine((config, ctx) => {
    for (const [key, value] of Object.entries(config)) {
      if (key.endsWith('_threshold') && !threshold.safeParse(value).success) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be a number between 0 and 100' });
      }
    }
    const checks: Array<[string, z.ZodType]> = [
      ['questionnaire_uuid', uuid],
      ['face_liveness_method', livenessMethod],
      ['duplicated_user_action', duplicatedUserAction],
      ['documents_allowed', documentsAllowed.nullable()],
    ];
    for (const [key, schema] of checks) {
      if (key in config && !schema.safeParse(config[key]).success) {
        ctx.addIssue({ code: 'custom', path: [key], message: `is not a valid ${key}` });
      }
    }
  });

const workflowFeature = z.strictObject({
  feature: z.enum(WORKFLOW_FEATURES, { message: `must be one of: ${WORKFLOW_FEATURES.join(', ')}` }),
  config: featureConfig.optional(),
});

/**
 * An integer in [min, max]. `refine` rather than `.int()`: a failed `.int()` stops zod from running the
 * object-level rules, and the caller should learn about every problem in one answer.
 */
function wholeNumber(min: number, max: number, message = `must be between ${min} and ${max}`) {
  return z
    .number('must be a number')
    .refine(Number.isInteger, 'must be an integer')
    .refine((v) => v >= min && v <= max, message);
}

/** Fields of both request shapes. */
const commonWorkflowFields = {
  workflow_label: text(128),
  is_default: z.boolean().optional(),
  is_white_label_enabled: z.boolean().optional(),
  is_desktop_allowed: z.boolean().optional(),
  max_retry_attempts: wholeNumber(0, 10).optional(),
  retry_window_days: wholeNumber(1, 365, 'must be between 1 and 365, or null')
    .nullable()
    .optional(),
};

/** The older flat shape (§4.1 (b)): a base type plus on/off switches and thresholds. */
const flatWorkflowFields = {
  workflow_type: z
    .enum([
      'kyc',
      'adaptive_age_verification',
      'biometric_authentication',
      'address_verification',
      'questionnaire_verification',
      'email_verification',
      'phone_verification',
    ])
    .optional(),
  is_liveness_enabled: z.boolean().optional(),
  face_liveness_method: livenessMethod.optional(),
  face_liveness_score_decline_threshold: threshold.optional(),
  is_face_match_enabled: z.boolean().optional(),
  face_match_score_decline_threshold: threshold.optional(),
  face_match_score_review_threshold: threshold.optional(),
  is_aml_enabled: z.boolean().optional(),
  aml_decline_threshold: threshold.optional(),
  is_phone_verification_enabled: z.boolean().optional(),
  is_email_verification_enabled: z.boolean().optional(),
  is_database_validation_enabled: z.boolean().optional(),
  is_ip_analysis_enabled: z.boolean().optional(),
  is_nfc_enabled: z.boolean().optional(),
  is_age_restrictions_enabled: z.boolean().optional(),
  documents_allowed: documentsAllowed.optional(),
  duplicated_user_action: duplicatedUserAction.optional(),
};
const FLAT_ONLY = Object.keys(flatWorkflowFields);

/**
 * Both documented request shapes in one schema (§4.1): `features` selects the newer one, and then the
 * flat switches may not be mixed in (Didit would take one and silently drop the other).
 */
function workflowBody(partial: boolean) {
  const fields = {
    ...commonWorkflowFields,
    ...flatWorkflowFields,
    features: z.array(workflowFeature).min(1, 'must list at least one feature').max(30).optional(),
  };
  const shape = partial ? { ...fields, workflow_label: fields.workflow_label.optional() } : fields;
  // `when`: the cross-field rules are reported together with field errors, so the caller sees every
  // problem at once; they therefore read the body defensively (fields may be of the wrong type).
  return z.strictObject(shape).superRefine(
    (body, ctx) => {
      const record = body as Record<string, unknown>;
      if (partial && Object.keys(record).length === 0) {
        ctx.addIssue({ code: 'custom', path: [], message: 'must change at least one field' });
      }
      if (record['features'] !== undefined) {
        for (const name of FLAT_ONLY) {
          if (record[name] !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'cannot be combined with features' });
        }
        if (Array.isArray(record['features'])) checkFeatures(record['features'], ctx);
      }
      const decline = record['face_match_score_decline_threshold'];
      const review = record['face_match_score_review_threshold'];
      if (typeof decline === 'number' && typeof review === 'number' && review < decline) {
        ctx.addIssue({ code: 'custom', path: ['face_match_score_review_threshold'], message: 'must not be below face_match_score_decline_threshold' });
      }
    },
    { when: (payload) => isRecord(payload.value) },
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFeature(value: unknown): value is WorkflowFeature {
  return typeof value === 'string' && (WORKFLOW_FEATURES as readonly string[]).includes(value);
}

/** Order and per-feature requirements; entries that are not valid features were reported already. */
function checkFeatures(features: readonly unknown[], ctx: z.RefinementCtx): void {
  const seen = new Set<WorkflowFeature>();
  features.forEach((entry, index) => {
    if (!isRecord(entry) || !isFeature(entry['feature'])) return;
    const feature = entry['feature'];
    const config = isRecord(entry['config']) ? entry['config'] : {};
    const needs = NEEDS_EARLIER[feature];
    if (needs !== undefined && !needs.some((f) => seen.has(f))) {
      ctx.addIssue({ code: 'custom', path: ['features', index, 'feature'], message: `${feature} must come after ${needs.join(' or ')}` });
    }
    if (feature === 'QUESTIONNAIRE' && config['questionnaire_uuid'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['features', index, 'config', 'questionnaire_uuid'], message: 'is required for QUESTIONNAIRE' });
    }
    if (feature === 'KYB_DOCUMENTS' && config['kyb_required_document_groups'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['features', index, 'config', 'kyb_required_document_groups'], message: 'is required for KYB_DOCUMENTS' });
    }
    seen.add(feature);
  });
}

const workflowParams = z.strictObject({ workflowId: uuid });

export const listWorkflows = defineOperation({
  name: 'listWorkflows',
  summary: "List the application's workflows",
  route: { method: 'GET', path: '/v1/workflows' },
  didit: { method: 'GET', path: '/v3/workflows/' },
  body: 'none',
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  idempotent: true,
  billing: FREE,
});

export const createWorkflow = defineOperation({
  name: 'createWorkflow',
  successStatus: 201,
  summary: 'Create a verification workflow (features array or flat switches)',
  route: { method: 'POST', path: '/v1/workflows' },
  didit: { method: 'POST', path: '/v3/workflows/' },
  body: 'json',
  input: () => workflowBody(false),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // Each call creates another workflow (§4.1, §7.4).
  idempotent: false,
  billing: FREE,
});

export const getWorkflow = defineOperation({
  name: 'getWorkflow',
  summary: 'Retrieve one workflow',
  route: { method: 'GET', path: '/v1/workflows/{workflowId}' },
  didit: { method: 'GET', path: '/v3/workflows/{workflowId}/' },
  body: 'none',
  params: () => workflowParams,
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  idempotent: true,
  billing: FREE,
});

export const updateWorkflow = defineOperation({
  name: 'updateWorkflow',
  summary: 'Change some fields of a workflow (partial update)',
  route: { method: 'PATCH', path: '/v1/workflows/{workflowId}' },
  didit: { method: 'PATCH', path: '/v3/workflows/{workflowId}/' },
  body: 'json',
  params: () => workflowParams,
  input: () => workflowBody(true),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // Workflows are versioned (`version`, `has_draft`): a repeated PATCH may add a version. Not retried.
  idempotent: false,
  billing: FREE,
});

export const deleteWorkflow = defineOperation({
  name: 'deleteWorkflow',
  successStatus: 204,
  summary: 'Delete a workflow (existing sessions are not affected)',
  route: { method: 'DELETE', path: '/v1/workflows/{workflowId}' },
  didit: { method: 'DELETE', path: '/v3/workflows/{workflowId}/' },
  body: 'none',
  params: () => workflowParams,
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // A resend after a lost 204 would answer 404: the caller would be told the opposite of what happened.
  idempotent: false,
  billing: FREE,
});

// ---- blocklist (§4.3) -------------------------------------------------------------------------

/** `session_id` plus on/off flags, at least one of them on: an all-false call would do nothing. */
function blocklistBody<const K extends string>(flags: readonly K[]) {
  const shape: Record<string, z.ZodType> = { session_id: uuid };
  for (const flag of flags) shape[flag] = z.boolean().optional();
  return z.strictObject(shape).superRefine(
    (body, ctx) => {
      if (!flags.some((flag) => body[flag] === true)) {
        ctx.addIssue({ code: 'custom', path: [flags[0]!], message: `at least one of ${flags.join(', ')} must be true` });
      }
    },
    // Reported along with the other field errors, not only once they are fixed.
    { when: (payload) => isRecord(payload.value) },
  );
}

export const blocklistAdd = defineOperation({
  name: 'blocklistAdd',
  summary: "Blocklist a session's face, document, phone and/or email",
  route: { method: 'POST', path: '/v1/blocklist/add' },
  didit: { method: 'POST', path: '/v3/blocklist/add/' },
  body: 'json',
  input: () => blocklistBody(['blocklist_face', 'blocklist_document', 'blocklist_phone', 'blocklist_email']),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // Setting flags: a second identical call leaves the same blocklist.
  idempotent: true,
  billing: FREE,
});

export const blocklistRemove = defineOperation({
  name: 'blocklistRemove',
  summary: "Remove a session's face, document, phone and/or email from the blocklist",
  route: { method: 'POST', path: '/v1/blocklist/remove' },
  didit: { method: 'POST', path: '/v3/blocklist/remove/' },
  body: 'json',
  input: () => blocklistBody(['unblock_face', 'unblock_document', 'unblock_phone', 'unblock_email']),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  idempotent: true,
  billing: FREE,
});

/** Non-negative whole number in a query string (they arrive as text). */
const countText = (max: number) =>
  z
    .string()
    .regex(/^\d{1,7}$/, { message: 'must be a whole number', abort: true })
    .refine((v) => Number(v) <= max, `must be at most ${max}`);

export const listBlocklist = defineOperation({
  name: 'listBlocklist',
  summary: 'List blocklisted items, by type, a page at a time',
  route: { method: 'GET', path: '/v1/blocklist' },
  didit: { method: 'GET', path: '/v3/blocklist/' },
  body: 'none',
  query: () => z.strictObject({
    item_type: z.enum(['face', 'document', 'phone', 'email']).optional(),
    offset: countText(1_000_000).optional(),
    // Didit documents no maximum page size here; its other lists stop at 200 (§4.2).
    limit: countText(200)
      .refine((v) => Number(v) >= 1, 'must be at least 1')
      .optional(),
  }),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  idempotent: true,
  billing: FREE,
});

// ---- webhook destinations (§6.5) --------------------------------------------------------------

/** Exact event names (§6.2): Didit has no wildcard, and `[]` is a 400. */
const WEBHOOK_EVENTS = [
  'status.updated',
  'data.updated',
  'user.status.updated',
  'user.data.updated',
  'business.status.updated',
  'business.data.updated',
  'activity.created',
  'transaction.created',
  'transaction.status.updated',
] as const;

const subscribedEvents = z
  .array(z.enum(WEBHOOK_EVENTS, { message: `must be one of: ${WEBHOOK_EVENTS.join(', ')}` }))
  .min(1, 'must list at least one event (an empty list is refused by Didit)')
  .max(WEBHOOK_EVENTS.length)
  .refine((events) => new Set(events).size === events.length, 'must not list an event twice');

/**
 * Webhooks carry personal data: only https, and no credentials in the URL. zod runs this refinement even
 * when `z.url()` has already failed (a failed format check does not abort), so it must not throw on text
 * that is no URL at all: that case is already reported as 'must be an https URL'.
 */
const webhookUrl = z
  .url({ protocol: /^https$/, message: 'must be an https URL' })
  .max(2048)
  .refine((v) => {
    const url = URL.parse(v);
    return url === null || (url.username === '' && url.password === '');
  }, 'must not contain credentials');

const destinationFields = {
  label: text(128),
  url: webhookUrl,
  subscribed_events: subscribedEvents,
  enabled: z.boolean().optional(),
  webhook_version: z.enum(['v1', 'v2', 'v3']).optional(),
};

const destinationParams = z.strictObject({ destinationId: uuid });

/**
 * `?seal=true`: instead of dropping the destination's signing secret (it is always redacted), the
 * function seals it with KMS and stores it in Secrets Manager (lib/runtime/postprocess.ts). The flag is
 * the gateway's: the handler does not pass it on to Didit.
 */
const sealQuery = z.strictObject({ seal: boolText.optional() });

/** Didit returns the signing secret in full to API-key callers (§6.5); callers of the gateway never get it. */
const SECRET_FIELDS = ['secret_shared_key'] as const;

export const listWebhookDestinations = defineOperation({
  name: 'listWebhookDestinations',
  summary: 'List webhook destinations (oldest first) with delivery statistics',
  route: { method: 'GET', path: '/v1/webhook-destinations' },
  didit: { method: 'GET', path: '/v3/webhook/destinations/' },
  body: 'none',
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  idempotent: true,
  billing: FREE,
  redact: SECRET_FIELDS,
});

export const createWebhookDestination = defineOperation({
  name: 'createWebhookDestination',
  successStatus: 201,
  summary: 'Create a webhook destination; ?seal=true seals its signing secret into Secrets Manager',
  route: { method: 'POST', path: '/v1/webhook-destinations' },
  didit: { method: 'POST', path: '/v3/webhook/destinations/' },
  body: 'json',
  query: () => sealQuery,
  input: () => z.strictObject(destinationFields),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // (application, url) is unique: a resend after a lost 201 would be a 400 for a destination that exists.
  idempotent: false,
  billing: FREE,
  redact: SECRET_FIELDS,
  postprocess: 'sealWebhookSecret',
});

export const getWebhookDestination = defineOperation({
  name: 'getWebhookDestination',
  summary: 'Retrieve a webhook destination; ?seal=true seals its signing secret into Secrets Manager',
  route: { method: 'GET', path: '/v1/webhook-destinations/{destinationId}' },
  didit: { method: 'GET', path: '/v3/webhook/destinations/{destinationId}/' },
  body: 'none',
  params: () => destinationParams,
  query: () => sealQuery,
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  idempotent: true,
  billing: FREE,
  redact: SECRET_FIELDS,
  postprocess: 'sealWebhookSecret',
});

export const updateWebhookDestination = defineOperation({
  name: 'updateWebhookDestination',
  summary: 'Change a webhook destination (subscribed_events is replaced as a whole)',
  route: { method: 'PATCH', path: '/v1/webhook-destinations/{destinationId}' },
  didit: { method: 'PATCH', path: '/v3/webhook/destinations/{destinationId}/' },
  body: 'json',
  params: () => destinationParams,
  input: () => z
    .strictObject({
      label: destinationFields.label.optional(),
      url: destinationFields.url.optional(),
      subscribed_events: destinationFields.subscribed_events.optional(),
      enabled: destinationFields.enabled,
      webhook_version: destinationFields.webhook_version,
    })
    .refine((body) => Object.keys(body).length > 0, 'must change at least one field'),
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // Fields are replaced, not accumulated: the same PATCH twice leaves the same destination.
  idempotent: true,
  billing: FREE,
  redact: SECRET_FIELDS,
});

export const deleteWebhookDestination = defineOperation({
  name: 'deleteWebhookDestination',
  successStatus: 204,
  summary: 'Delete a webhook destination',
  route: { method: 'DELETE', path: '/v1/webhook-destinations/{destinationId}' },
  didit: { method: 'DELETE', path: '/v3/webhook/destinations/{destinationId}/' },
  body: 'none',
  params: () => destinationParams,
  timeoutMs: MANAGEMENT_TIMEOUT_MS,
  // As for workflows: a resend after a lost 204 would answer 404.
  idempotent: false,
  billing: FREE,
});

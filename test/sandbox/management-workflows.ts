/**
 * Workflows: `GET/POST /v3/workflows/`, `GET/PATCH/DELETE /v3/workflows/{uuid}/` (didit-api.md §4.1).
 *
 * Both documented request shapes are accepted: the newer `features` array (linear, ordered, with the
 * OCR-first rules) and the older flat switches. Stored per sandbox (cleared by `reset()`).
 */
import { randomUUID } from 'node:crypto';
import { jsonObjectInput } from './json-input.ts';
import type { Reply } from './reply.ts';
import { NOT_FOUND, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { RouteContext } from './route.ts';
import { areaState } from './route.ts';
import {
  EMPTY_LIST,
  booleanField,
  choiceField,
  dictField,
  integerField,
  listMessage,
  rejectUnknown,
  stringField,
  thresholdField,
} from './management-fields.ts';
import { ErrorBag, MESSAGES, choiceMessage, dictMessage, isPathUuid, isRecord, isUuid } from './validation.ts';

const FEATURES = [
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
type Feature = (typeof FEATURES)[number];

/** Features that read what an earlier one produced (§4.1: OCR before FACE_MATCH, NFC, DB validation, user AML). */
const NEEDS_EARLIER: Partial<Record<Feature, readonly Feature[]>> = {
  FACE_MATCH: ['OCR'],
  NFC: ['OCR'],
  DATABASE_VALIDATION: ['OCR'],
  AML: ['OCR', 'KYB_REGISTRY', 'DOCUMENT_AI'],
  KYB_DOCUMENTS: ['KYB_REGISTRY'],
  KYB_KEY_PEOPLE: ['KYB_REGISTRY'],
};

const WORKFLOW_TYPES = [
  'kyc',
  'adaptive_age_verification',
  'biometric_authentication',
  'address_verification',
  'questionnaire_verification',
  'email_verification',
  'phone_verification',
] as const;
const LIVENESS_METHODS = ['passive', 'active_3d', 'flashing'] as const;
const DUPLICATE_ACTIONS = ['no_action', 'review', 'decline', 'NO_ACTION', 'REVIEW', 'DECLINE'] as const;

const COMMON_FIELDS = ['workflow_label', 'is_default', 'is_white_label_enabled', 'is_desktop_allowed', 'max_retry_attempts', 'retry_window_days'];
const FLAT_BOOLEANS = [
  'is_liveness_enabled',
  'is_face_match_enabled',
  'is_aml_enabled',
  'is_phone_verification_enabled',
  'is_email_verification_enabled',
  'is_database_validation_enabled',
  'is_ip_analysis_enabled',
  'is_nfc_enabled',
  'is_age_restrictions_enabled',
] as const;
const FLAT_THRESHOLDS = [
  'face_liveness_score_decline_threshold',
  'face_match_score_decline_threshold',
  'face_match_score_review_threshold',
  'aml_decline_threshold',
] as const;
const FLAT_FIELDS = ['workflow_type', ...FLAT_BOOLEANS, 'face_liveness_method', ...FLAT_THRESHOLDS, 'documents_allowed', 'duplicated_user_action'];
const KNOWN = new Set([...COMMON_FIELDS, ...FLAT_FIELDS, 'features']);

/** Flat switch → the feature node it turns on, in the order Didit's flat workflows run them. */
const FLAT_FEATURES: ReadonlyArray<readonly [string, Feature]> = [
  ['is_nfc_enabled', 'NFC'],
  ['is_liveness_enabled', 'LIVENESS'],
  ['is_face_match_enabled', 'FACE_MATCH'],
  ['is_database_validation_enabled', 'DATABASE_VALIDATION'],
  ['is_aml_enabled', 'AML'],
  ['is_phone_verification_enabled', 'PHONE_VERIFICATION'],
  ['is_email_verification_enabled', 'EMAIL_VERIFICATION'],
  ['is_ip_analysis_enabled', 'IP_ANALYSIS'],
];

interface FeatureEntry {
  feature: Feature;
  config: Record<string, unknown>;
}

interface StoredWorkflow {
  uuid: string;
  label: string;
  type: string;
  isDefault: boolean;
  simple: boolean;
  features: FeatureEntry[];
  settings: Record<string, unknown>;
  maxRetryAttempts: number;
  retryWindowDays: number | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface WorkflowState {
  workflows: Map<string, StoredWorkflow>;
}

function state(ctx: RouteContext): WorkflowState {
  return areaState(ctx, 'workflows', () => ({ workflows: new Map<string, StoredWorkflow>() }));
}

export function listWorkflows(ctx: RouteContext): Reply {
  return jsonReply(200, [...state(ctx).workflows.values()].map(workflowBody));
}

export function createWorkflow(body: ParsedBody, ctx: RouteContext): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const parsed = parseWorkflow(input.value, false);
  if (!parsed.ok) return jsonReply(400, parsed.errors);
  const now = new Date();
  const fields = parsed.fields;
  const workflow: StoredWorkflow = {
    uuid: randomUUID(),
    label: fields.label ?? '',
    type: fields.type ?? 'kyc',
    isDefault: fields.isDefault ?? false,
    simple: fields.features !== undefined,
    features: fields.features ?? [],
    settings: fields.settings,
    maxRetryAttempts: fields.maxRetryAttempts ?? 3,
    retryWindowDays: fields.retryWindowDays === undefined ? null : fields.retryWindowDays,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  const store = state(ctx).workflows;
  if (workflow.isDefault) for (const other of store.values()) other.isDefault = false;
  store.set(workflow.uuid, workflow);
  return jsonReply(201, workflowBody(workflow));
}

export function getWorkflow(id: string, ctx: RouteContext): Reply {
  const workflow = find(id, ctx);
  return workflow === undefined ? NOT_FOUND : jsonReply(200, workflowBody(workflow));
}

export function updateWorkflow(id: string, body: ParsedBody, ctx: RouteContext): Reply {
  const workflow = find(id, ctx);
  if (workflow === undefined) return NOT_FOUND;
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const parsed = parseWorkflow(input.value, true);
  if (!parsed.ok) return jsonReply(400, parsed.errors);
  const fields = parsed.fields;
  if (fields.label !== undefined) workflow.label = fields.label;
  if (fields.type !== undefined) workflow.type = fields.type;
  if (fields.features !== undefined) {
    // The array replaces the previous features and their configuration.
    workflow.features = fields.features;
    workflow.simple = true;
  }
  Object.assign(workflow.settings, fields.settings);
  if (fields.maxRetryAttempts !== undefined) workflow.maxRetryAttempts = fields.maxRetryAttempts;
  if (fields.retryWindowDays !== undefined) workflow.retryWindowDays = fields.retryWindowDays;
  if (fields.isDefault !== undefined) {
    if (fields.isDefault) for (const other of state(ctx).workflows.values()) other.isDefault = false;
    workflow.isDefault = fields.isDefault;
  }
  workflow.version += 1;
  workflow.updatedAt = new Date();
  return jsonReply(200, workflowBody(workflow));
}

export function deleteWorkflow(id: string, ctx: RouteContext): Reply {
  if (find(id, ctx) === undefined) return NOT_FOUND;
  state(ctx).workflows.delete(id);
  return { status: 204 };
}

function find(id: string, ctx: RouteContext): StoredWorkflow | undefined {
  return isPathUuid(id) ? state(ctx).workflows.get(id) : undefined;
}

interface WorkflowFields {
  label?: string;
  type?: string;
  isDefault?: boolean;
  features?: FeatureEntry[];
  settings: Record<string, unknown>;
  maxRetryAttempts?: number;
  retryWindowDays?: number | null;
}

type Parsed = { ok: true; fields: WorkflowFields } | { ok: false; errors: Record<string, unknown> };

function parseWorkflow(data: Record<string, unknown>, partial: boolean): Parsed {
  const errors = new ErrorBag();
  rejectUnknown(data, KNOWN, errors);
  const fields: WorkflowFields = { settings: {} };

  const label = stringField(data, 'workflow_label', errors, { required: !partial, max: 255 });
  if (label !== undefined) fields.label = label;
  const isDefault = booleanField(data, 'is_default', errors);
  if (isDefault !== undefined) fields.isDefault = isDefault;
  for (const name of ['is_white_label_enabled', 'is_desktop_allowed']) {
    const value = booleanField(data, name, errors);
    if (value !== undefined) fields.settings[name] = value;
  }
  const retries = integerField(data, 'max_retry_attempts', errors, { min: 0, max: 10 });
  if (typeof retries === 'number') fields.maxRetryAttempts = retries;
  const window = integerField(data, 'retry_window_days', errors, { min: 1, max: 365, nullable: true });
  if (window !== undefined) fields.retryWindowDays = window;

  const featureErrors: Record<string, unknown>[] = [];
  if (data['features'] !== undefined) {
    // The simple v3 shape: the flat switches are not part of it.
    for (const name of FLAT_FIELDS) if (data[name] !== undefined) errors.add(name, 'This field cannot be used together with features.');
    const features = parseFeatures(data['features'], errors, featureErrors);
    if (features !== undefined) fields.features = features;
  } else {
    const type = choiceField(data, 'workflow_type', WORKFLOW_TYPES, errors);
    if (type !== undefined) fields.type = type;
    for (const name of FLAT_BOOLEANS) {
      const value = booleanField(data, name, errors);
      if (value !== undefined) fields.settings[name] = value;
    }
    for (const name of FLAT_THRESHOLDS) {
      const value = thresholdField(data, name, errors);
      if (value !== undefined) fields.settings[name] = value;
    }
    const method = choiceField(data, 'face_liveness_method', LIVENESS_METHODS, errors);
    if (method !== undefined) fields.settings['face_liveness_method'] = method;
    const action = choiceField(data, 'duplicated_user_action', DUPLICATE_ACTIONS, errors);
    if (action !== undefined) fields.settings['duplicated_user_action'] = action;
    const documents = dictField(data, 'documents_allowed', errors);
    if (documents !== undefined) fields.settings['documents_allowed'] = documents;
  }

  if (errors.empty && featureErrors.every((e) => Object.keys(e).length === 0)) return { ok: true, fields };
  const out: Record<string, unknown> = { ...errors.errors };
  if (featureErrors.some((e) => Object.keys(e).length > 0)) out['features'] = featureErrors;
  return { ok: false, errors: out };
}

/**
 * The ordered features array. Per-item problems come back as DRF's list of per-item error objects;
 * ordering problems as messages on `features` itself.
 */
function parseFeatures(value: unknown, errors: ErrorBag, itemErrors: Record<string, unknown>[]): FeatureEntry[] | undefined {
  if (!Array.isArray(value)) return void errors.add('features', listMessage(value));
  if (value.length === 0) return void errors.add('features', EMPTY_LIST);
  const entries: FeatureEntry[] = [];
  for (const item of value) {
    const problems: Record<string, unknown> = {};
    itemErrors.push(problems);
    if (!isRecord(item)) {
      problems['non_field_errors'] = [dictMessage(item)];
      continue;
    }
    const feature = item['feature'];
    if (feature === undefined || feature === null) problems['feature'] = [MESSAGES.required];
    else if (typeof feature !== 'string' || !(FEATURES as readonly string[]).includes(feature)) problems['feature'] = [choiceMessage(feature)];
    const config = item['config'] ?? {};
    if (!isRecord(config)) problems['config'] = [dictMessage(config)];
    else if (feature === 'QUESTIONNAIRE') {
      const id = config['questionnaire_uuid'];
      if (id === undefined || id === null) problems['config'] = { questionnaire_uuid: [MESSAGES.required] };
      else if (typeof id !== 'string' || !isUuid(id)) problems['config'] = { questionnaire_uuid: [MESSAGES.notUuid] };
    } else if (feature === 'KYB_DOCUMENTS' && config['kyb_required_document_groups'] === undefined) {
      problems['config'] = { kyb_required_document_groups: [MESSAGES.required] };
    }
    if (isRecord(config)) {
      for (const [key, v] of Object.entries(config)) {
        if (key.endsWith('_threshold') && (typeof v !== 'number' || v < 0 || v > 100)) {
          problems['config'] = { ...(problems['config'] as Record<string, unknown> | undefined), [key]: ['Ensure this value is between 0 and 100.'] };
        }
      }
    }
    if (Object.keys(problems).length === 0) entries.push({ feature: feature as Feature, config: config as Record<string, unknown> });
  }
  if (entries.length !== value.length) return undefined;
  const seen = new Set<Feature>();
  for (const entry of entries) {
    const needs = NEEDS_EARLIER[entry.feature];
    if (needs !== undefined && !needs.some((f) => seen.has(f))) {
      errors.add('features', `${entry.feature} requires ${needs.join(' or ')} earlier in the workflow.`);
    }
    seen.add(entry.feature);
  }
  return errors.has('features') ? undefined : entries;
}

function featureNames(workflow: StoredWorkflow): Feature[] {
  if (workflow.simple) return workflow.features.map((f) => f.feature);
  const names: Feature[] = workflow.type === 'kyc' ? ['OCR'] : [];
  for (const [flag, feature] of FLAT_FEATURES) if (workflow.settings[flag] === true) names.push(feature);
  return names;
}

/** The workflow object of §4.1's response list. Prices are strings, as Didit sends them. */
function workflowBody(workflow: StoredWorkflow): Record<string, unknown> {
  const features = featureNames(workflow);
  const price = (0.15 * Math.max(1, features.length)).toFixed(2);
  return {
    uuid: workflow.uuid,
    workflow_id: workflow.uuid,
    workflow_label: workflow.label,
    workflow_type: workflow.type,
    is_default: workflow.isDefault,
    is_archived: false,
    total_price: price,
    min_price: price,
    max_price: price,
    features,
    is_simple_workflow: workflow.simple,
    is_editable: true,
    workflow_url: `https://verify.didit.me/workflow/${workflow.uuid}`,
    max_retry_attempts: workflow.maxRetryAttempts,
    retry_window_days: workflow.retryWindowDays,
    session_expiration_time: 604800,
    version: workflow.version,
    status: 'published',
    has_draft: false,
    updated_at: workflow.updatedAt.toISOString(),
  };
}

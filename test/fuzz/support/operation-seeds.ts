/**
 * One valid request per operation of the table (from the integration tests), the starting point the
 * fuzzer mutates: without valid seeds almost every case would stop at the first field check, and the
 * paths that reach the sealed key and Didit would go unexplored.
 */
import type { OperationName } from '../../../lib/operations/table.ts';

export interface OperationSeed {
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  /** The JSON body, or the text fields of a multipart body. */
  readonly body?: Readonly<Record<string, unknown>>;
  /** Multipart file fields, by name: a JPEG of 2 KiB unless the kind is given. */
  readonly files?: Readonly<Record<string, 'jpeg' | 'pdf'>>;
}

export const WORKFLOW = '11111111-2222-4333-8444-555555555555';
const SESSION = '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11';

export const SEEDS: Readonly<Record<OperationName, OperationSeed>> = {
  createSession: { body: { workflow_id: WORKFLOW, vendor_data: 'user-1', contact_details: { email: 'ana@example.com' }, metadata: { plan: 'gold' } } },
  retrieveDecision: { params: { sessionId: SESSION } },
  listSessions: { query: { vendor_data: 'user-a', limit: '1', session_kind: 'user', status: 'Approved' } },
  deleteSession: { params: { sessionId: SESSION } },
  batchDeleteSessions: { body: { session_numbers: ['1001'] } },
  updateSessionStatus: { params: { sessionId: SESSION }, body: { new_status: 'Approved', comment: 'Checked by hand.' } },
  generateSessionPdf: { params: { sessionId: SESSION } },
  shareSession: { params: { sessionId: SESSION } },
  importSharedSession: { body: { share_token: 'abcdefghijklmnopqrstuvwxyz012345', trust_review: false, workflow_id: WORKFLOW, vendor_data: 'our-user' } },
  listSessionReviews: { params: { sessionId: SESSION } },
  addSessionReview: { params: { sessionId: SESSION }, body: { new_status: 'In Review', comment: 'Second look.' } },
  idVerification: { body: { minimum_age: '18', vendor_data: 'user-1' }, files: { front_image: 'jpeg' } },
  amlScreening: { body: { full_name: 'Ana García', nationality: 'ES' } },
  passiveLiveness: { body: { vendor_data: 'user-1' }, files: { user_image: 'jpeg' } },
  faceMatch: { body: { face_match_score_decline_threshold: '90' }, files: { user_image: 'jpeg', ref_image: 'jpeg' } },
  faceSearch: { body: { search_type: 'most_similar', vendor_data: 'user-2' }, files: { user_image: 'jpeg' } },
  ageEstimation: { body: { age_estimation_decline_threshold: '30' }, files: { user_image: 'jpeg' } },
  proofOfAddress: {
    body: { expected_first_name: 'Carmen', expected_address: 'Avenida de Madrid 34, Madrid', expected_country: 'ES', poa_languages_allowed: 'es,en', vendor_data: 'user-1' },
    files: { document: 'pdf' },
  },
  databaseValidation: { body: { issuing_state: 'BRA', identification_number: '00000000191', first_name: 'Carmen', date_of_birth: '1980-01-01' } },
  emailSend: { body: { email: 'ana@example.com', options: { code_size: 6, locale: 'es' }, vendor_data: 'user-1' } },
  emailCheck: { body: { email: 'ana@example.com', code: '123456', breached_email_action: 'DECLINE' } },
  phoneSend: { body: { phone_number: '+34600000000', vendor_data: 'user-1' } },
  phoneCheck: { body: { phone_number: '+34600000000', code: '123456' } },
  listWorkflows: {},
  createWorkflow: { body: { workflow_label: 'Standard KYC', features: [{ feature: 'OCR', config: { duplicated_user_action: 'review' } }], max_retry_attempts: 2 } },
  getWorkflow: { params: { workflowId: WORKFLOW } },
  updateWorkflow: { params: { workflowId: WORKFLOW }, body: { workflow_label: 'B', max_retry_attempts: 5 } },
  deleteWorkflow: { params: { workflowId: WORKFLOW } },
  blocklistAdd: { body: { session_id: SESSION, blocklist_face: true, blocklist_email: true } },
  blocklistRemove: { body: { session_id: SESSION, unblock_face: true } },
  listBlocklist: { query: { item_type: 'face', limit: '10' } },
  listWebhookDestinations: {},
  createWebhookDestination: { query: { seal: 'true' }, body: { label: 'Main', url: 'https://hooks.example.com/didit', subscribed_events: ['status.updated', 'data.updated'] } },
  getWebhookDestination: { params: { destinationId: WORKFLOW } },
  updateWebhookDestination: { params: { destinationId: WORKFLOW }, body: { subscribed_events: ['user.status.updated'] } },
  deleteWebhookDestination: { params: { destinationId: WORKFLOW } },
};

/**
 * `/__sandbox/` control routes for a sandbox running in another process (`main.ts`, `npm start`): inject
 * faults, reset, read what was received, move a session to another status (`POST
 * /__sandbox/sessions/{id}/status` `{"status": "Approved", "signatures": ["v2", "simple"]}`, which sends
 * its webhook when a target is configured). No x-api-key: they exist only when the sandbox was started with
 * `control: true`, and they are never recorded as Didit traffic.
 */
import { parseFaultRule } from './faults.ts';
import type { Reply } from './reply.ts';
import { NOT_FOUND, detailReply, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { FaultRule, RecordedRequest, SessionStatus, SignerForm } from './types.ts';
import { SESSION_STATUSES, isSessionStatus } from './types.ts';
import { SIGNER_FORMS, isSignerForm } from './webhook-signer.ts';

export const CONTROL_PREFIX = '/__sandbox/';

export interface ControlTarget {
  inject(rule: FaultRule): void;
  clearFaults(): void;
  reset(): void;
  readonly received: readonly RecordedRequest[];
  connections(): number;
  tlsHandshakes(): number;
  tlsResumedHandshakes(): number;
  setSessionStatus(sessionId: string, status: SessionStatus, options?: { signatures?: readonly SignerForm[] }): void;
}

export function handleControl(method: string, path: string, body: ParsedBody, target: ControlTarget): Reply {
  const json = body.kind === 'json' ? body.value : undefined;

  if (path === '/__sandbox/faults') {
    if (method === 'POST') {
      const rule = parseFaultRule(json);
      if (typeof rule === 'string') return detailReply(400, rule);
      target.inject(rule);
      return jsonReply(201, { ok: true });
    }
    if (method === 'DELETE') {
      target.clearFaults();
      return jsonReply(200, { ok: true });
    }
  }
  if (path === '/__sandbox/reset' && method === 'POST') {
    target.reset();
    return jsonReply(200, { ok: true });
  }
  if (path === '/__sandbox/received' && method === 'GET') return jsonReply(200, target.received);
  if (path === '/__sandbox/stats' && method === 'GET') {
    return jsonReply(200, {
      connections: target.connections(),
      tlsHandshakes: target.tlsHandshakes(),
      tlsResumedHandshakes: target.tlsResumedHandshakes(),
      count: target.received.length,
    });
  }

  const statusRoute = /^\/__sandbox\/sessions\/([^/]+)\/status$/.exec(path);
  if (statusRoute !== null && method === 'POST') {
    const fields = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
    const status = fields['status'];
    if (!isSessionStatus(status)) {
      return detailReply(400, `status must be one of: ${SESSION_STATUSES.join(', ')}`);
    }
    // Optional: the signature headers of the webhook this change sends (default: the target's, all three).
    const signatures = fields['signatures'];
    if (signatures !== undefined && (!Array.isArray(signatures) || signatures.length === 0 || !signatures.every(isSignerForm))) {
      return detailReply(400, `signatures must be a non-empty list of: ${SIGNER_FORMS.join(', ')}`);
    }
    try {
      target.setSessionStatus(statusRoute[1] ?? '', status, signatures === undefined ? undefined : { signatures });
    } catch {
      return NOT_FOUND;
    }
    return jsonReply(200, { session_id: statusRoute[1], status });
  }
  return NOT_FOUND;
}

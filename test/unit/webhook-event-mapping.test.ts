import { describe, expect, it } from 'vitest';
import { DETAIL_TYPES, detailTypeFor, summarise, UNKNOWN_DETAIL_TYPE } from '../../lib/adapters/webhooks/event-mapping.ts';
import { SENSITIVE_MARKERS, sessionStatusPayload } from '../sandbox/webhook-signer.ts';

const meta = { signature: 'v2' as const, receivedAt: 1_700_000_001 };

describe('detail-types', () => {
  it('maps the nine documented webhook types and nothing else', () => {
    expect(Object.keys(DETAIL_TYPES).sort()).toEqual(
      [
        'activity.created',
        'business.data.updated',
        'business.status.updated',
        'data.updated',
        'status.updated',
        'transaction.created',
        'transaction.status.updated',
        'user.data.updated',
        'user.status.updated',
      ].sort(),
    );
    expect(detailTypeFor('status.updated')).toEqual({ detailType: 'didit.session.status-updated', known: true });
    expect(detailTypeFor('user.status.updated')).toEqual({ detailType: 'didit.user.status-updated', known: true });
    expect(detailTypeFor('toString')).toEqual({ detailType: UNKNOWN_DETAIL_TYPE, known: false });
    expect(detailTypeFor('__proto__')).toEqual({ detailType: UNKNOWN_DETAIL_TYPE, known: false });
  });
});

describe('decision summary (allow-list)', () => {
  it('keeps identifiers, statuses, feature results and risk codes', () => {
    const payload = sessionStatusPayload({ status: 'In Review', timestamp: 1_700_000_000, eventId: 'evt-1', vendorData: 'customer-7' });
    const detail = summarise(payload, meta);
    expect(detail).toEqual({
      schema_version: 1,
      webhook_type: 'status.updated',
      event_id: 'evt-1',
      session_id: payload['session_id'],
      session_kind: 'user',
      status: 'In Review',
      vendor_data: 'customer-7',
      workflow_id: '11111111-2222-4333-8444-555555555555',
      workflow_version: 3,
      environment: 'live',
      timestamp: 1_700_000_000,
      created_at: 1_700_000_000,
      decision: {
        status: 'In Review',
        features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'],
        results: [
          { feature: 'id_verifications', node_id: 'feature_ocr', status: 'In Review', risks: ['POSSIBLE_DUPLICATED_USER'] },
          { feature: 'liveness_checks', node_id: 'feature_liveness', status: 'Approved', risks: [] },
          { feature: 'face_matches', node_id: 'feature_face', status: 'Approved', risks: [] },
        ],
      },
      delivery: { received_at: 1_700_000_001, signature: 'v2', authenticated: 'body', decision_source: 'delivery' },
    });
  });

  it('never carries document numbers, names, addresses, media URLs, metadata or warning texts', () => {
    for (const status of ['Approved', 'Declined', 'In Review', 'Abandoned']) {
      const text = JSON.stringify(summarise(sessionStatusPayload({ status }), meta));
      for (const marker of Object.values(SENSITIVE_MARKERS)) expect(text, `${status}: ${marker}`).not.toContain(marker);
      for (const field of ['document_number', 'personal_number', 'portrait_image', 'front_image', 'video_url', 'metadata', 'long_description', 'address', 'first_name']) {
        expect(text).not.toContain(field);
      }
      expect(text).not.toMatch(/https?:/);
    }
  });

  it('is an allow-list: fields Didit may add anywhere do not reach the event', () => {
    const base = sessionStatusPayload({ status: 'Declined', timestamp: 1_700_000_000 });
    const expected = summarise(base, meta);
    const extended = structuredClone(base) as Record<string, any>;
    extended['new_top_level_pii'] = { passport_scan: 'https://x.invalid/scan.jpg' };
    extended['decision']['new_feature_array'] = [{ status: 'Approved', selfie_url: 'https://x.invalid/s.jpg' }];
    extended['decision']['id_verifications'][0]['mrz'] = 'P<ESPOSTERGARD<<NANDU';
    extended['decision']['face_matches'][0]['warnings'][0]['additional_data'] = { secret_sauce: 1 };
    expect(summarise(extended, meta)).toEqual(expected);
  });

  it('accepts the singular feature objects of older payload versions', () => {
    const detail = summarise(
      {
        webhook_type: 'status.updated',
        session_id: 's',
        status: 'Declined',
        decision: { id_verification: { status: 'Declined', warnings: [{ risk: 'DOCUMENT_EXPIRED' }, { risk: 'lower case not a code' }] }, aml: { status: 'Approved', hits: [{ caption: 'Somebody' }] } },
      },
      meta,
    );
    expect(detail.decision?.results).toEqual([
      { feature: 'id_verifications', status: 'Declined', risks: ['DOCUMENT_EXPIRED'] },
      { feature: 'aml_screenings', status: 'Approved', risks: [] },
    ]);
    expect(JSON.stringify(detail)).not.toContain('Somebody');
  });

  it('drops values of the wrong type or of implausible size', () => {
    const detail = summarise({ webhook_type: 'status.updated', session_id: 42, status: 'x'.repeat(65), vendor_data: { nested: true }, timestamp: '1700000000' }, meta);
    expect(detail).toEqual({ schema_version: 1, webhook_type: 'status.updated', delivery: { received_at: meta.receivedAt, signature: 'v2', authenticated: 'body', decision_source: 'delivery' } });
  });
});

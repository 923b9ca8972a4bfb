/**
 * In-memory stand-ins for the job worker's dependencies (unit tests): a job store with the same conditional
 * semantics as DynamoDB's, a Powertools-like "once" store, a sealer without KMS, a Didit client and a sealed key.
 */
import type { Context } from 'aws-lambda';
import type { DiditClient, DiditRequest, DiditResponse } from '../../lib/didit/client.ts';
import { DiditServerError } from '../../lib/errors/index.ts';
import type { JobDependencies } from '../../lib/adapters/jobs/dependencies.ts';
import type { ResultCrypto, ResultSealer, SealedResult } from '../../lib/adapters/jobs/result-crypto.ts';
import { isTerminal, type CallStart, type JobOutcome, type JobRecord } from '../../lib/adapters/jobs/store.ts';
import type { JobWorkerDependencies } from '../../lib/adapters/jobs/worker.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import type { KeyObserver, KeyUseInfo } from '../../lib/sealed-key/key-scope.ts';
import type { SealedKey } from '../../lib/sealed-key/sealed-key.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';

export const INFO: KeyUseInfo = { kmsKeyId: 'arn:aws:kms:us-east-1:000000000000:key/k', secretVersionId: 'v1', ciphertextFingerprint: 'sha256:0123456789abcdef', kmsLatencyMs: 1, kmsRequestId: 'kms-request-1', afterRefresh: false };

/** A sealed key whose `withKey` counts decrypts and hands out a fresh 32-byte key each time. */
export class FakeSealedKey {
  decrypts = 0;
  readonly keys: SecureBuffer[] = [];
  failWith: Error | undefined;

  async withKey<T>(fn: (key: SecureBuffer) => Promise<T>, options: { abortSignal?: AbortSignal; observer?: KeyObserver } = {}): Promise<T> {
    if (this.failWith !== undefined) {
      options.observer?.decryptFailed?.(this.failWith, 1);
      throw this.failWith;
    }
    this.decrypts++;
    const key = SecureBuffer.alloc(32);
    key.bytes().fill(0x41 + (this.decrypts % 26));
    this.keys.push(key);
    options.observer?.decrypted?.(INFO);
    let failure: unknown;
    try {
      return await fn(key);
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      key.dispose();
      options.observer?.released?.(INFO, failure);
    }
  }
}

export type DiditBehaviour = (request: DiditRequest, key: SecureBuffer) => Promise<DiditResponse> | DiditResponse;

export function diditResponse(json: unknown, status = 200): DiditResponse {
  const body = Buffer.from(JSON.stringify(json));
  return { status, contentType: 'application/json', contentDisposition: undefined, json, body, rateLimit: {}, attempts: 1 };
}

export class FakeDidit {
  readonly calls: DiditRequest[] = [];
  behaviour: DiditBehaviour = () => diditResponse({ aml: { status: 'Approved' } });

  async send(key: SecureBuffer, request: DiditRequest): Promise<DiditResponse> {
    this.calls.push(request);
    return this.behaviour(request, key);
  }

  /** The next `times` calls answer 500. */
  failNext(times: number): void {
    const previous = this.behaviour;
    let left = times;
    this.behaviour = (request, key) => {
      if (left-- > 0) throw new DiditServerError('Didit server error 500', { diditStatus: 500 });
      return previous(request, key);
    };
  }
}

export class MemoryJobStore {
  readonly records = new Map<string, JobRecord>();
  failComplete = 0;

  async create(record: JobRecord): Promise<void> {
    if (this.records.has(record.jobId)) throw new Error('exists');
    this.records.set(record.jobId, { ...record });
  }
  async get(jobId: string): Promise<JobRecord | undefined> {
    const r = this.records.get(jobId);
    return r === undefined ? undefined : { ...r };
  }
  async delete(jobId: string): Promise<void> {
    this.records.delete(jobId);
  }
  async beginCall(jobId: string, now: number): Promise<CallStart> {
    const r = this.records.get(jobId);
    if (r === undefined || isTerminal(r.status)) return { started: false, unresolvedEarlierCall: false };
    const unresolvedEarlierCall = r.callStartedAt !== undefined;
    this.records.set(jobId, { ...r, status: 'running', startedAt: r.startedAt ?? iso(now), attempts: (r.attempts ?? 0) + 1, callStartedAt: now });
    return { started: true, unresolvedEarlierCall };
  }
  async endCall(jobId: string): Promise<void> {
    const r = this.records.get(jobId);
    if (r?.status !== 'running') return;
    const { callStartedAt: _, ...rest } = r;
    this.records.set(jobId, rest);
  }
  async complete(jobId: string, outcome: JobOutcome, now: number): Promise<JobRecord | undefined> {
    if (this.failComplete-- > 0) throw new Error('simulated write failure');
    const r = this.records.get(jobId);
    if (r === undefined || isTerminal(r.status)) return undefined;
    const { callStartedAt: _, ...rest } = r;
    const next: JobRecord = {
      ...rest,
      status: outcome.status,
      completedAt: iso(now),
      updatedAt: iso(now),
      ...(outcome.diditStatus === undefined ? {} : { diditStatus: outcome.diditStatus }),
      ...(outcome.status === 'succeeded' ? { result: outcome.result } : { error: outcome.error }),
    };
    this.records.set(jobId, next);
    return { ...next };
  }
  async markNotified(jobId: string, now: number): Promise<void> {
    const r = this.records.get(jobId);
    if (r !== undefined) this.records.set(jobId, { ...r, notifiedAt: iso(now) });
  }
}

/** Powertools Idempotency's observable behaviour, in memory. */
export class MemoryOnce {
  readonly completed = new Map<string, JobOutcome>();
  readonly inProgress = new Set<string>();
  /** Makes the save of the next completed outcome fail (Powertools' IdempotencyPersistenceLayerError). */
  failSave = 0;

  async run(key: string, _context: Context | undefined, work: () => Promise<JobOutcome>): Promise<{ replayed: boolean; value: JobOutcome }> {
    const done = this.completed.get(key);
    if (done !== undefined) return { replayed: true, value: { ...done } };
    if (this.inProgress.has(key)) throw Object.assign(new Error('in progress'), { name: 'IdempotencyAlreadyInProgressError' });
    this.inProgress.add(key);
    let value: JobOutcome;
    try {
      value = await work();
    } catch (err) {
      this.inProgress.delete(key);
      throw err;
    }
    if (this.failSave-- > 0) throw Object.assign(new Error('save failed'), { name: 'IdempotencyPersistenceLayerError' });
    this.inProgress.delete(key);
    this.completed.set(key, value);
    return { replayed: false, value };
  }
}

/** Seals as base64 JSON (no KMS, no crypto): enough to see what was stored. */
export class FakeSealer {
  readies = 0;
  disposed = false;
  async ready(): Promise<void> {
    this.readies++;
  }
  async seal(jobId: string, value: unknown): Promise<SealedResult> {
    return { v: 1, alg: 'A256GCM', zip: 'gzip', edk: 'edk', iv: jobId, tag: 't', ct: Buffer.from(JSON.stringify(value)).toString('base64') };
  }
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

export function openFake(sealed: SealedResult): unknown {
  return JSON.parse(Buffer.from(sealed.ct, 'base64').toString('utf8'));
}

export interface Fakes {
  store: MemoryJobStore;
  once: MemoryOnce;
  sealers: FakeSealer[];
  published: Array<{ detailType: string; detail: object }>;
  didit: FakeDidit;
  sealedKey: FakeSealedKey;
  deps: JobWorkerDependencies;
}

export function fakes(): Fakes {
  const store = new MemoryJobStore();
  const once = new MemoryOnce();
  const sealers: FakeSealer[] = [];
  const published: Array<{ detailType: string; detail: object }> = [];
  const didit = new FakeDidit();
  const sealedKey = new FakeSealedKey();
  const results = {
    sealer: () => {
      const s = new FakeSealer();
      sealers.push(s);
      return s as unknown as ResultSealer;
    },
    open: async (_jobId: string, sealed: SealedResult) => openFake(sealed),
  } satisfies Pick<ResultCrypto, 'sealer' | 'open'>;
  const jobs: JobDependencies = {
    config: {
      region: 'us-east-1',
      service: 'didit-kms-gateway',
      stage: 'unit',
      jobsTable: 'jobs',
      queueUrl: 'https://sqs.local/q',
      idempotencyTable: 'idem',
      eventBusName: 'bus',
      resultKmsKeyId: 'k',
      ttlSeconds: 3600,
      maxMessageBytes: 256 * 1024,
    },
    store,
    queue: { send: async () => undefined },
    results,
    once: () => once,
    publisher: {
      publish: async (detailType: string, detail: object) => {
        published.push({ detailType, detail });
        return { eventId: `e-${published.length}`, detailType };
      },
    },
    now: Date.now,
  };
  const gateway = {
    config: { region: 'us-east-1', service: 'didit-kms-gateway', stage: 'unit', sealedKeySecretId: 's', kmsKeyId: undefined, ciphertextTtlMs: 0, diditBaseUrl: 'https://x', diditCa: undefined },
    encryptionContext: { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' },
    sealedKey: sealedKey as unknown as SealedKey,
    didit: didit as unknown as DiditClient,
    kmsHandler: {} as GatewayDependencies['kmsHandler'],
  } satisfies GatewayDependencies;
  return { store, once, sealers, published, didit, sealedKey, deps: { jobs, gateway } };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

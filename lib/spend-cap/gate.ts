import { logger, metrics, MetricUnit } from '../observability/telemetry.ts';
import type { OperationSpec } from '../operations/types.ts';
import { SpendCapReachedError } from '../errors/index.ts';
import { isPaidOperation } from './paid.ts';
import { SpendCounter } from './counter.ts';

/** A paid call counted against today's cap; `release()` gives the count back when Didit was never called. */
export interface PaidCallReservation {
  release(): Promise<void>;
}

/**
 * Enforces the daily cap of paid Didit calls. `reserve` runs BEFORE the sealed key is decrypted
 * (lib/runtime/execute-operation.ts, and the job worker before its batch decrypt): a refused call costs
 * one DynamoDB write and nothing else — no KMS Decrypt, no request to Didit.
 */
export interface SpendGate {
  reserve(spec: Pick<OperationSpec, 'name' | 'billing'>, options?: { abortSignal?: AbortSignal }): Promise<PaidCallReservation>;
}

const NOTHING_TO_RELEASE: PaidCallReservation = Object.freeze({ release: async () => {} });

/** No cap configured (the default): every call passes, nothing is counted. */
export const UNCAPPED: SpendGate = Object.freeze({ reserve: async () => NOTHING_TO_RELEASE });

/** Share of the cap at which the alarm fires (serverless.yml SpendCapNearlyReachedAlarm). */
export const ALARM_PERCENT = 80;

export class CappedSpendGate implements SpendGate {
  readonly #counter: SpendCounter;

  constructor(counter: SpendCounter) {
    this.#counter = counter;
  }

  async reserve(spec: Pick<OperationSpec, 'name' | 'billing'>, options: { abortSignal?: AbortSignal } = {}): Promise<PaidCallReservation> {
    if (!isPaidOperation(spec)) return NOTHING_TO_RELEASE;
    let taken: { count: number; day: string };
    try {
      taken = await this.#counter.take(options);
    } catch (err) {
      if (err instanceof SpendCapReachedError) {
        metrics.addMetric('SpendCapReached', MetricUnit.Count, 1);
        metrics.addMetric('SpendCapUsedPercent', MetricUnit.Percent, 100);
        logger.warn('daily cap of paid Didit calls reached; call refused before the key was decrypted', {
          operation: spec.name,
          cap: this.#counter.cap,
          retryAfterSeconds: err.retryAfterSeconds,
        });
      }
      throw err;
    }
    // The alarm's metric: how much of today's cap is used, after this call.
    metrics.addMetric('SpendCapUsedPercent', MetricUnit.Percent, Math.min(100, (taken.count * 100) / this.#counter.cap));
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        await this.#counter.giveBack(taken.day).catch((err: unknown) => {
          logger.warn('could not give back a spend-cap count (the count stays one too high)', {
            operation: spec.name,
            errorName: err instanceof Error ? err.name : undefined,
          });
        });
      },
    };
  }
}

/** The gate a stage's configuration asks for: capped when `dailyPaidCallCap` is set. */
export function createSpendGate(options: {
  readonly cap: number | undefined;
  readonly tableName: string | undefined;
  readonly stage: string;
  readonly region: string;
}): SpendGate {
  if (options.cap === undefined) return UNCAPPED;
  if (options.tableName === undefined) throw new Error('a spend cap needs its counter table');
  // Fail closed: a bundle packaged for a stage without a cap has no DynamoDB SDK (counter.ts); a cap set at run
  // time anyway makes the composition root throw (every call a 500) rather than let paid calls through uncounted.
  if (process.env['DIDIT_SPEND_CAP_PACKAGED'] === '0') throw new Error('DAILY_PAID_CALL_CAP is set but this bundle was packaged with dailyPaidCallCap 0');
  return new CappedSpendGate(new SpendCounter({ region: options.region, tableName: options.tableName, stage: options.stage, cap: options.cap }));
}

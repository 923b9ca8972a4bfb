/**
 * Injected faults: the failures a client must survive (throttling, 5xx, slow answers, dropped
 * connections, broken bodies, chunked framing), queued by tests and consumed by matching requests.
 */
import type { Fault, FaultRule } from './types.ts';

interface QueuedRule {
  fault: Fault;
  remaining: number;
  method?: string;
  pathPrefix?: string;
}

export interface FaultQueue {
  inject(rule: FaultRule): void;
  clear(): void;
  /** The fault for this request, if a rule matches; the first matching rule in queue order wins. */
  take(method: string, path: string): Fault | undefined;
  size(): number;
}

export function createFaultQueue(): FaultQueue {
  let rules: QueuedRule[] = [];
  return {
    inject(rule) {
      const checked = parseFaultRule(rule);
      if (typeof checked === 'string') throw new TypeError(checked);
      const queued: QueuedRule = { fault: checked.fault, remaining: checked.times ?? 1 };
      if (checked.method !== undefined) queued.method = checked.method.toUpperCase();
      if (checked.pathPrefix !== undefined) queued.pathPrefix = checked.pathPrefix;
      rules.push(queued);
    },
    clear() {
      rules = [];
    },
    take(method, path) {
      const index = rules.findIndex(
        (rule) =>
          (rule.method === undefined || rule.method === method.toUpperCase()) &&
          (rule.pathPrefix === undefined || path.startsWith(rule.pathPrefix)),
      );
      if (index === -1) return undefined;
      const rule = rules[index];
      if (rule === undefined) return undefined;
      rule.remaining -= 1;
      if (rule.remaining <= 0) rules.splice(index, 1);
      return rule.fault;
    },
    size() {
      return rules.length;
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/**
 * Check a rule that may come from JSON (the control route) or from a test. Returns the rule with only
 * known properties, or a message saying what is wrong.
 */
export function parseFaultRule(input: unknown): FaultRule | string {
  if (!isRecord(input)) return 'rule must be an object';
  const fault = parseFault(input['fault']);
  if (typeof fault === 'string') return fault;
  const rule: FaultRule = { fault };
  const { times, method, pathPrefix } = input;
  if (times !== undefined) {
    if (!isNonNegativeInteger(times) || times < 1) return 'times must be an integer >= 1';
    rule.times = times;
  }
  if (method !== undefined) {
    if (typeof method !== 'string' || !/^[A-Za-z]+$/.test(method)) return 'method must be an HTTP method';
    rule.method = method;
  }
  if (pathPrefix !== undefined) {
    if (typeof pathPrefix !== 'string' || !pathPrefix.startsWith('/')) return 'pathPrefix must start with /';
    rule.pathPrefix = pathPrefix;
  }
  return rule;
}

function parseFault(input: unknown): Fault | string {
  if (!isRecord(input)) return 'fault must be an object';
  switch (input['kind']) {
    case 'status': {
      const { status, retryAfterSeconds, body } = input;
      if (!isNonNegativeInteger(status) || status < 100 || status > 599) return 'status must be 100-599';
      const fault: Fault = { kind: 'status', status };
      if (retryAfterSeconds !== undefined) {
        if (!isNonNegativeInteger(retryAfterSeconds)) return 'retryAfterSeconds must be an integer >= 0';
        fault.retryAfterSeconds = retryAfterSeconds;
      }
      if (body !== undefined) {
        if (typeof body !== 'string') return 'body must be a string';
        fault.body = body;
      }
      return fault;
    }
    case 'delay': {
      const { ms } = input;
      if (!isNonNegativeInteger(ms) || ms > 10 * 60 * 1000) return 'ms must be an integer 0-600000';
      return { kind: 'delay', ms };
    }
    case 'reset':
    case 'malformed-json':
    case 'chunked':
      return { kind: input['kind'] };
    default:
      return 'fault.kind must be status, delay, reset, malformed-json or chunked';
  }
}

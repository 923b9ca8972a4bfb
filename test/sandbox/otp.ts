/**
 * Email and phone one-time codes (didit-api.md §5.9, §5.10): `POST /v3/email/send/`,
 * `/v3/email/check/`, `/v3/phone/send/`, `/v3/phone/check/`. JSON in and out.
 *
 * Didit's state machine, in memory: a verification is keyed by the address or number, valid 5 minutes
 * from the first send; a send while one is pending answers `Retry` with the same request_id (2 sends
 * at most, then `Retry` with reason `max_sends_reached` and nothing sent); a code allows 3 checks.
 * An approved or spent verification is over: checking it again answers `Expired or Not Found`.
 *
 * Deterministic so tests can steer it:
 * - the code is always the first `code_size` characters of "12345678" ("123456" by default), so
 *   "123456" approves and any other code fails;
 * - email: a domain ending in `undeliverable.example` is Undeliverable (free, verification Declined);
 *   a local part containing "breached" is breached; `mailinator.com` and `disposable.example` are
 *   disposable;
 * - phone: a number ending in 0000 is Blocked (reason `suspicious`); 1111 is VoIP; 2222 is disposable;
 * - an address or number approved before is a duplicate.
 * Flags only decline when the matching `*_action` is DECLINE (default NO_ACTION); otherwise they are
 * information warnings.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { jsonObjectInput } from './json-input.ts';
import type { Reply } from './reply.ts';
import { jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { RouteContext } from './route.ts';
import { areaState } from './route.ts';
import type { Warning } from './sample-identity.ts';
import { ErrorBag, MESSAGES, choiceMessage, dictMessage, isRecord, maxValueMessage, minValueMessage } from './validation.ts';

export const VALID_FOR_MS = 5 * 60 * 1000;
export const MAX_SENDS = 2;
export const MAX_CHECKS = 3;
const CODE_DIGITS = '12345678';
const ACTIONS = ['NO_ACTION', 'DECLINE'];
const CHANNELS = ['whatsapp', 'sms', 'telegram', 'voice', 'rcs', 'viber', 'zalo'];
const PLATFORMS = ['android', 'ios', 'ipados', 'tvos', 'web'];
const DISPOSABLE_DOMAINS = ['mailinator.com', 'disposable.example'];

type Kind = 'email' | 'phone';

interface LifecycleEvent {
  type: string;
  timestamp: string;
  details: Record<string, unknown> | null;
}

interface Verification {
  requestId: string;
  code: string;
  sends: number;
  checks: number;
  firstSentAt: number;
  /** pending: waiting for the code; over: approved, declined at send or out of attempts. */
  state: 'pending' | 'declined' | 'over';
  channel: string | null;
  lifecycle: LifecycleEvent[];
}

interface OtpState {
  verifications: Map<string, Verification>;
  /** Addresses and numbers approved before (duplicate detection). */
  approved: Set<string>;
}

const otp = (ctx: RouteContext, kind: Kind): OtpState =>
  areaState(ctx, `otp-${kind}`, () => ({ verifications: new Map<string, Verification>(), approved: new Set<string>() }));

function live(verification: Verification | undefined, now: number): verification is Verification {
  return verification !== undefined && verification.state !== 'over' && now - verification.firstSentAt < VALID_FOR_MS;
}

function event(type: string, details: Record<string, unknown> | null = null): LifecycleEvent {
  return { type, timestamp: new Date().toISOString(), details };
}

// ---- input helpers ------------------------------------------------------------------------------

/** A nested object field (`options`, `signals`); its fields are checked into their own bag. */
function nested(data: Record<string, unknown>, name: string, errors: ErrorBag): Record<string, unknown> {
  const value = data[name];
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    errors.add(name, dictMessage(value));
    return {};
  }
  return value;
}

function optionalString(data: Record<string, unknown>, name: string, errors: ErrorBag): string | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    errors.add(name, MESSAGES.notString);
    return undefined;
  }
  return value;
}

function optionalChoice(data: Record<string, unknown>, name: string, choices: readonly string[], errors: ErrorBag): string | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !choices.includes(value)) {
    errors.add(name, choiceMessage(value));
    return undefined;
  }
  return value;
}

function optionalBoolean(data: Record<string, unknown>, name: string, errors: ErrorBag): boolean | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    errors.add(name, MESSAGES.notBoolean);
    return undefined;
  }
  return value;
}

function codeSize(options: Record<string, unknown>, errors: ErrorBag): number {
  const value = options['code_size'];
  if (value === undefined || value === null) return 6;
  if (typeof value !== 'number' || !Number.isInteger(value)) errors.add('code_size', MESSAGES.notInteger);
  else if (value < 4) errors.add('code_size', minValueMessage(4));
  else if (value > 8) errors.add('code_size', maxValueMessage(8));
  else return value;
  return 6;
}

function requiredString(data: Record<string, unknown>, name: string, errors: ErrorBag): string | undefined {
  const value = data[name];
  if (value === undefined || value === null) errors.add(name, MESSAGES.required);
  else if (typeof value !== 'string') errors.add(name, MESSAGES.notString);
  else if (value.trim() === '') errors.add(name, MESSAGES.blank);
  else return value;
  return undefined;
}

function requiredEmail(data: Record<string, unknown>, errors: ErrorBag): string | undefined {
  const value = requiredString(data, 'email', errors);
  if (value === undefined) return undefined;
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value) || value.length > 254) {
    errors.add('email', 'Enter a valid email address.');
    return undefined;
  }
  return value.toLowerCase();
}

function requiredPhone(data: Record<string, unknown>, errors: ErrorBag): string | undefined {
  const value = requiredString(data, 'phone_number', errors);
  if (value === undefined) return undefined;
  if (value.length > 20) {
    errors.add('phone_number', 'Ensure this field has no more than 20 characters.');
    return undefined;
  }
  if (!/^\+[1-9]\d{6,14}$/.test(value)) {
    errors.add('phone_number', 'Enter a valid phone number.');
    return undefined;
  }
  return value;
}

/** The 400 body: flat field errors plus the nested objects' errors under their names (DRF nesting). */
function badRequest(errors: ErrorBag, nestedErrors: Record<string, ErrorBag>): Reply {
  const body: Record<string, unknown> = { ...errors.errors };
  for (const [name, bag] of Object.entries(nestedErrors)) if (!bag.empty) body[name] = bag.errors;
  return jsonReply(400, body);
}

const hasErrors = (errors: ErrorBag, nestedErrors: Record<string, ErrorBag>): boolean =>
  !errors.empty || Object.values(nestedErrors).some((bag) => !bag.empty);

// ---- send -----------------------------------------------------------------------------------------

interface SendOutcome {
  requestId: string;
  status: 'Success' | 'Retry' | 'Undeliverable' | 'Blocked';
  reason: string | null;
}

function send(state: OtpState, target: string, size: number, channel: string | null, refusal: { status: 'Undeliverable' | 'Blocked'; reason: string } | null): SendOutcome {
  const now = Date.now();
  const current = state.verifications.get(target);
  if (live(current, now) && current.state === 'pending') {
    if (current.sends >= MAX_SENDS) return { requestId: current.requestId, status: 'Retry', reason: 'max_sends_reached' };
    // A resend mails a new code; the sandbox's code never changes, so the old one is the new one.
    current.sends += 1;
    current.code = CODE_DIGITS.slice(0, size);
    current.lifecycle.push(event('VERIFICATION_CODE_RESENT', channel === null ? null : { channel }));
    return { requestId: current.requestId, status: 'Retry', reason: null };
  }
  const verification: Verification = {
    requestId: randomUUID(),
    code: CODE_DIGITS.slice(0, size),
    sends: 1,
    checks: 0,
    firstSentAt: now,
    state: refusal === null ? 'pending' : 'declined',
    channel,
    lifecycle: [event(refusal === null ? 'VERIFICATION_CODE_SENT' : `VERIFICATION_${refusal.status.toUpperCase()}`, channel === null ? null : { channel })],
  };
  state.verifications.set(target, verification);
  if (refusal !== null) return { requestId: verification.requestId, status: refusal.status, reason: refusal.reason };
  return { requestId: verification.requestId, status: 'Success', reason: null };
}

export function emailSend(body: ParsedBody, ctx: RouteContext): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();
  const optionErrors = new ErrorBag();
  const signalErrors = new ErrorBag();

  const email = requiredEmail(data, errors);
  const options = nested(data, 'options', errors);
  const size = codeSize(options, optionErrors);
  optionalBoolean(options, 'alphanumeric_code', optionErrors);
  optionalString(options, 'locale', optionErrors);
  optionalBoolean(options, 'use_white_label_customization', optionErrors);
  const signals = nested(data, 'signals', errors);
  checkSignals(signals, signalErrors, false);
  const vendorData = optionalString(data, 'vendor_data', errors) ?? null;

  const nestedErrors = { options: optionErrors, signals: signalErrors };
  if (hasErrors(errors, nestedErrors) || email === undefined) return badRequest(errors, nestedErrors);

  const undeliverable = email.endsWith('undeliverable.example');
  const outcome = send(otp(ctx, 'email'), email, size, null, undeliverable ? { status: 'Undeliverable', reason: 'email_can_not_be_delivered' } : null);
  return jsonReply(200, { request_id: outcome.requestId, status: outcome.status, reason: outcome.reason, vendor_data: vendorData });
}

export function phoneSend(body: ParsedBody, ctx: RouteContext): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();
  const optionErrors = new ErrorBag();
  const signalErrors = new ErrorBag();

  const phone = requiredPhone(data, errors);
  const options = nested(data, 'options', errors);
  const size = codeSize(options, optionErrors);
  optionalString(options, 'locale', optionErrors);
  const channel = optionalChoice(options, 'preferred_channel', CHANNELS, optionErrors) ?? 'whatsapp';
  const signals = nested(data, 'signals', errors);
  checkSignals(signals, signalErrors, true);
  const vendorData = optionalString(data, 'vendor_data', errors) ?? null;
  const metadata = data['metadata'] ?? null;
  if (metadata !== null && typeof metadata !== 'string' && !isRecord(metadata)) errors.add('metadata', dictMessage(metadata));

  const nestedErrors = { options: optionErrors, signals: signalErrors };
  if (hasErrors(errors, nestedErrors) || phone === undefined) return badRequest(errors, nestedErrors);

  const blocked = phone.endsWith('0000');
  const outcome = send(otp(ctx, 'phone'), phone, size, channel, blocked ? { status: 'Blocked', reason: 'suspicious' } : null);
  return jsonReply(200, { request_id: outcome.requestId, status: outcome.status, reason: outcome.reason, vendor_data: vendorData, metadata });
}

function checkSignals(signals: Record<string, unknown>, errors: ErrorBag, phone: boolean): void {
  const ip = optionalString(signals, 'ip', errors);
  if (ip !== undefined && isIP(ip) === 0) errors.add('ip', 'Enter a valid IPv4 or IPv6 address.');
  optionalString(signals, 'device_id', errors);
  optionalString(signals, 'user_agent', errors);
  if (phone) {
    optionalChoice(signals, 'device_platform', PLATFORMS, errors);
    for (const name of ['device_model', 'os_version', 'app_version']) optionalString(signals, name, errors);
  }
}

// ---- check ----------------------------------------------------------------------------------------

interface Flag {
  applies: boolean;
  action: string;
  risk: string;
  description: string;
}

interface CheckResult {
  status: 'Approved' | 'Failed' | 'Declined' | 'Expired or Not Found';
  message: string;
  verification: Verification | undefined;
  warnings: Warning[];
}

function check(state: OtpState, target: string, code: string, flags: Flag[], feature: string): CheckResult {
  const verification = state.verifications.get(target);
  if (!live(verification, Date.now())) {
    return { status: 'Expired or Not Found', message: 'No pending verification was found, or it has expired.', verification: undefined, warnings: [] };
  }
  if (verification.state === 'declined') {
    return { status: 'Declined', message: 'The verification was declined when the code was sent.', verification, warnings: [] };
  }
  verification.checks += 1;
  if (code !== verification.code) {
    const left = MAX_CHECKS - verification.checks;
    verification.lifecycle.push(event('VERIFICATION_FAILED_ATTEMPT', { attempts_left: left }));
    if (left <= 0) verification.state = 'over';
    return { status: 'Failed', message: left > 0 ? `Invalid code. ${left} attempt(s) left.` : 'Invalid code. No attempts left.', verification, warnings: [] };
  }
  const warnings: Warning[] = flags
    .filter((flag) => flag.applies)
    .map((flag) => ({
      risk: flag.risk,
      log_type: flag.action === 'DECLINE' ? 'error' : 'information',
      short_description: flag.description,
      long_description: `${flag.description}.`,
      feature,
      additional_data: null,
    }));
  const declined = warnings.some((w) => w.log_type === 'error');
  verification.state = 'over';
  verification.lifecycle.push(event(declined ? 'VERIFICATION_DECLINED' : 'VERIFICATION_APPROVED'));
  if (!declined) state.approved.add(target);
  return declined
    ? { status: 'Declined', message: 'The code is correct but the verification was declined by policy.', verification, warnings }
    : { status: 'Approved', message: 'The code is correct.', verification, warnings };
}

function readActions(data: Record<string, unknown>, names: readonly string[], errors: ErrorBag): Record<string, string> {
  const actions: Record<string, string> = {};
  for (const name of names) actions[name] = optionalChoice(data, name, ACTIONS, errors) ?? 'NO_ACTION';
  return actions;
}

const EMAIL_ACTIONS = ['duplicated_email_action', 'breached_email_action', 'disposable_email_action', 'undeliverable_email_action'];

export function emailCheck(body: ParsedBody, ctx: RouteContext): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();
  const email = requiredEmail(data, errors);
  const code = requiredString(data, 'code', errors);
  const actions = readActions(data, EMAIL_ACTIONS, errors);
  if (!errors.empty || email === undefined || code === undefined) return jsonReply(400, errors.errors);

  const state = otp(ctx, 'email');
  const domain = email.split('@')[1] ?? '';
  const breached = email.split('@')[0]?.includes('breached') ?? false;
  const disposable = DISPOSABLE_DOMAINS.includes(domain);
  const undeliverable = domain.endsWith('undeliverable.example');
  const duplicated = state.approved.has(email);
  const result = check(
    state,
    email,
    code,
    [
      { applies: duplicated, action: actions['duplicated_email_action']!, risk: 'DUPLICATED_EMAIL', description: 'Email already verified in another session' },
      { applies: breached, action: actions['breached_email_action']!, risk: 'BREACHED_EMAIL_DETECTED', description: 'Email found in data breaches' },
      { applies: disposable, action: actions['disposable_email_action']!, risk: 'DISPOSABLE_EMAIL_DETECTED', description: 'Disposable email address' },
      { applies: undeliverable, action: actions['undeliverable_email_action']!, risk: 'UNDELIVERABLE_EMAIL_DETECTED', description: 'Undeliverable email address' },
    ],
    'EMAIL',
  );
  const v = result.verification;
  return jsonReply(200, {
    request_id: v?.requestId ?? null,
    status: result.status,
    message: result.message,
    email:
      v === undefined
        ? null
        : {
            status: result.status,
            email,
            is_breached: breached,
            breaches: breached ? [{ name: 'SandboxBreach', domain: 'sandbox.example', breach_date: '2020-01-01', data_classes: ['Email addresses', 'Passwords'] }] : [],
            is_disposable: disposable,
            is_undeliverable: undeliverable,
            verification_attempts: v.checks,
            verified_at: result.status === 'Approved' ? new Date().toISOString() : null,
            warnings: result.warnings,
            lifecycle: v.lifecycle,
          },
    created_at: new Date().toISOString(),
  });
}

const PHONE_ACTIONS = ['duplicated_phone_number_action', 'disposable_number_action', 'voip_number_action'];

/** Enough calling codes for the sandbox's answers; others report an unknown country. */
const CALLING_CODES: Record<string, [string, string]> = {
  '1': ['US', 'United States'],
  '33': ['FR', 'France'],
  '34': ['ES', 'Spain'],
  '44': ['GB', 'United Kingdom'],
  '49': ['DE', 'Germany'],
  '52': ['MX', 'Mexico'],
  '54': ['AR', 'Argentina'],
  '55': ['BR', 'Brazil'],
  '57': ['CO', 'Colombia'],
  '351': ['PT', 'Portugal'],
};

function splitNumber(full: string): { prefix: string; national: string; country: [string, string] | [null, null] } {
  const digits = full.slice(1);
  for (const length of [3, 2, 1]) {
    const country = CALLING_CODES[digits.slice(0, length)];
    if (country !== undefined) return { prefix: `+${digits.slice(0, length)}`, national: digits.slice(length), country };
  }
  return { prefix: `+${digits.slice(0, 2)}`, national: digits.slice(2), country: [null, null] };
}

export function phoneCheck(body: ParsedBody, ctx: RouteContext): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();
  const phone = requiredPhone(data, errors);
  const code = requiredString(data, 'code', errors);
  const actions = readActions(data, PHONE_ACTIONS, errors);
  if (!errors.empty || phone === undefined || code === undefined) return jsonReply(400, errors.errors);

  const state = otp(ctx, 'phone');
  const voip = phone.endsWith('1111');
  const disposable = phone.endsWith('2222');
  const duplicated = state.approved.has(phone);
  const result = check(
    state,
    phone,
    code,
    [
      { applies: duplicated, action: actions['duplicated_phone_number_action']!, risk: 'DUPLICATED_PHONE_NUMBER', description: 'Phone number already verified in another session' },
      { applies: disposable, action: actions['disposable_number_action']!, risk: 'DISPOSABLE_NUMBER_DETECTED', description: 'Disposable phone number' },
      { applies: voip, action: actions['voip_number_action']!, risk: 'VOIP_NUMBER_DETECTED', description: 'VoIP phone number' },
    ],
    'PHONE',
  );
  const v = result.verification;
  const { prefix, national, country } = splitNumber(phone);
  return jsonReply(200, {
    request_id: v?.requestId ?? null,
    status: result.status,
    message: result.message,
    phone:
      v === undefined
        ? null
        : {
            status: result.status,
            phone_number_prefix: prefix,
            phone_number: national,
            full_number: phone,
            country_code: country[0],
            country_name: country[1],
            carrier: { name: voip ? 'Sandbox VoIP' : 'Sandbox Mobile', type: voip ? 'voip' : 'mobile' },
            is_disposable: disposable,
            is_virtual: voip,
            verification_method: v.channel,
            verification_attempts: v.checks,
            verified_at: result.status === 'Approved' ? new Date().toISOString() : null,
            warnings: result.warnings,
            lifecycle: v.lifecycle,
          },
    created_at: new Date().toISOString(),
  });
}

// `* as z`, never `{ z }`: esbuild tree-shakes a namespace import, but the `z` export is one object holding
// all of zod (every locale, JSON Schema, ...), which took zod's share of a function bundle from 85 to 460 KiB.
import * as z from 'zod';
import { sniffFileType } from './file-types.ts';

// Reusable field formats, each as Didit documents it (didit-api.md section in the comment).

export const uuid = z.uuid({ message: 'must be a UUID' });

/** YYYY-MM-DD, a real calendar date. */
export const isoDate = z.iso.date({ message: 'must be a date as YYYY-MM-DD' });

export const alpha2 = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code (e.g. ES)');
export const alpha3 = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 3166-1 alpha-3 code (e.g. ESP)');

/** E.164: +, country code, up to 15 digits (§5.10 caps the field at 20 characters). */
export const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be a phone number in E.164 form (e.g. +34600000000)');

export const score = z.number().int('must be an integer').min(0).max(100);

/** Multipart text fields arrive as strings: booleans as "true"/"false". */
export const boolText = z.enum(['true', 'false'], { message: 'must be "true" or "false"' });

export const intText = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .refine((v) => Number(v) >= min && Number(v) <= max, `must be between ${min} and ${max}`);

export const declineAction = z.enum(['DECLINE', 'NO_ACTION']);

/** Free text we pass through: bounded, and without control characters. */
export const text = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !hasControlCharacter(v), 'must not contain control characters');

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export const MB = 1024 * 1024;

/** Formats Didit accepts for document images (§5.1); PDF where the endpoint allows it. */
export const IMAGE_TYPES = ['jpeg', 'png', 'webp', 'tiff'] as const;
export const DOCUMENT_TYPES = ['jpeg', 'png', 'webp', 'tiff', 'pdf'] as const;

/** Base64 text of at most `maxBytes` decoded bytes that is an image (§3.1 portrait_image). */
export const base64Image = (maxBytes: number) =>
  z
    .string()
    .max(Math.ceil(maxBytes / 3) * 4 + 4, `must be at most ${maxBytes / MB} MB once decoded`)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
    .refine((v) => {
      const kind = sniffFileType(Buffer.from(v.slice(0, 24), 'base64'));
      return kind === 'jpeg' || kind === 'png' || kind === 'webp' || kind === 'tiff';
    }, 'must be a JPEG, PNG, WebP or TIFF image');


// ---- standalone APIs (§5) ---------------------------------------------------------------------

/**
 * A country as ISO 3166-1 alpha-2 or alpha-3, where Didit does not say which (§5.7 PoA
 * `expected_country`, whose example answers use alpha-2 while sessions use alpha-3).
 */
export const alpha2or3 = z.string().regex(/^[A-Z]{2,3}$/, 'must be an ISO 3166-1 alpha-2 or alpha-3 code (e.g. ES or ESP)');

export const ipAddress = z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' });

/** RFC 5321 caps an address at 254 characters; longer cannot be delivered, so never worth a call. */
export const email = z.email({ message: 'must be an email address' }).max(254, 'must be at most 254 characters');

/** Language of a message or UI, e.g. `en`, `pt-BR` (§5.9 `options.locale`). */
export const locale = z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'must be a language code (e.g. en, pt-BR)');

/**
 * A one-time code as the caller typed it: 4–8 letters or digits (§5.9: `code_size` 4–8, optionally
 * alphanumeric). Checked before the call because every wrong check burns one of the 3 attempts.
 */
export const otpCode = z.string().regex(/^[A-Za-z0-9]{4,8}$/, 'must be 4 to 8 letters or digits');

/** Phone codes have no alphanumeric option (§5.10): a letter is a typo that would burn an attempt. */
export const numericOtpCode = z.string().regex(/^\d{4,8}$/, 'must be 4 to 8 digits');

/** Free-form caller data echoed back by Didit: an object or a (JSON) string. */
export const metadata = z.union([z.record(z.string(), z.unknown()), z.string().max(4096)], {
  message: 'must be an object or a string of at most 4096 characters',
});

/**
 * PoA document age limits (§5.7): comma-separated `type:months`, e.g. `utility_bill:3,bank_statement:3`.
 * Types are Didit's snake_case names (not all documented), so any snake_case name is accepted; each at most once.
 */
export const poaDocumentAgeMonths = z
  .string()
  .max(512, 'must be at most 512 characters')
  .superRefine((v, ctx) => {
    // One message per problem: the pair checks only make sense once the shape is right.
    if (!/^[a-z][a-z_]{1,63}:\d{1,3}(,[a-z][a-z_]{1,63}:\d{1,3})*$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'must be type:months pairs separated by commas (e.g. utility_bill:3,bank_statement:3)' });
      return;
    }
    const pairs = v.split(',').map((pair) => pair.split(':'));
    if (new Set(pairs.map(([type]) => type)).size !== pairs.length) ctx.addIssue({ code: 'custom', message: 'must name each document type once' });
    if (pairs.some(([, months]) => Number(months) < 1)) ctx.addIssue({ code: 'custom', message: 'months must be at least 1' });
  });

/**
 * Languages a PoA document may be in (§5.7 `poa_languages_allowed`): Didit documents only "string";
 * language codes separated by commas (e.g. `en,es`), checked loosely so no form Didit takes is refused.
 */
export const languageList = z
  .string()
  .max(256, 'must be at most 256 characters')
  .regex(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?( ?, ?[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?)*$/, 'must be language codes separated by commas (e.g. en,es)');

import { z } from 'zod';
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


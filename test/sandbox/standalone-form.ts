/**
 * The multipart front door shared by the standalone image and document endpoints
 * (didit-api.md §5.2–§5.5, §5.7): the same checks `id-verification.ts` makes, parameterised by the
 * endpoint's file fields, limits and text fields, with DRF-style messages.
 *
 * Field readers record a problem in `errors` and return undefined, so an endpoint reads every field
 * and then answers all problems at once, as DRF does.
 */
import { sniffDocumentFormat, type DocumentFormat } from './id-verification.ts';
import type { Reply } from './reply.ts';
import { detailReply } from './reply.ts';
import type { ParsedBody, UploadedFile } from './request-body.ts';
import { ErrorBag, MESSAGES, choiceMessage, maxValueMessage, minValueMessage } from './validation.ts';

export const MB = 1024 * 1024;
export const IMAGE_FORMATS: readonly DocumentFormat[] = ['jpeg', 'png', 'webp', 'tiff'];
export const DOCUMENT_FORMATS: readonly DocumentFormat[] = ['jpeg', 'png', 'webp', 'tiff', 'pdf'];

export interface FileField {
  readonly required: boolean;
  readonly maxBytes: number;
  readonly formats: readonly DocumentFormat[];
}

export interface FormSpec {
  readonly files: Readonly<Record<string, FileField>>;
  readonly text: readonly string[];
}

/** An accepted upload: what the sandbox keeps of it, plus its sniffed format. */
export interface FormFile {
  readonly upload: UploadedFile;
  readonly format: DocumentFormat;
}

export interface StandaloneForm {
  readonly errors: ErrorBag;
  /** Accepted files by field; a field with a problem is absent (and has an error). */
  readonly files: ReadonlyMap<string, FormFile>;
  text(name: string): string | undefined;
  boolean(name: string): boolean | undefined;
  integer(name: string, min: number, max: number): number | undefined;
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined;
}

const FORMAT_NAMES: Record<DocumentFormat, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', tiff: 'TIFF', pdf: 'PDF' };

export function openForm(body: ParsedBody, spec: FormSpec): { ok: true; form: StandaloneForm } | { ok: false; reply: Reply } {
  if (body.kind === 'invalid-multipart') return { ok: false, reply: detailReply(400, `Multipart form parse error - ${body.message}`) };
  if (body.kind !== 'multipart') {
    const mediaType = body.kind === 'other' ? body.mediaType : body.kind === 'empty' ? 'none' : 'application/json';
    return { ok: false, reply: detailReply(400, `Unsupported media type "${mediaType}" in request. Send multipart/form-data.`) };
  }

  const errors = new ErrorBag();
  const { fields, files } = body;
  const fileNames = Object.keys(spec.files);
  const known = (name: string): boolean => spec.text.includes(name) || fileNames.includes(name);
  for (const name of fields.keys()) if (!known(name)) errors.add(name, MESSAGES.unknownField);
  for (const name of files.keys()) if (!known(name)) errors.add(name, MESSAGES.unknownField);
  for (const name of body.truncatedFields) errors.add(name, 'Ensure this field has no more than 1048576 characters.');

  const accepted = new Map<string, FormFile>();
  for (const [name, rule] of Object.entries(spec.files)) {
    if (fields.has(name)) {
      errors.add(name, MESSAGES.notAFile);
      continue;
    }
    const uploads = files.get(name);
    if (uploads === undefined) {
      if (rule.required) errors.add(name, MESSAGES.noFile);
      continue;
    }
    const checked = checkFile(uploads, rule);
    if (typeof checked === 'string') errors.add(name, checked);
    else accepted.set(name, checked);
  }

  const text = (name: string): string | undefined => {
    if (files.has(name)) {
      errors.add(name, MESSAGES.notString);
      return undefined;
    }
    const values = fields.get(name);
    if (values === undefined) return undefined;
    if (values.length > 1) {
      errors.add(name, 'Multiple values were submitted for this field.');
      return undefined;
    }
    return values[0];
  };

  const form: StandaloneForm = {
    errors,
    files: accepted,
    text,
    boolean(name) {
      const value = text(name);
      if (value === undefined) return undefined;
      // DRF's BooleanField also takes 1/0 and capitalised forms.
      if (['true', 'True', '1'].includes(value)) return true;
      if (['false', 'False', '0'].includes(value)) return false;
      errors.add(name, MESSAGES.notBoolean);
      return undefined;
    },
    integer(name, min, max) {
      const value = text(name);
      if (value === undefined) return undefined;
      if (!/^-?\d{1,9}$/.test(value)) {
        errors.add(name, MESSAGES.notInteger);
        return undefined;
      }
      const n = Number(value);
      if (n < min) errors.add(name, minValueMessage(min));
      else if (n > max) errors.add(name, maxValueMessage(max));
      else return n;
      return undefined;
    },
    choice(name, choices) {
      const value = text(name);
      if (value === undefined) return undefined;
      if ((choices as readonly string[]).includes(value)) return value as (typeof choices)[number];
      errors.add(name, choiceMessage(value));
      return undefined;
    },
  };
  return { ok: true, form };
}

function checkFile(uploads: UploadedFile[], rule: FileField): FormFile | string {
  if (uploads.length > 1) return 'Multiple files were submitted for this field.';
  const upload = uploads[0];
  if (upload === undefined) return MESSAGES.noFile;
  if (upload.bytes === 0) return MESSAGES.emptyFile;
  if (upload.bytes > rule.maxBytes) return `File size exceeds the maximum allowed size of ${rule.maxBytes / MB} MB.`;
  const format = sniffDocumentFormat(upload.head);
  if (format === null || !rule.formats.includes(format)) {
    return `Unsupported file format. Allowed formats: ${rule.formats.map((f) => FORMAT_NAMES[f]).join(', ')}.`;
  }
  return { upload, format };
}

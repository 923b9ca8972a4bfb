/** Document and image formats Didit accepts, recognised by their first bytes, never by name or header. */
export type FileType = 'jpeg' | 'png' | 'webp' | 'tiff' | 'pdf';

export const MIME: Readonly<Record<FileType, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  tiff: 'image/tiff',
  pdf: 'application/pdf',
};

export function sniffFileType(bytes: Uint8Array): FileType | undefined {
  const at = (i: number): number => bytes[i] ?? -1;
  const ascii = (from: number, text: string): boolean =>
    [...text].every((c, i) => at(from + i) === c.charCodeAt(0));
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  if (at(0) === 0x89 && ascii(1, 'PNG\r\n\x1a\n')) return 'png';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if ((ascii(0, 'II') && at(2) === 0x2a && at(3) === 0) || (ascii(0, 'MM') && at(2) === 0 && at(3) === 0x2a)) return 'tiff';
  if (ascii(0, '%PDF-')) return 'pdf';
  return undefined;
}

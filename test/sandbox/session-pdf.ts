/**
 * The PDF report of `GET /v3/session/{id}/generate-pdf/` (didit-api.md §3.7): a small but valid
 * PDF 1.4 (one page, correct cross-reference offsets) so clients and viewers can open what the
 * gateway passes through. It names the session and its status; nothing else.
 */
import type { StoredSession } from './sessions.ts';

export function sessionPdf(session: StoredSession, now: Date = new Date()): Buffer {
  const lines = [
    'Didit verification report (sandbox)',
    `Session: ${session.sessionId}`,
    `Session number: ${session.sessionNumber}`,
    `Status: ${session.status}`,
    `Created: ${session.createdAt.toISOString()}`,
    `Generated: ${now.toISOString()}`,
  ];
  const text = lines.map((line, i) => `BT /F1 ${i === 0 ? 16 : 11} Tf 56 ${780 - i * 22} Td (${escapePdfText(line)}) Tj ET`).join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Length ${Buffer.byteLength(text, 'latin1')} >>\nstream\n${text}\nendstream`,
    `<< /Title (${escapePdfText(`Session ${session.sessionId}`)}) /Producer (didit sandbox) >>`,
  ];

  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xrefAt = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** PDF literal strings: backslash, parentheses and anything outside printable ASCII are escaped. */
function escapePdfText(value: string): string {
  return value.replace(/[\\()]/g, (c) => `\\${c}`).replace(/[^\x20-\x7e]/g, '?');
}

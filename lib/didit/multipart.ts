import { randomBytes } from 'node:crypto';

export interface MultipartFile {
  readonly filename: string;
  readonly contentType: string;
  readonly data: Uint8Array;
}

export type MultipartValue = string | MultipartFile;

export interface MultipartBody {
  readonly contentType: string;
  /** The body as a list of pieces: file bytes are referenced, not copied into one big buffer. */
  readonly pieces: readonly Uint8Array[];
  readonly length: number;
}

/**
 * Encodes multipart/form-data (RFC 7578). Files are written as they are (one reference each), so a
 * 5 MB image is not copied again on its way to the socket.
 */
export function encodeMultipart(fields: ReadonlyArray<readonly [string, MultipartValue]>): MultipartBody {
  const boundary = `----didit-kms-gateway-${randomBytes(12).toString('hex')}`;
  const pieces: Uint8Array[] = [];
  let length = 0;
  const push = (piece: Uint8Array): void => {
    pieces.push(piece);
    length += piece.byteLength;
  };
  for (const [name, value] of fields) {
    let header = `--${boundary}\r\ncontent-disposition: form-data; name="${quote(name)}"`;
    if (typeof value === 'string') {
      push(Buffer.from(`${header}\r\n\r\n`, 'utf8'));
      push(Buffer.from(value, 'utf8'));
    } else {
      header += `; filename="${quote(value.filename)}"\r\ncontent-type: ${value.contentType}\r\n\r\n`;
      push(Buffer.from(header, 'utf8'));
      push(value.data);
    }
    push(CRLF);
  }
  push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  return { contentType: `multipart/form-data; boundary=${boundary}`, pieces, length };
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** Field and file names come from our own table or are sanitised upstream; escape anyway. */
function quote(value: string): string {
  return value.replace(/[\r\n"\\]/g, (c) => encodeURIComponent(c));
}

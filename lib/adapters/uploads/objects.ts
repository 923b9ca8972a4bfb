import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { ObjectTooLargeError } from './errors.ts';
import { awsClientConfig } from '../../config/aws-clients.ts';

/** One object as HeadObject describes it: what the trigger checks before reading a single byte. */
export interface ObjectHead {
  readonly size: number;
  /** Quoted, as S3 returns it; passed back as If-Match so the bytes read are the bytes checked. */
  readonly etag: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The intake bucket as the trigger uses it: sizes first (HeadObject), then bounded reads, then deletion of a
 * whole upload. S3 errors other than "not found" are passed on (the trigger retries them).
 */
export class IntakeObjects {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(options: { s3: S3Client; bucket: string }) {
    this.#s3 = options.s3;
    this.#bucket = options.bucket;
  }

  get bucket(): string {
    return this.#bucket;
  }

  /** HeadObject; undefined when there is no such object. */
  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | undefined> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }), { abortSignal: signal });
      return { size: out.ContentLength ?? 0, etag: out.ETag, metadata: out.Metadata ?? {} };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Reads at most `maxBytes` (a Range request for one byte more, and a counting loop in case the server
   * ignores the range); throws {@link ObjectTooLargeError} past that. Undefined when the object is gone.
   */
  async read(
    key: string,
    options: { maxBytes: number; ifMatch?: string | undefined; versionId?: string | undefined; signal?: AbortSignal },
  ): Promise<{ bytes: Buffer; etag: string | undefined } | undefined> {
    let out: GetObjectCommandOutput;
    try {
      out = await this.#s3.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          VersionId: options.versionId,
          IfMatch: options.ifMatch,
          Range: `bytes=0-${options.maxBytes}`,
        }),
        { abortSignal: options.signal },
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const body = out.Body;
    if (body === undefined) return { bytes: Buffer.alloc(0), etag: out.ETag };
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > options.maxBytes) throw new ObjectTooLargeError(`object exceeds ${options.maxBytes} bytes`);
        chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      }
    } catch (err) {
      for (const chunk of chunks) chunk.fill(0);
      destroy(body);
      throw err;
    }
    const bytes = Buffer.concat(chunks, size);
    for (const chunk of chunks) chunk.fill(0);
    return { bytes, etag: out.ETag };
  }

  /** Deletes every object under the upload's prefix (files, manifest, anything else put there). */
  async deletePrefix(prefix: string, signal?: AbortSignal): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.#s3.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
        { abortSignal: signal },
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length > 0) {
        const out = await this.#s3.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: keys, Quiet: true } }), { abortSignal: signal });
        if ((out.Errors?.length ?? 0) > 0) throw new Error(`S3 refused to delete ${out.Errors?.length} object(s) (${out.Errors?.[0]?.Code ?? 'unknown'})`);
        deleted += keys.length;
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return deleted;
  }
}

/**
 * The S3 client of the upload functions. Checksums only where S3 requires them: a presigned PUT must not
 * carry an SDK checksum of an empty body, and reads are bounded by us, not by a whole-object checksum.
 */
export function createS3Client(options: { region: string; forcePathStyle: boolean }): S3Client {
  return new S3Client({
    ...awsClientConfig(options.region),
    forcePathStyle: options.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

function destroy(body: unknown): void {
  const stream = body as { destroy?: () => void };
  if (typeof stream.destroy === 'function') stream.destroy();
}

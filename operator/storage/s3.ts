// Destination over S3 and S3-compatible stores (@aws-sdk/client-s3 + lib-storage).
//
// - Never overwrites: every put sends If-None-Match: * (PutObject, and CompleteMultipartUpload through
//   lib-storage, which forwards its params there). A 412 means the key exists; if that object has our
//   size and SHA-256 it is our own earlier attempt (a retry after a lost response) and counts as done,
//   otherwise ObjectExistsError.
// - Checksums: the whole-object SHA-256 is sent as metadata `gochive-sha256` (base64). Small bodies go
//   in one PutObject with x-amz-checksum-sha256 = that SHA-256, so the store rejects a damaged body.
//   Big bodies go multipart with ChecksumAlgorithm SHA256: each part is checked by the store, and the
//   stream is hashed as it is read — if it does not match the declared SHA-256 the stream fails before
//   the last part, so CompleteMultipartUpload is never sent. After upload, HeadObject (ChecksumMode
//   ENABLED) must show the size, the metadata SHA-256 and — where the store reports one — the
//   checksum (full-object, or composite `<sha256 of part digests>-<parts>`).
// - Stalls: a socket idle for `stallTimeoutMs` fails the request; failures that are transient are
//   retried with exponential back-off and jitter (see retry.ts).
// - Configuration follows every AWS tool: region from config or AWS_REGION / AWS_DEFAULT_REGION /
//   profile; endpoint from config or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (read by the SDK itself);
//   credentials explicit or from the default chain (env, profile, web identity/IRSA, IMDS).
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3DestinationConfig } from '../archiver/config.js';
import type { Logger } from '../util/logger.js';
import { redactSecrets } from '../util/redact.js';
import { GOCHIVE_VERSION } from '../version.js';
import {
  ObjectExistsError,
  type Destination,
  type FolderEntry,
  type HeadResult,
  type ObjectInfo,
  type PutOptions,
} from './destination.js';
import { StorageError } from './errors.js';
import { httpStatus, isTransient, withRetry, type RetryOptions } from './retry.js';

export const SHA256_METADATA = 'gochive-sha256';

export interface S3DestinationOptions {
  logger?: Logger;
  retry?: RetryOptions;
  /** Multipart part size (≥ 5 MiB; default 8 MiB). Bodies up to this size go in one PutObject. */
  partSize?: number;
  /** Parallel part uploads (default 4). Memory ≈ partSize × (queueSize + 1). */
  queueSize?: number;
  /** A socket idle this long fails the request (default 60 s). */
  stallTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (default: the store's, 1000 on AWS). */
  listPageSize?: number;
}

const MIB = 1024 * 1024;

interface HeadDetails extends HeadResult {
  checksumSha256?: string;
}

export class S3Destination implements Destination {
  readonly description: string;
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly retry: RetryOptions;
  private readonly secrets: (string | undefined)[];

  constructor(
    private readonly cfg: S3DestinationConfig,
    private readonly opts: S3DestinationOptions = {},
  ) {
    if (!cfg.bucket)
      throw new StorageError(
        'InvalidKey',
        'S3 bucket name is empty: set s3.bucket (or --bucket s3://BUCKET/prefix/)',
      );
    this.description = `s3://${cfg.bucket}/${cfg.prefix}`;
    this.partSize = Math.max(5 * MIB, opts.partSize ?? 8 * MIB);
    this.queueSize = opts.queueSize ?? 4;
    this.secrets = [
      cfg.credentials?.secretAccessKey,
      cfg.credentials?.sessionToken,
      process.env.AWS_SECRET_ACCESS_KEY,
      process.env.AWS_SESSION_TOKEN,
    ];
    this.retry = {
      ...opts.retry,
      onRetry: (err, attempt, delayMs) => {
        opts.logger?.warn(
          { bucket: cfg.bucket, attempt, delayMs, err: this.describe(err) },
          'S3 request failed; retrying',
        );
        opts.retry?.onRetry?.(err, attempt, delayMs);
      },
    };
    const endpointFromEnv = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const region =
      cfg.region ??
      process.env.AWS_REGION ??
      process.env.AWS_DEFAULT_REGION ??
      (cfg.endpoint || endpointFromEnv ? 'us-east-1' : undefined);
    const config: S3ClientConfig = {
      // Custom endpoints (MinIO, Ceph, versitygw…) nearly all need path-style addressing.
      forcePathStyle: cfg.forcePathStyle ?? Boolean(cfg.endpoint || endpointFromEnv),
      // One attempt per SDK call: withRetry (retry.ts) is the only retry layer, around whole operations
      // (including streamed bodies), so attempts do not multiply.
      maxAttempts: 1,
      customUserAgent: `gochive/${GOCHIVE_VERSION}`,
      // Options for the SDK's NodeHttpHandler: a socket idle this long fails the request (stall).
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 10_000,
        socketTimeout: opts.stallTimeoutMs ?? 60_000,
      },
    };
    if (region) config.region = region;
    if (cfg.endpoint) config.endpoint = cfg.endpoint;
    if (cfg.credentials) config.credentials = { ...cfg.credentials };
    this.client = new S3Client(config);
  }

  async putObject(key: string, body: () => Readable, opts: PutOptions): Promise<void> {
    try {
      await withRetry(async () => {
        try {
          if (opts.contentLength <= this.partSize) await this.putSingle(key, body(), opts);
          else await this.putMultipart(key, body(), opts);
        } catch (err) {
          if (httpStatus(err) === 412 || (err as Error).name === 'PreconditionFailed') {
            if (await this.isSameObject(key, opts)) return; // our own earlier attempt landed
            throw new ObjectExistsError(key);
          }
          throw err;
        }
      }, this.retry);
    } catch (err) {
      throw this.translate(err, key);
    }
    await this.verifyUploaded(key, opts);
  }

  private metadata(opts: PutOptions): Record<string, string> {
    return { ...opts.metadata, [SHA256_METADATA]: opts.sha256Base64 };
  }

  private commonParams(key: string, opts: PutOptions): Omit<PutObjectCommandInput, 'Body'> {
    const p: Omit<PutObjectCommandInput, 'Body'> = {
      Bucket: this.cfg.bucket,
      Key: key,
      IfNoneMatch: '*',
      Metadata: this.metadata(opts),
      ContentType: opts.contentType ?? 'application/octet-stream',
    };
    if (this.cfg.storageClass) p.StorageClass = this.cfg.storageClass as StorageClass;
    if (this.cfg.sse) {
      p.ServerSideEncryption = this.cfg.sse.type;
      if (this.cfg.sse.type === 'aws:kms' && this.cfg.sse.kmsKeyId) p.SSEKMSKeyId = this.cfg.sse.kmsKeyId;
    }
    return p;
  }

  /** One PutObject; the body (≤ partSize) is buffered so the SDK can resend it. */
  private async putSingle(key: string, body: Readable, opts: PutOptions): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
    const buf = Buffer.concat(chunks);
    checkBody(buf.length, createHash('sha256').update(buf).digest('base64'), opts, key);
    await this.client.send(
      new PutObjectCommand({
        ...this.commonParams(key, opts),
        Body: buf,
        ContentLength: buf.length,
        ChecksumSHA256: opts.sha256Base64,
      }),
    );
  }

  private async putMultipart(key: string, body: Readable, opts: PutOptions): Promise<void> {
    const tap = new PartHashTap(this.partSize, opts, key);
    const source = body.pipe(tap);
    body.once('error', (err) => tap.destroy(err));
    const upload = new Upload({
      client: this.client,
      partSize: this.partSize,
      queueSize: this.queueSize,
      params: {
        ...this.commonParams(key, opts),
        Body: source,
        ContentLength: opts.contentLength,
        ChecksumAlgorithm: 'SHA256',
      },
    });
    try {
      await upload.done();
    } finally {
      body.destroy();
    }
  }

  private async isSameObject(key: string, opts: PutOptions): Promise<boolean> {
    const head = await this.headDetails(key);
    return head !== undefined && head.size === opts.contentLength && head.sha256Base64 === opts.sha256Base64;
  }

  /** HeadObject after upload: size, recorded SHA-256 and the store's checksum must all match. */
  private async verifyUploaded(key: string, opts: PutOptions): Promise<void> {
    let head: HeadDetails | undefined;
    try {
      head = await withRetry(() => this.headDetails(key), this.retry);
    } catch (err) {
      throw this.translate(err, key);
    }
    const where = `s3://${this.cfg.bucket}/${key}`;
    if (!head) throw new StorageError('VerifyFailed', `${where} is missing right after its upload`);
    if (head.size !== opts.contentLength) {
      throw new StorageError(
        'VerifyFailed',
        `${where} is ${head.size} bytes in the store but ${opts.contentLength} were uploaded`,
      );
    }
    if (head.sha256Base64 !== opts.sha256Base64) {
      throw new StorageError(
        'VerifyFailed',
        `${where} records sha256 ${head.sha256Base64 ?? '(none)'} but ${opts.sha256Base64} was uploaded`,
      );
    }
    if (head.checksumSha256) {
      const [digest, parts] = head.checksumSha256.split('-');
      const expected =
        parts === undefined ? opts.sha256Base64 : compositeSha256(opts, this.partSize, Number(parts));
      if (expected !== undefined && digest !== expected) {
        throw new StorageError(
          'VerifyFailed',
          `${where}: the store's SHA-256 checksum ${head.checksumSha256} does not match the uploaded bytes`,
        );
      }
    }
  }

  async headObject(key: string): Promise<HeadResult | undefined> {
    try {
      const h = await withRetry(() => this.headDetails(key), this.retry);
      if (!h) return undefined;
      const { size, sha256Base64, metadata } = h;
      return sha256Base64 === undefined ? { size, metadata } : { size, sha256Base64, metadata };
    } catch (err) {
      throw this.translate(err, key);
    }
  }

  private async headDetails(key: string): Promise<HeadDetails | undefined> {
    try {
      const r = await this.client.send(
        new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: key, ChecksumMode: 'ENABLED' }),
      );
      const metadata = r.Metadata ?? {};
      const out: HeadDetails = { size: r.ContentLength ?? 0, metadata };
      if (metadata[SHA256_METADATA]) out.sha256Base64 = metadata[SHA256_METADATA];
      if (r.ChecksumSHA256) out.checksumSha256 = r.ChecksumSHA256;
      return out;
    } catch (err) {
      if (httpStatus(err) === 404 && (err as Error).name !== 'NoSuchBucket') {
        // HEAD has no body, so a missing bucket also looks like a 404: tell them apart.
        if (await this.bucketMissing())
          throw Object.assign(new Error('NoSuchBucket'), {
            name: 'NoSuchBucket',
            $metadata: { httpStatusCode: 404 },
          });
        return undefined;
      }
      throw err;
    }
  }

  private async bucketMissing(): Promise<boolean> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.cfg.bucket, MaxKeys: 1 }));
      return false;
    } catch (err) {
      if ((err as Error).name === 'NoSuchBucket') return true;
      throw err; // e.g. refused credentials: some stores answer HEAD with a bare 404 for those too
    }
  }

  async getObject(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      return await withRetry(async () => {
        const r = await this.client.send(
          new GetObjectCommand({
            Bucket: this.cfg.bucket,
            Key: key,
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
        if (!r.Body) throw new StorageError('Other', `s3://${this.cfg.bucket}/${key} returned no body`);
        return r.Body as Readable;
      }, this.retry);
    } catch (err) {
      throw this.translate(err, key);
    }
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    for await (const e of this.listPages(prefix, undefined, startAfter)) if (e.kind === 'object') yield e;
  }

  listFolder(prefix: string): AsyncIterable<FolderEntry> {
    return this.listPages(prefix, '/');
  }

  private async *listPages(
    prefix: string,
    delimiter?: string,
    startAfter?: string,
  ): AsyncIterable<FolderEntry> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await withRetry(
          () =>
            this.client.send(
              new ListObjectsV2Command({
                Bucket: this.cfg.bucket,
                Prefix: prefix,
                ...(delimiter ? { Delimiter: delimiter } : {}),
                ...(this.opts.listPageSize ? { MaxKeys: this.opts.listPageSize } : {}),
                ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
              }),
            ),
          this.retry,
        );
      } catch (err) {
        throw this.translate(err, prefix);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        const info: FolderEntry = { kind: 'object', key: o.Key, size: o.Size ?? 0 };
        if (o.LastModified) info.lastModified = o.LastModified;
        yield info;
      }
      for (const c of page.CommonPrefixes ?? []) if (c.Prefix) yield { kind: 'folder', prefix: c.Prefix };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async deleteObject(key: string): Promise<void> {
    try {
      // S3 answers 204 whether or not the key existed, so a retry after a lost reply is harmless.
      await withRetry(
        () => this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: key })),
        this.retry,
      );
    } catch (err) {
      throw this.translate(err, key);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private describe(err: unknown): string {
    const e = err as { name?: string; message?: string };
    const status = httpStatus(err);
    return redactSecrets(
      `${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(err)}`,
      this.secrets,
    );
  }

  /** Turns SDK errors into messages that name the bucket and the fix, never a secret. */
  translate(err: unknown, key: string): Error {
    if (err instanceof ObjectExistsError || err instanceof StorageError) return err;
    const e = err as { name?: string; message?: string; code?: string };
    const b = this.cfg.bucket;
    const status = httpStatus(err);
    const where = `s3://${b}/${key}`;
    const cause = { cause: err };
    switch (e?.name) {
      case 'NoSuchBucket':
        return new StorageError(
          'NoSuchBucket',
          `bucket '${b}' does not exist at ${this.endpointText()} (check the bucket name, region and endpoint)`,
          cause,
        );
      case 'InvalidAccessKeyId':
      case 'SignatureDoesNotMatch':
      case 'InvalidToken':
      case 'ExpiredToken':
      case 'CredentialsProviderError':
      case 'InvalidClientTokenId':
      case 'XAdminUserNotFound': // versitygw: unknown access key id
        return new StorageError(
          'InvalidCredentials',
          `S3 refused the credentials for bucket '${b}' (${e.name}): check the access key id and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the credentials Secret, or the IAM role)`,
          cause,
        );
      case 'AccessDenied':
        return new StorageError(
          'AccessDenied',
          `access denied to ${where}: the credentials lack permission on bucket '${b}'`,
          cause,
        );
      default:
    }
    if (/Region is missing/i.test(e?.message ?? '')) {
      return new StorageError(
        'NoRegion',
        `no AWS region for bucket '${b}': set the region (s3.region / --region / AWS_REGION)`,
        cause,
      );
    }
    if (status === 403)
      return new StorageError(
        'AccessDenied',
        `access denied (HTTP 403) to ${where}: check the credentials and bucket policy`,
        cause,
      );
    if (isTransient(err)) {
      return new StorageError(
        'Unreachable',
        `S3 at ${this.endpointText()} failed for ${where} after retries: ${this.describe(err)}`,
        cause,
      );
    }
    return new StorageError('Other', `S3 request for ${where} failed: ${this.describe(err)}`, cause);
  }

  private endpointText(): string {
    return redactSecrets(
      this.cfg.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? 'AWS S3',
    );
  }
}

function checkBody(bytes: number, sha256Base64: string, opts: PutOptions, key: string): void {
  if (bytes !== opts.contentLength) {
    throw new StorageError(
      'BodyMismatch',
      `body of ${key} is ${bytes} bytes but ${opts.contentLength} were declared`,
    );
  }
  if (sha256Base64 !== opts.sha256Base64) {
    throw new StorageError(
      'BodyMismatch',
      `body of ${key} hashes to ${sha256Base64} but ${opts.sha256Base64} was declared`,
    );
  }
}

// Part digests of the last multipart upload per PutOptions object, for checking a composite checksum.
const partDigests = new WeakMap<PutOptions, Buffer[]>();

function compositeSha256(opts: PutOptions, partSize: number, parts: number): string | undefined {
  const digests = partDigests.get(opts);
  if (!digests || digests.length !== parts || Math.ceil(opts.contentLength / partSize) !== parts)
    return undefined;
  return createHash('sha256').update(Buffer.concat(digests)).digest('base64');
}

/**
 * Passes the body through, hashing it whole and per part. At the end it checks the declared size and
 * SHA-256 and fails the stream otherwise — before lib-storage sees the end, so the last part is never
 * sent and the upload is aborted instead of completed.
 */
class PartHashTap extends Transform {
  private readonly whole: Hash = createHash('sha256');
  private part: Hash = createHash('sha256');
  private inPart = 0;
  private bytes = 0;
  private readonly digests: Buffer[] = [];

  constructor(
    private readonly partSize: number,
    private readonly opts: PutOptions,
    private readonly key: string,
  ) {
    super();
  }

  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    cb: (err?: Error | null, data?: Buffer) => void,
  ): void {
    this.whole.update(chunk);
    this.bytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.partSize - this.inPart, chunk.length - off);
      this.part.update(chunk.subarray(off, off + n));
      this.inPart += n;
      off += n;
      if (this.inPart === this.partSize) {
        this.digests.push(this.part.digest());
        this.part = createHash('sha256');
        this.inPart = 0;
      }
    }
    if (this.bytes > this.opts.contentLength) {
      cb(
        new StorageError(
          'BodyMismatch',
          `body of ${this.key} is longer than the declared ${this.opts.contentLength} bytes`,
        ),
      );
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: (err?: Error | null) => void): void {
    if (this.inPart > 0) this.digests.push(this.part.digest());
    try {
      checkBody(this.bytes, this.whole.digest('base64'), this.opts, this.key);
    } catch (err) {
      cb(err as Error);
      return;
    }
    partDigests.set(this.opts, this.digests);
    cb();
  }
}

// Smoke: versitygw is a real S3 gateway for @aws-sdk/client-s3: multipart upload, HeadObject,
// ListObjectsV2, GetObject, conditional writes (If-None-Match: *) and stored SHA-256 checksums.
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { testEnv, uniqueName } from '../../support/testenv.js';

async function errorOf(
  p: Promise<unknown>,
): Promise<{ name: string; status: number | undefined } | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof S3ServiceException) return { name: err.name, status: err.$metadata.httpStatusCode };
    throw err;
  }
}

describe('versitygw (S3)', () => {
  let s3: S3Client;
  const Bucket = uniqueName('smoke');
  const keys = new Set<string>();

  beforeAll(async () => {
    const env = testEnv().s3;
    s3 = new S3Client({
      endpoint: env.endpoint,
      region: env.region,
      forcePathStyle: true, // no wildcard DNS for virtual-hosted buckets on 127.0.0.1
      credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
      maxAttempts: 1,
    });
    await s3.send(new CreateBucketCommand({ Bucket }));
  });

  afterAll(async () => {
    if (!s3) return;
    for (const Key of keys) await s3.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket })).catch(() => undefined);
    s3.destroy();
  });

  /** Two-part upload (5 MiB + tail), optionally with extra CompleteMultipartUpload input. */
  async function multipart(Key: string, complete: { IfNoneMatch?: string } = {}) {
    keys.add(Key);
    const parts = [Buffer.alloc(5 * 1024 * 1024, 'a'), Buffer.from('the tail')];
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket,
        Key,
        Metadata: { origin: 'smoke' },
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    try {
      const done = [];
      for (const [i, Body] of parts.entries()) {
        const r = await s3.send(
          new UploadPartCommand({
            Bucket,
            Key,
            UploadId,
            PartNumber: i + 1,
            Body,
            ChecksumAlgorithm: 'SHA256',
          }),
        );
        done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumSHA256: r.ChecksumSHA256 });
      }
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: done },
          ...complete,
        }),
      );
    } catch (err) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
    return Buffer.concat(parts);
  }

  test('multipart upload, HeadObject, ListObjectsV2, GetObject', async () => {
    const body = await multipart('dir/big.bin');
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'dir/big.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.Metadata).toEqual({ origin: 'smoke' });
    expect(head.ETag).toMatch(/-2"$/);

    const list = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'dir/' }));
    expect(list.Contents?.map((o) => [o.Key, o.Size])).toEqual([['dir/big.bin', body.length]]);

    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'dir/big.bin' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.equals(body)).toBe(true);
  });

  test('If-None-Match: * refuses to overwrite an existing key (PutObject and CompleteMultipartUpload)', async () => {
    const Key = 'once.txt';
    keys.add(Key);
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'first', IfNoneMatch: '*' }));
    expect(
      await errorOf(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'second', IfNoneMatch: '*' }))),
    ).toEqual({
      name: 'PreconditionFailed',
      status: 412,
    });
    expect(await errorOf(multipart(Key, { IfNoneMatch: '*' }))).toEqual({
      name: 'PreconditionFailed',
      status: 412,
    });
    const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
    expect(await got.Body!.transformToString()).toBe('first');
  });

  test('stores a PutObject SHA-256 checksum and returns it with ChecksumMode ENABLED; rejects a wrong one', async () => {
    const Key = 'sum.txt';
    keys.add(Key);
    const body = Buffer.from('checksummed');
    const sha = createHash('sha256').update(body).digest('base64');
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: body, ChecksumSHA256: sha }));
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumSHA256).toBe(sha);
    const wrong = createHash('sha256').update('other').digest('base64');
    expect(
      await errorOf(
        s3.send(new PutObjectCommand({ Bucket, Key: 'bad.txt', Body: body, ChecksumSHA256: wrong })),
      ),
    ).toEqual({ name: 'BadDigest', status: 400 });
  });
});

// S3 destination against versitygw: conditional puts, HeadObject verification, pagination, failures.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3Destination } from '../../../operator/storage/s3.js';
import { ObjectExistsError } from '../../../operator/storage/destination.js';
import { StorageError } from '../../../operator/storage/errors.js';
import { testEnv, uniqueName } from '../../support/testenv.js';
import { FaultProxy } from './fault-proxy.js';

const env = testEnv();
const creds = { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey };
const MIB = 1024 * 1024;

function admin(): S3Client {
  return new S3Client({
    region: env.s3.region,
    endpoint: env.s3.endpoint,
    forcePathStyle: true,
    credentials: creds,
  });
}

async function emptyAndDelete(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('base64');
const putOpts = (b: Buffer) => ({ sha256Base64: sha(b), contentLength: b.length });
const bodyOf = (b: Buffer) => () => Readable.from([b]);

/** A stream of `b` in 64 KiB chunks (multipart uploads read real streams). */
const chunked = (b: Buffer) => () =>
  Readable.from(
    (function* () {
      for (let i = 0; i < b.length; i += 65536) yield b.subarray(i, i + 65536);
    })(),
  );

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('S3 destination (versitygw)', () => {
  const bucket = uniqueName('gochive-s3');
  const client = admin();
  let dest: S3Destination;

  beforeAll(async () => {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    dest = new S3Destination(
      {
        kind: 's3',
        bucket,
        prefix: 'p/',
        endpoint: env.s3.endpoint,
        region: env.s3.region,
        credentials: creds,
      },
      { partSize: 5 * MIB, retry: { attempts: 3, baseDelayMs: 50 } },
    );
  });
  afterAll(async () => {
    await dest?.close();
    await emptyAndDelete(client, bucket);
    client.destroy();
  });

  test('single-part: put, refuse overwrite, accept an identical retry, head, range get', async () => {
    const a = randomBytes(1000);
    await dest.putObject('p/a.bin', bodyOf(a), { ...putOpts(a), metadata: { policy: 'x' } });
    const b = randomBytes(1000);
    await expect(dest.putObject('p/a.bin', bodyOf(b), putOpts(b))).rejects.toBeInstanceOf(ObjectExistsError);
    await dest.putObject('p/a.bin', bodyOf(a), putOpts(a)); // same bytes: our own earlier attempt
    const head = await dest.headObject('p/a.bin');
    expect(head).toMatchObject({ size: 1000, sha256Base64: sha(a), metadata: { policy: 'x' } });
    expect((await readAll(await dest.getObject('p/a.bin'))).equals(a)).toBe(true);
    expect(
      (await readAll(await dest.getObject('p/a.bin', { start: 10, end: 19 }))).equals(a.subarray(10, 20)),
    ).toBe(true);
    expect(await dest.headObject('p/missing')).toBeUndefined();
  });

  test('multipart: put verified, overwrite refused (If-None-Match on CompleteMultipartUpload)', async () => {
    const big = randomBytes(12 * MIB + 123);
    await dest.putObject('p/big.bin', chunked(big), putOpts(big));
    expect(await dest.headObject('p/big.bin')).toMatchObject({ size: big.length, sha256Base64: sha(big) });
    // The store kept a composite SHA-256 of the 5 MiB parts, which putObject checked against the bytes.
    const h = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'p/big.bin', ChecksumMode: 'ENABLED' }),
    );
    const parts = [0, 5 * MIB, 10 * MIB].map((o) =>
      createHash('sha256')
        .update(big.subarray(o, o + 5 * MIB))
        .digest(),
    );
    expect(h.ChecksumSHA256).toBe(`${createHash('sha256').update(Buffer.concat(parts)).digest('base64')}-3`);
    expect((await readAll(await dest.getObject('p/big.bin'))).equals(big)).toBe(true);
    const other = randomBytes(11 * MIB);
    await expect(dest.putObject('p/big.bin', chunked(other), putOpts(other))).rejects.toBeInstanceOf(
      ObjectExistsError,
    );
    expect(await dest.headObject('p/big.bin')).toMatchObject({ size: big.length, sha256Base64: sha(big) });
  });

  test('a body that does not match its declared SHA-256 never becomes an object', async () => {
    const small = randomBytes(100);
    await expect(
      dest.putObject('p/bad-small', bodyOf(small), { ...putOpts(small), sha256Base64: sha(randomBytes(1)) }),
    ).rejects.toThrow(/declared/);
    const big = randomBytes(11 * MIB);
    await expect(
      dest.putObject('p/bad-big', chunked(big), { ...putOpts(big), sha256Base64: sha(randomBytes(1)) }),
    ).rejects.toThrow(/declared/);
    expect(await dest.headObject('p/bad-small')).toBeUndefined();
    expect(await dest.headObject('p/bad-big')).toBeUndefined();
  });

  test('list pages through ListObjectsV2 in key order, with startAfter', async () => {
    const paged = new S3Destination(
      {
        kind: 's3',
        bucket,
        prefix: 'list/',
        endpoint: env.s3.endpoint,
        region: env.s3.region,
        credentials: creds,
      },
      { listPageSize: 7 },
    );
    const keys = Array.from({ length: 23 }, (_, i) => `list/${String(i).padStart(3, '0')}`);
    for (const k of keys) await paged.putObject(k, bodyOf(Buffer.from(k)), putOpts(Buffer.from(k)));
    const seen: string[] = [];
    for await (const o of paged.list('list/')) seen.push(o.key);
    expect(seen).toEqual(keys);
    const after: string[] = [];
    for await (const o of paged.list('list/', 'list/015')) after.push(o.key);
    expect(after).toEqual(keys.slice(16));
    await paged.close();
  });

  test('the endpoint comes from AWS_ENDPOINT_URL_S3 like in every AWS tool', async () => {
    expect(process.env.AWS_ENDPOINT_URL_S3).toBe(env.s3.endpoint);
    const fromEnv = new S3Destination({ kind: 's3', bucket, prefix: '' }); // region, endpoint, keys: env
    const seen: string[] = [];
    for await (const o of fromEnv.list('p/a')) seen.push(o.key);
    expect(seen).toEqual(['p/a.bin']);
    await fromEnv.close();
  });

  test('unknown bucket and wrong credentials: clear messages, no secret', async () => {
    const missing = `${bucket}-missing`;
    const d1 = new S3Destination({
      kind: 's3',
      bucket: missing,
      prefix: '',
      endpoint: env.s3.endpoint,
      region: env.s3.region,
      credentials: creds,
    });
    const e1 = await (async () => {
      for await (const _ of d1.list('')) void _;
    })().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(StorageError);
    expect((e1 as StorageError).code).toBe('NoSuchBucket');
    expect((e1 as Error).message).toContain(`bucket '${missing}' does not exist`);
    await expect(d1.headObject('x')).rejects.toThrow(/does not exist/);
    const secret = 'wrong-secret-value-1234';
    const d2 = new S3Destination({
      kind: 's3',
      bucket,
      prefix: '',
      endpoint: env.s3.endpoint,
      region: env.s3.region,
      credentials: { accessKeyId: 'NOPE', secretAccessKey: secret },
    });
    const e2 = await d2.headObject('p/a.bin').catch((e: unknown) => e);
    expect((e2 as StorageError).code).toBe('InvalidCredentials');
    expect((e2 as Error).message).toContain(bucket);
    expect((e2 as Error).message).not.toContain(secret);
    await d1.close();
    await d2.close();
  });

  describe('through a faulty proxy', () => {
    const url = new URL(env.s3.endpoint);
    const proxy = new FaultProxy({ host: url.hostname, port: Number(url.port) });
    let faulty: S3Destination;
    beforeAll(async () => {
      const endpoint = await proxy.start();
      faulty = new S3Destination(
        { kind: 's3', bucket, prefix: '', endpoint, region: env.s3.region, credentials: creds },
        { partSize: 5 * MIB, stallTimeoutMs: 1000, retry: { attempts: 4, baseDelayMs: 50, maxDelayMs: 200 } },
      );
    });
    afterAll(async () => {
      await faulty?.close();
      await proxy.stop();
    });

    test('500s are retried and the upload then succeeds', async () => {
      proxy.mode = 'fail500';
      proxy.faultBudget = 3;
      const b = randomBytes(5000);
      await faulty.putObject('retry/a', bodyOf(b), putOpts(b));
      expect(proxy.faults).toBe(3);
      expect(await dest.headObject('retry/a')).toMatchObject({ size: 5000, sha256Base64: sha(b) });
    });

    test('a stalled store times out, fails clearly in bounded time, and recovers', async () => {
      proxy.mode = 'stall';
      proxy.faultBudget = Infinity;
      const b = randomBytes(7 * MIB);
      const started = Date.now();
      const err = await faulty.putObject('retry/stalled', chunked(b), putOpts(b)).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('Unreachable');
      proxy.mode = 'pass';
      await faulty.putObject('retry/stalled', chunked(b), putOpts(b));
      expect(await dest.headObject('retry/stalled')).toMatchObject({ size: b.length, sha256Base64: sha(b) });
    });

    test('always-500 gives up after the configured attempts with a message naming the bucket', async () => {
      proxy.mode = 'fail500';
      proxy.faultBudget = Infinity;
      const err = await faulty.headObject('p/a.bin').catch((e: unknown) => e);
      proxy.mode = 'pass';
      expect((err as StorageError).code).toBe('Unreachable');
      expect((err as Error).message).toContain(bucket);
    });
  });
});

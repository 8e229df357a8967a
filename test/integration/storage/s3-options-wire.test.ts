// S3 options proven on the wire: SSE-KMS and the storage class are sent on every bundle upload —
// PutObject for a small bundle, CreateMultipartUpload for one over the part size — by the operator's path
// (an ArchivePolicy spec resolved as the operator does, run by the archiver worker) and by
// `gochive archive`. A recording proxy in front of versitygw sees the requests. versitygw accepts these
// headers (it ignores SSE-KMS and storage class), so the proxy forwards them untouched.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { testEnv } from '../../support/testenv.js';
import { cliEnv, runCli } from '../archiver/cli.js';
import { DAY, insertAll, listKeys, policy, runOnce, sandbox, type Sandbox } from '../archiver/helpers.js';
import { RecordingProxy, type RecordedRequest } from './recording-proxy.js';

const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/gochive-test';
const BIG_DOCS = 900; // × 10 KiB of random bytes: over the 8 MiB part size, so the upload is multipart

describe('S3 options on the wire', () => {
  let sb: Sandbox;
  let proxy: RecordingProxy;
  let endpoint: string;

  beforeAll(async () => {
    sb = await sandbox('s3_wire');
    proxy = new RecordingProxy(new URL(testEnv().s3.endpoint));
    endpoint = await proxy.start();
    const old = new Date(Date.now() - 200 * DAY);
    await insertAll(
      sb.db,
      'small',
      Array.from({ length: 5 }, (_, i) => ({ _id: i, createdAt: old })),
    );
    await insertAll(
      sb.db,
      'big',
      Array.from({ length: BIG_DOCS }, (_, i) => ({
        _id: i,
        createdAt: old,
        blob: new BSON.Binary(randomBytes(10 * 1024)),
      })),
      100,
    );
    await sb.db.collection('small').createIndex({ createdAt: 1 });
    await sb.db.collection('big').createIndex({ createdAt: 1 });
  });

  afterAll(async () => {
    await proxy?.stop();
    await sb?.cleanup();
  });

  /** The upload requests for bundles under `prefix`: PutObject and CreateMultipartUpload. */
  function uploads(prefix: string): { puts: RecordedRequest[]; creates: RecordedRequest[] } {
    const mine = proxy.requests.filter((r) => r.path.startsWith(`/${sb.bucket}/${prefix}`));
    return {
      puts: mine.filter((r) => r.method === 'PUT' && !r.query.has('uploadId')),
      creates: mine.filter((r) => r.method === 'POST' && r.query.has('uploads')),
    };
  }

  function expectOptions(r: RecordedRequest): void {
    expect({
      sse: r.headers['x-amz-server-side-encryption'],
      key: r.headers['x-amz-server-side-encryption-aws-kms-key-id'],
      storageClass: r.headers['x-amz-storage-class'],
    }).toEqual({ sse: 'aws:kms', key: KMS_KEY, storageClass: 'STANDARD_IA' });
  }

  test('the operator path sends SSE-KMS and the storage class on PutObject and CreateMultipartUpload', async () => {
    const s3 = { storageClass: 'STANDARD_IA', sse: { type: 'aws:kms', kmsKeyId: KMS_KEY } };
    for (const coll of ['small', 'big']) {
      const cfg = policy(
        sb,
        { collection: coll, s3: { ...s3, bucket: `${sb.bucket}/op-${coll}/` } },
        `wire-${coll}`,
        { endpoint },
      );
      const { errors } = await runOnce(cfg, sb.spoolRoot);
      expect(errors).toEqual([]);
    }
    const small = uploads('op-small/');
    expect(small.creates).toEqual([]);
    expect(small.puts).toHaveLength(1);
    expectOptions(small.puts[0]!);
    const big = uploads('op-big/');
    expect(big.creates).toHaveLength(1);
    expect(big.puts.filter((r) => !r.query.has('partNumber'))).toEqual([]);
    expectOptions(big.creates[0]!);
    expect(await listKeys(sb.s3, sb.bucket, 'op-big/')).toHaveLength(1);
  });

  test('gochive archive sends them too', async () => {
    // The operator test archived and deleted these; put them back for the CLI's own run.
    const old = new Date(Date.now() - 200 * DAY);
    await insertAll(
      sb.db,
      'small',
      Array.from({ length: 5 }, (_, i) => ({ _id: i, createdAt: old })),
    );
    await insertAll(
      sb.db,
      'big',
      Array.from({ length: BIG_DOCS }, (_, i) => ({
        _id: i,
        createdAt: old,
        blob: new BSON.Binary(randomBytes(10 * 1024)),
      })),
      100,
    );
    const spool = mkdtempSync(path.join(tmpdir(), 'gochive-wire-'));
    try {
      for (const coll of ['small', 'big']) {
        const r = await runCli(
          [
            'archive',
            '-host',
            testEnv().mongoUri,
            '-database',
            sb.dbName,
            '-collection',
            coll,
            '-age-limit',
            '92d',
            '-archive-field',
            'createdAt',
            '-archive-check-interval',
            '1',
            '-s3-upload-interval',
            '2',
            '-s3-bucket-uri',
            `${sb.bucket}/cli-${coll}/`,
            '-s3-endpoint',
            endpoint,
            '-s3-storage-class',
            'STANDARD_IA',
            '-s3-sse',
            'aws:kms',
            '-s3-sse-kms-key-id',
            KMS_KEY,
            '-spool-dir',
            path.join(spool, coll),
            '-log-level',
            'warn',
            '--once',
          ],
          cliEnv(),
          240_000,
        );
        if (r.code !== 0) throw new Error(`gochive archive exited ${r.code}: ${r.stderr}`);
      }
    } finally {
      rmSync(spool, { recursive: true, force: true });
    }
    const small = uploads('cli-small/');
    expect(small.puts).toHaveLength(1);
    expectOptions(small.puts[0]!);
    const big = uploads('cli-big/');
    expect(big.creates).toHaveLength(1);
    expectOptions(big.creates[0]!);
  });
});

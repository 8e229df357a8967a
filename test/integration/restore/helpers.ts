// Test helpers: write gochive and original-format bundles straight into a bucket, run the CLI.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { BSON } from 'mongodb';
import { bundleKey, newBundleId } from '../../../operator/bundle/keys.js';
import { PayloadHasher, writeBundleFile } from '../../../operator/bundle/writer.js';
import {
  legacyBundleName,
  writeLegacyBundleFile,
  type ExtraEntry,
} from '../../../operator/bundle/legacy-fixture.js';
import type { Destination } from '../../../operator/storage/destination.js';
import { S3Destination } from '../../../operator/storage/s3.js';
import { repoRoot, testEnv } from '../../support/testenv.js';

export const env = testEnv();
export const creds = { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey };

export function adminS3(): S3Client {
  return new S3Client({
    region: env.s3.region,
    endpoint: env.s3.endpoint,
    forcePathStyle: true,
    credentials: creds,
  });
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

export function s3Dest(bucket: string): S3Destination {
  return new S3Destination({
    kind: 's3',
    bucket,
    prefix: '',
    endpoint: env.s3.endpoint,
    region: env.s3.region,
    credentials: creds,
  });
}

export interface BundleSpec {
  prefix: string;
  database: string;
  collection: string;
  docs: Buffer[];
  archiveField?: string;
  policy?: { name: string; namespace: string };
  /** When the bundle was written (its key and manifest say so); default now. */
  createdAt?: Date;
}

/** Archives raw documents into one gochive bundle at a proper key; returns the key. */
export async function putGochiveBundle(dest: Destination, spec: BundleSpec): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gochive-test-bundle-'));
  try {
    const field = spec.archiveField ?? 'createdAt';
    const hasher = new PayloadHasher();
    spec.docs.forEach((d) => hasher.addDocument(d));
    const seg = path.join(dir, 'seg.bson');
    writeFileSync(seg, Buffer.concat(spec.docs));
    const times = spec.docs.map((d) => (BSON.deserialize(d)[field] as Date).getTime());
    const min = new Date(Math.min(...times));
    const max = new Date(Math.max(...times));
    const bundleId = newBundleId();
    const createdAt = spec.createdAt ?? new Date();
    const file = path.join(dir, 'b.tar.gz');
    const res = await writeBundleFile(
      {
        manifest: {
          bundleId,
          policy: spec.policy ?? { name: 'test-policy', namespace: 'default' },
          database: spec.database,
          collection: spec.collection,
          archiveField: field,
          archiveFieldFormat: 'date',
          cutoff: new Date(max.getTime() + 1).toISOString(),
          archiveFieldRange: { min: min.toISOString(), max: max.toISOString() },
          createdAt: createdAt.toISOString(),
        },
        payload: { segments: [seg], ...hasher.summary() },
        indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }],
        compression: { codec: 'gzip', level: 6 },
      },
      file,
    );
    const key = bundleKey(spec.prefix, {
      archiveFieldMin: min,
      archiveFieldMax: max,
      createdAt,
      bundleId,
      codec: 'gzip',
    });
    const bytes = readFileSync(file);
    await dest.putObject(key, () => Readable.from([bytes]), {
      sha256Base64: res.sha256Base64,
      contentLength: res.bytes,
    });
    return key;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Puts an original-format bundle (archive_YYYYMMDD_HHMMSS.tar.gz) with raw bytes, as the Go tool did. */
export async function putLegacyBundle(
  s3: S3Client,
  bucket: string,
  prefix: string,
  at: Date,
  batches: Buffer[][],
  opts: { extraEntries?: ExtraEntry[] } = {},
): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gochive-test-legacy-'));
  try {
    const file = path.join(dir, 'l.tar.gz');
    await writeLegacyBundleFile(
      batches.map((docs, i) => ({ unix: Math.floor(at.getTime() / 1000) - 60 * (batches.length - i), docs })),
      file,
      opts,
    );
    const key = `${prefix}${legacyBundleName(at)}`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(file) }));
    return key;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Uploads arbitrary bytes (for corrupt objects), without gochive's metadata. */
export async function putRaw(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export const sha256Base64 = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const CLI = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');

/** Runs the compiled CLI with the test servers' environment; bounded in time. */
export function gochive(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onSpawn?: (pid: number) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gochive ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    if (child.pid) opts.onSpawn?.(child.pid);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

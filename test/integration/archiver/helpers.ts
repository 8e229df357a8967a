// Shared pieces of the archiver integration tests: unique databases and buckets on the test servers,
// policies built through the real spec validation, running a worker, and reading every bundle back.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { BSON, MongoClient, type Db, type Document } from 'mongodb';
import { pino } from 'pino';
import { resolvePolicy, validateSpec } from '../../../operator/api/resolve.js';
import type { PolicyConfig } from '../../../operator/archiver/config.js';
import { Worker, type WorkerTuning } from '../../../operator/archiver/worker.js';
import type { WorkerEvents, WorkerOptions } from '../../../operator/archiver/worker-api.js';
import { openBundle } from '../../../operator/bundle/reader.js';
import type { BundleManifest } from '../../../operator/bundle/manifest.js';
import { testEnv, uniqueName } from '../../support/testenv.js';

export const DAY = 86_400_000;

export function s3Client(endpoint = testEnv().s3.endpoint): S3Client {
  const env = testEnv().s3;
  return new S3Client({
    endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  });
}

/** A quiet logger (warnings and up) so test output stays readable. */
export function testLogger(level = process.env.GOCHIVE_TEST_LOG_LEVEL ?? 'warn') {
  return pino({ level, base: { test: true } }, pino.destination({ dest: 2, sync: true }));
}

export interface Sandbox {
  mongo: MongoClient;
  db: Db;
  dbName: string;
  bucket: string;
  s3: S3Client;
  spoolRoot: string;
  cleanup(): Promise<void>;
}

/** A fresh database, bucket and spool directory; cleanup() removes all three. */
export async function sandbox(prefix: string): Promise<Sandbox> {
  const env = testEnv();
  const mongo = await new MongoClient(env.mongoUri).connect();
  const dbName = uniqueName(prefix).replace(/-/g, '_');
  const bucket = uniqueName(prefix.toLowerCase().replace(/[^a-z0-9]/g, '')).slice(0, 63);
  const s3 = s3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const spoolRoot = await mkdtemp(path.join(os.tmpdir(), 'gochive-spool-'));
  return {
    mongo,
    db: mongo.db(dbName),
    dbName,
    bucket,
    s3,
    spoolRoot,
    async cleanup() {
      await mongo
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await emptyBucket(s3, bucket).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
      await mongo.close();
      await rm(spoolRoot, { recursive: true, force: true });
    },
  };
}

export async function listKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function emptyBucket(s3: S3Client, bucket: string): Promise<void> {
  for (const Key of await listKeys(s3, bucket))
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
}

export interface ArchivedBundle {
  key: string;
  manifest: BundleManifest;
  docs: Buffer[];
}

/** Downloads and decodes every bundle under `prefix` with the bundle reader (checksums verified). */
export async function readBundles(s3: S3Client, bucket: string, prefix = ''): Promise<ArchivedBundle[]> {
  const out: ArchivedBundle[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const b = await openBundle(r.Body as Readable, { key });
    const docs: Buffer[] = [];
    for await (const d of b.documents()) docs.push(Buffer.from(d));
    out.push({ key, manifest: b.manifest!, docs });
  }
  return out;
}

/** `_id` of a raw document as canonical Extended JSON (type-exact identity). */
export function idKey(doc: Uint8Array | Document): string {
  const d =
    doc instanceof Uint8Array
      ? BSON.deserialize(doc, { promoteValues: false, promoteLongs: false, promoteBuffers: false })
      : doc;
  return BSON.EJSON.stringify({ v: d._id }, { relaxed: false });
}

/** Every document of a collection as raw bytes, keyed by `_id`. */
export async function snapshotRaw(db: Db, coll: string, filter: Document = {}): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for await (const raw of db.collection(coll).find(filter, { raw: true, batchSize: 5000 })) {
    const b = Buffer.from(raw as unknown as Uint8Array);
    m.set(idKey(b), b);
  }
  return m;
}

/** A validated policy (through the same spec validation the CLI and operator use). */
export function policy(
  sb: Pick<Sandbox, 'dbName' | 'bucket'>,
  spec: Record<string, unknown>,
  name = 'p',
  extra: { endpoint?: string } = {},
): PolicyConfig {
  const env = testEnv().s3;
  const full = {
    hostAddress: 'test',
    ageLimit: '92d',
    queryLimit: 1000,
    archiveCheckInterval: 1,
    collection: 'events',
    database: sb.dbName,
    archiveField: 'createdAt',
    ...spec,
    s3: {
      bucket: `${sb.bucket}/archive/`,
      uploadInterval: 2,
      endpoint: extra.endpoint ?? env.endpoint,
      forcePathStyle: true,
      region: env.region,
      ...((spec.s3 as object | undefined) ?? {}),
    },
  };
  const v = validateSpec(full);
  if (!v.ok) throw new Error(v.errors.map((e) => e.message).join('; '));
  return resolvePolicy(v.spec, {
    name,
    namespace: 'test',
    s3Credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  });
}

export interface RunResult {
  worker: Worker;
  snapshots: number;
  errors: { stage: string; message: string }[];
}

/** Runs a worker in `once` mode to completion (bounded by `timeoutMs`). */
export async function runOnce(
  config: PolicyConfig,
  spoolRoot: string,
  tuning: WorkerTuning = {},
  events: WorkerEvents = {},
  timeoutMs = 300_000,
): Promise<RunResult> {
  const errors: RunResult['errors'] = [];
  let snapshots = 0;
  const worker = new Worker(
    {
      config,
      mongoUri: testEnv().mongoUri,
      spoolRoot,
      logger: testLogger(),
      once: true,
      events: {
        ...events,
        onSnapshot: (s) => {
          snapshots++;
          events.onSnapshot?.(s);
        },
        onError: (e) => {
          errors.push(e);
          events.onError?.(e);
        },
      },
    },
    { estimateIntervalMs: 3_600_000, ...tuning },
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void worker.stop();
      reject(new Error(`worker did not finish within ${timeoutMs} ms: ${JSON.stringify(worker.snapshot())}`));
    }, timeoutMs);
  });
  try {
    await Promise.race([worker.run(), timeout]);
  } finally {
    clearTimeout(timer);
  }
  return { worker, snapshots, errors };
}

/** Inserts documents in batches (FerretDB is faster with big insertMany calls). */
export async function insertAll(db: Db, coll: string, docs: Document[], batch = 2000): Promise<void> {
  for (let i = 0; i < docs.length; i += batch)
    await db.collection(coll).insertMany(docs.slice(i, i + batch), { ordered: false });
}

/** Polls `cond` until it holds; fails naming `what` after `timeoutMs` (bounded, never hangs a suite). */
export async function until(
  what: string,
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type OnceOptions = Omit<WorkerOptions, 'mongoUri' | 'logger' | 'once'> & Partial<WorkerOptions>;

/** A once-mode worker on the test MongoDB (as another replica, with the operator's hooks), run to its end. */
export async function runWorker(o: OnceOptions, tuning: WorkerTuning = {}): Promise<Worker> {
  const w = new Worker(
    { mongoUri: testEnv().mongoUri, logger: testLogger(), ...o, once: true },
    { estimateIntervalMs: 3_600_000, ...tuning },
  );
  await w.run();
  return w;
}

/**
 * A replica that uploads its bundle and stops at the start of its deletes — the policy moves away, or
 * the process dies: 'beforeDelete' leaves the bundle uploaded, 'beforeDeleteIssue' marks it deleting
 * with its first chunk not sent.
 */
export async function runUntilDelete(
  o: OnceOptions,
  at: 'beforeDelete' | 'beforeDeleteIssue' = 'beforeDelete',
): Promise<Worker> {
  const w: Worker = new Worker(
    { mongoUri: testEnv().mongoUri, logger: testLogger(), ...o, once: true },
    {
      estimateIntervalMs: 3_600_000,
      [at]: () => {
        void w.stop();
        return Promise.reject(new Error(`the replica stops at ${at}`));
      },
    },
  );
  await w.run();
  return w;
}

// Per-test resources for the operator tests: a namespace (policies, Secrets and Leases live there), a
// MongoDB database, an S3 bucket, a counting proxy in front of FerretDB, the Secrets the operator reads,
// and ArchivePolicy manifests that use them.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { MongoClient, type Db } from 'mongodb';
import { openBundle } from '../../../operator/bundle/reader.js';
import type { BundleManifest } from '../../../operator/bundle/manifest.js';
import { mongoTakesCredentials, testEnv, uniqueName } from '../../support/testenv.js';
import { apply, createNamespace, deleteNamespace } from './harness.js';
import { MongoProxy } from './mongo-proxy.js';

export const DAY = 86_400_000;
export const MONGO_SECRET = 'mongo-credentials';
export const S3_SECRET = 's3-credentials';
export const USERNAME = 'gochive-archiver';

/** The operator's URI template with the credentials Secret's placeholders, PLAIN as FerretDB 1.x takes it. */
export const CREDENTIALS_URI_TEMPLATE = 'mongodb://{username}:{password}@{host}/?authMechanism=PLAIN';

/**
 * The URI template operator fixtures connect with: the credentials one where the server takes
 * credentials (FerretDB 1.x accepts any password, and the password still travels the whole path), and
 * none where it refuses them (FerretDB 2 without authentication). Tests whose point is the credentials
 * path (secrets.test.ts) use CREDENTIALS_URI_TEMPLATE on both servers.
 */
export function fixtureUriTemplate(): string {
  return mongoTakesCredentials() ? CREDENTIALS_URI_TEMPLATE : 'mongodb://{host}/';
}

export interface Sandbox {
  namespace: string;
  dbName: string;
  bucket: string;
  mongo: MongoClient;
  db: Db;
  s3: S3Client;
  proxy: MongoProxy;
  /** The MongoDB password in the credentials Secret (FerretDB 1.x accepts any with PLAIN; it must never leak). */
  password: string;
  /** Operator flags that point hostAddress policies at the proxy with the credentials Secret. */
  operatorArgs: string[];
  cleanup(): Promise<void>;
}

export function s3Client(): S3Client {
  const env = testEnv().s3;
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  });
}

export async function sandbox(prefix: string): Promise<Sandbox> {
  const env = testEnv();
  const namespace = uniqueName(prefix);
  const dbName = namespace.replace(/-/g, '_');
  const bucket = uniqueName(prefix).slice(0, 63);
  const password = `Pw-${randomBytes(12).toString('hex')}`;
  await createNamespace(namespace);
  const s3 = s3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const mongo = await new MongoClient(env.mongoUri).connect();
  const proxy = MongoProxy.fromUri(env.mongoUri);
  await proxy.start();
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: MONGO_SECRET, namespace },
      stringData: { username: USERNAME, password },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: S3_SECRET, namespace },
      stringData: { AWS_ACCESS_KEY_ID: env.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey },
    },
  ]);
  return {
    namespace,
    dbName,
    bucket,
    mongo,
    db: mongo.db(dbName),
    s3,
    proxy,
    password,
    operatorArgs: [
      `--namespaces=${namespace}`,
      `--lease-namespace=${namespace}`,
      `--mongodb-uri-template=${fixtureUriTemplate()}`,
      `--credentials-secret=${namespace}/${MONGO_SECRET}`,
      '--status-min-interval=500ms',
    ],
    async cleanup() {
      await proxy.stop().catch(() => undefined);
      await mongo
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await mongo.close().catch(() => undefined);
      for (const key of await listKeys(s3, bucket).catch(() => [] as string[]))
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
      await deleteNamespace(namespace);
    },
  };
}

/** A policy spec for the sandbox: hostAddress is the proxy, S3 keys from the S3 Secret. */
export function policySpec(
  sb: Sandbox,
  over: Record<string, unknown> = {},
  collection = 'events',
): Record<string, unknown> {
  const env = testEnv().s3;
  const { s3: s3Over, ...rest } = over as { s3?: Record<string, unknown> };
  return {
    hostAddress: `127.0.0.1:${sb.proxy.port}`,
    ageLimit: '30d',
    queryLimit: 100,
    archiveCheckInterval: 1,
    collection,
    database: sb.dbName,
    archiveField: 'createdAt',
    ...rest,
    s3: {
      bucket: `${sb.bucket}/${collection}/`,
      uploadInterval: 2,
      endpoint: env.endpoint,
      forcePathStyle: true,
      region: env.region,
      credentialsSecretRef: { name: S3_SECRET },
      ...(s3Over ?? {}),
    },
  };
}

export function policyManifest(namespace: string, name: string, spec: Record<string, unknown>): object {
  return { apiVersion: 'gochive.io/v1alpha1', kind: 'ArchivePolicy', metadata: { name, namespace }, spec };
}

/** Inserts `count` documents aged `ageDays` (spread over an hour), with an index on createdAt unless told not to. */
export async function seed(
  db: Db,
  collection: string,
  count: number,
  ageDays: number,
  opts: { index?: boolean; tag?: string } = {},
): Promise<void> {
  if (opts.index !== false) await db.collection(collection).createIndex({ createdAt: 1 });
  const now = Date.now();
  const docs = Array.from({ length: count }, (_, i) => ({
    createdAt: new Date(now - ageDays * DAY - (i % 3600) * 1000),
    seq: i,
    tag: opts.tag ?? 'seed',
    payload: 'x'.repeat(200),
  }));
  for (let i = 0; i < docs.length; i += 1000)
    await db.collection(collection).insertMany(docs.slice(i, i + 1000));
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

export interface StoredBundle {
  key: string;
  manifest: BundleManifest;
  ids: string[];
}

/** Downloads every bundle under `prefix` through the bundle reader (checksums verified) and lists its _ids. */
export async function readBundles(s3: S3Client, bucket: string, prefix = ''): Promise<StoredBundle[]> {
  const { BSON } = await import('mongodb');
  const out: StoredBundle[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const b = await openBundle(r.Body as Readable, { key });
    const ids: string[] = [];
    for await (const d of b.documents())
      ids.push(BSON.EJSON.stringify(BSON.deserialize(d, { promoteValues: false })._id, { relaxed: false }));
    out.push({ key, manifest: b.manifest!, ids });
  }
  return out;
}

// What is really there at the end: every document in MongoDB and every bundle in S3 (each one read
// through the bundle reader, which verifies its checksums), reduced to what the checker needs.
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { MongoClient } from 'mongodb';
import type { Readable } from 'node:stream';
import { openBundle } from '../../operator/bundle/reader.js';
import type { BundleManifest } from '../../operator/bundle/manifest.js';
import { decode, factsOf, hashBson, idKey, type Facts } from './docs.js';
import { prefixOf, type PolicyPlan } from './plan.js';

export interface PresentDoc {
  hash: string;
  facts: Facts;
}

export interface ArchivedCopy {
  bundle: string;
  hash: string;
  facts: Facts;
}

export interface BundleInfo {
  key: string;
  size: number;
  manifest?: BundleManifest;
  documents: number;
  error?: string;
}

export interface PolicyFinal {
  present: Map<string, PresentDoc>;
  bundles: BundleInfo[];
  /** _id key -> every archived copy (duplicates included). */
  archived: Map<string, ArchivedCopy[]>;
}

export function s3Client(s3: {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestHandler: { requestTimeout: 30_000, connectionTimeout: 5000 },
  });
}

export async function scanMongo(client: MongoClient, p: PolicyPlan): Promise<Map<string, PresentDoc>> {
  const out = new Map<string, PresentDoc>();
  const cursor = client.db(p.database).collection(p.collection).find({}, { raw: true, batchSize: 1000 });
  for await (const raw of cursor as unknown as AsyncIterable<Buffer>) {
    const doc = decode(raw);
    out.set(idKey(doc._id), { hash: hashBson(raw), facts: factsOf(p, doc) });
  }
  return out;
}

/** Facts (age, status) of every document in a collection: only those fields are fetched. */
export async function scanFacts(client: MongoClient, p: PolicyPlan): Promise<Facts[]> {
  const out: Facts[] = [];
  const projection =
    p.format === 'objectId' ? { _id: 1, status: 1 } : { _id: 0, [p.archiveField]: 1, status: 1 };
  const cursor = client
    .db(p.database)
    .collection(p.collection)
    .find({}, { projection, raw: true, batchSize: 2000 });
  for await (const raw of cursor as unknown as AsyncIterable<Buffer>) out.push(factsOf(p, decode(raw)));
  return out;
}

/** _id keys present in a collection (cheap: only the _id is fetched). */
export async function presentKeys(client: MongoClient, p: PolicyPlan): Promise<Set<string>> {
  const out = new Set<string>();
  const cursor = client
    .db(p.database)
    .collection(p.collection)
    .find({}, { projection: { _id: 1 }, raw: true, batchSize: 2000 });
  for await (const raw of cursor as unknown as AsyncIterable<Buffer>) out.add(idKey(decode(raw)._id));
  return out;
}

export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const res = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function scanBundles(
  s3: S3Client,
  bucket: string,
  p: PolicyPlan,
): Promise<{ bundles: BundleInfo[]; archived: Map<string, ArchivedCopy[]> }> {
  const bundles: BundleInfo[] = [];
  const archived = new Map<string, ArchivedCopy[]>();
  for (const { key, size } of await listKeys(s3, bucket, prefixOf(p))) {
    const info: BundleInfo = { key, size, documents: 0 };
    bundles.push(info);
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const opened = await openBundle(res.Body as Readable, { key, validateDocuments: true });
      if (opened.manifest) info.manifest = opened.manifest;
      for await (const raw of opened.documents()) {
        const doc = decode(raw);
        const k = idKey(doc._id);
        const list = archived.get(k) ?? [];
        list.push({ bundle: key, hash: hashBson(raw), facts: factsOf(p, doc) });
        archived.set(k, list);
        info.documents++;
      }
    } catch (err) {
      info.error = err instanceof Error ? err.message : String(err);
    }
  }
  return { bundles, archived };
}

/**
 * MongoDB reads for the checker with a fresh client per call: a pooled connection broken by a server
 * kill must never stick to the checker (it once failed every read for minutes while the server ran).
 */
export class CheckMongo {
  constructor(private readonly uri: string) {}

  async use<T>(fn: (c: MongoClient) => Promise<T>): Promise<T> {
    const c = new MongoClient(this.uri, {
      serverSelectionTimeoutMS: 5000,
      socketTimeoutMS: 60_000,
      maxPoolSize: 2,
    });
    try {
      return await fn(c);
    } finally {
      await c.close().catch(() => undefined);
    }
  }

  /** `use`, retried every second until it succeeds or `timeoutMs` has passed. */
  async retry<T>(fn: (c: MongoClient) => Promise<T>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.use(fn);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}

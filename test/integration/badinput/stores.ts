// A fresh database on FerretDB and a fresh bucket on versitygw per test, and the counts that prove "no
// partial delete": documents left in MongoDB, objects and documents in S3.
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { MongoClient, type Db } from 'mongodb';
import { openBundle } from '../../../operator/bundle/reader.js';
import { testEnv, uniqueName } from '../../support/testenv.js';

export const DAY = 86_400_000;

export function s3Client(): S3Client {
  const env = testEnv().s3;
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  });
}

export interface Stores {
  mongo: MongoClient;
  db: Db;
  dbName: string;
  bucket: string;
  s3: S3Client;
  /** Keys of every object in the bucket. */
  keys(): Promise<string[]>;
  /** Every archived document (raw BSON) in every bundle, read and checksum-verified by the bundle reader. */
  archived(): Promise<Buffer[]>;
  cleanup(): Promise<void>;
}

export async function stores(prefix: string): Promise<Stores> {
  const env = testEnv();
  const mongo = await new MongoClient(env.mongoUri).connect();
  const dbName = uniqueName(prefix).replace(/-/g, '_');
  const bucket = uniqueName(prefix.toLowerCase().replace(/[^a-z0-9]/g, '')).slice(0, 63);
  const s3 = s3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const keys = async (): Promise<string[]> => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out.push(o.Key!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  };
  return {
    mongo,
    db: mongo.db(dbName),
    dbName,
    bucket,
    s3,
    keys,
    async archived() {
      const docs: Buffer[] = [];
      for (const key of await keys()) {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const b = await openBundle(r.Body as Readable, { key });
        for await (const d of b.documents()) docs.push(Buffer.from(d));
      }
      return docs;
    },
    async cleanup() {
      await mongo
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      for (const Key of await keys().catch(() => [] as string[]))
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
      await mongo.close();
    },
  };
}

// Reading back what an archiving run left in a bucket, for tests that count documents in S3.
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { BSON } from 'mongodb';
import { openBundle } from '../../operator/bundle/reader.js';

/** Every key under `prefix`, across listing pages. */
export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** `_id`s (hex) of every document in the bundles under `prefix` (repeats kept), sorted; read with the verifying reader. */
export async function archivedIds(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const b = await openBundle(r.Body as Readable, { key });
    for await (const d of b.documents()) ids.push((BSON.deserialize(d)._id as BSON.ObjectId).toHexString());
  }
  return ids.sort();
}

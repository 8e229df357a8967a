// `npm run bench:restore`: restore throughput (gochive restore: download + verify + decode + insert)
// against a baseline — the mongodb driver's insertMany of the same documents, already decoded in memory —
// in one run, on the local test servers (FerretDB + versitygw; `make testenv-up` first). Prints figures,
// asserts nothing. BENCH_DOCS (default 50000) and BENCH_DOC_BYTES (default 1024) size the run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { BSON, MongoClient, type Document } from 'mongodb';
import { bundleKey, newBundleId } from '../../operator/bundle/keys.js';
import { PayloadHasher, writeBundleFile } from '../../operator/bundle/writer.js';
import { decodeExact } from '../../operator/restore/documents.js';
import { restore } from '../../operator/restore/restore.js';
import { verifyBundle } from '../../operator/restore/verify-bundle.js';
import { selectBundles } from '../../operator/restore/catalog.js';
import { S3Destination } from '../../operator/storage/s3.js';
import { mongoServerLabel, testEnv, uniqueName } from '../support/testenv.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 50_000);
const DOC_BYTES = Number(process.env.BENCH_DOC_BYTES ?? 1024);
const PER_BUNDLE = 10_000;
const BATCH = 1000;

function makeDoc(i: number): Buffer {
  const base = {
    _id: new BSON.ObjectId(),
    createdAt: new Date(Date.UTC(2023, 0, 1) + i * 1000),
    n: new BSON.Int32(i),
    user: `user-${i % 977}`,
    tags: ['a', 'b', 'c'],
    amount: new BSON.Double(i * 1.5),
  };
  const size = BSON.calculateObjectSize(base);
  return Buffer.from(BSON.serialize({ ...base, pad: 'x'.repeat(Math.max(0, DOC_BYTES - size - 12)) }));
}

async function main(): Promise<void> {
  const env = testEnv();
  const creds = { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey };
  const s3 = new S3Client({
    region: env.s3.region,
    endpoint: env.s3.endpoint,
    forcePathStyle: true,
    credentials: creds,
  });
  const bucket = uniqueName('gochive-bench');
  const dbName = uniqueName('bench').replace(/-/g, '_');
  const dest = new S3Destination({
    kind: 's3',
    bucket,
    prefix: '',
    endpoint: env.s3.endpoint,
    region: env.s3.region,
    credentials: creds,
  });
  const mongo = new MongoClient(env.mongoUri);
  const dir = mkdtempSync(path.join(tmpdir(), 'gochive-bench-'));
  await mongo.connect();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    process.stdout.write(
      `restore benchmark: ${DOCS} documents × ~${DOC_BYTES} B, bundles of ${PER_BUNDLE}, batches of ${BATCH}\n`,
    );
    const raws: Buffer[] = [];
    for (let b = 0; b * PER_BUNDLE < DOCS; b++) {
      const docs = Array.from({ length: Math.min(PER_BUNDLE, DOCS - b * PER_BUNDLE) }, (_, j) =>
        makeDoc(b * PER_BUNDLE + j),
      );
      raws.push(...docs);
      const hasher = new PayloadHasher();
      docs.forEach((d) => hasher.addDocument(d));
      const seg = path.join(dir, 'seg.bson');
      writeFileSync(seg, Buffer.concat(docs));
      const times = docs.map((d) => BSON.deserialize(d).createdAt as Date);
      const min = times[0]!;
      const max = times[times.length - 1]!;
      const bundleId = newBundleId();
      const file = path.join(dir, 'b.tar.gz');
      const res = await writeBundleFile(
        {
          manifest: {
            bundleId,
            policy: { name: 'bench', namespace: 'bench' },
            database: dbName,
            collection: 'restored',
            archiveField: 'createdAt',
            archiveFieldFormat: 'date',
            cutoff: new Date().toISOString(),
            archiveFieldRange: { min: min.toISOString(), max: max.toISOString() },
          },
          payload: { segments: [seg], ...hasher.summary() },
          compression: { codec: 'gzip', level: 6 },
        },
        file,
      );
      const key = bundleKey('', {
        archiveFieldMin: min,
        archiveFieldMax: max,
        createdAt: new Date(),
        bundleId,
        codec: 'gzip',
      });
      const body = readFileSync(file);
      await dest.putObject(key, () => Readable.from([body]), {
        sha256Base64: res.sha256Base64,
        contentLength: res.bytes,
      });
    }
    const mb = raws.reduce((a, r) => a + r.length, 0) / 1e6;

    // Both target collections exist before any clock starts (creating one costs FerretDB time).
    await mongo.db(dbName).createCollection('restored');
    await mongo.db(dbName).createCollection('baseline');

    // Download + verify alone (no MongoDB), to show how restore time splits.
    let t = Date.now();
    const { refs } = await selectBundles(dest, {
      destination: { kind: 's3', bucket, prefix: '' },
      prefix: '',
    });
    for (const ref of refs) await verifyBundle(dest, ref);
    const verifyMs = Date.now() - t;

    // (a) gochive restore, end to end.
    t = Date.now();
    const summary = await restore({
      dest,
      selection: { destination: { kind: 's3', bucket, prefix: '' }, prefix: '' },
      mongo,
      batchSize: BATCH,
    });
    const restoreMs = Date.now() - t;
    if (summary.documents.inserted !== DOCS)
      throw new Error(`restore inserted ${summary.documents.inserted} of ${DOCS}`);

    // (b) baseline: insertMany of the same documents, decoded before the clock starts.
    const decoded: Document[] = raws.map((r) => decodeExact(r));
    const coll = mongo.db(dbName).collection('baseline');
    t = Date.now();
    for (let i = 0; i < decoded.length; i += BATCH)
      await coll.insertMany(decoded.slice(i, i + BATCH), { ordered: false });
    const baseMs = Date.now() - t;

    const rate = (ms: number): number => Math.round(DOCS / (ms / 1000));
    const lines = [
      `(a) gochive restore:             ${rate(restoreMs).toLocaleString('en-US')} docs/s  (${(mb / (restoreMs / 1000)).toFixed(1)} MB/s of BSON, ${(restoreMs / 1000).toFixed(1)} s)`,
      `    of which download + verify:  ${(verifyMs / 1000).toFixed(1)} s measured alone (${rate(verifyMs).toLocaleString('en-US')} docs/s without MongoDB)`,
      `(b) driver insertMany baseline:  ${rate(baseMs).toLocaleString('en-US')} docs/s  (${(baseMs / 1000).toFixed(1)} s, documents pre-decoded in memory)`,
      `ratio a/b: ${(baseMs / restoreMs).toFixed(2)}  (1.00 = as fast as bare insertMany)`,
      `MongoDB server: ${mongoServerLabel(testEnv().mongoServer)} (GOCHIVE_MONGO selects it; docs/testing.md#ferretdb-2).`,
      'Note: the test server is the insert bottleneck here; against MongoDB both figures rise.',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await mongo
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
    for (;;) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (!keys.length) break;
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    s3.destroy();
    await dest.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:restore failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});

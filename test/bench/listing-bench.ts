// `npm run bench:listing`: what `gochive ls/cat/verify/restore --from/--to` asks the store for, before
// (one listing of the whole prefix, then the key filter) and after ranged listing (restore/ranged-list.ts),
// for one-day ranges on a prefix of BENCH_BUNDLES (default 1,000) bundles, 10 a day, in versitygw (the
// local test server; `make testenv-up` first). Objects are tiny: listing is what is measured. One run of
// each, printed; asserts only that both select the same bundles.
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { bundleKey, keyMayOverlap, parseBundleKey } from '../../operator/bundle/keys.js';
import { selectBundles } from '../../operator/restore/catalog.js';
import { mapLimit } from '../../operator/util/map-limit.js';
import { S3Destination } from '../../operator/storage/s3.js';
import { testEnv, uniqueName } from '../support/testenv.js';

const BUNDLES = Number(process.env.BENCH_BUNDLES ?? 1000);
const PER_DAY = 10;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.UTC(2024, 0, 1);

interface Measure {
  requests: number;
  objects: number;
  ms: number;
  selected: string[];
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<void> {
  const env = testEnv();
  const creds = { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey };
  const s3 = new S3Client({
    region: env.s3.region,
    endpoint: env.s3.endpoint,
    forcePathStyle: true,
    credentials: creds,
  });
  const bucket = uniqueName('gochive-bench-list');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const keys = Array.from({ length: BUNDLES }, (_, n) => {
    const min = START + Math.floor(n / PER_DAY) * DAY + (n % PER_DAY) * 2 * HOUR;
    return bundleKey('events/', {
      archiveFieldMin: new Date(min),
      archiveFieldMax: new Date(min + HOUR),
      createdAt: new Date(min + 30 * DAY),
      bundleId: `b${String(n).padStart(12, '0')}`,
      codec: 'gzip',
    });
  });
  await mapLimit(keys, 16, (k) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'x' })));
  const days = Math.ceil(BUNDLES / PER_DAY);

  const dest = new S3Destination({
    kind: 's3',
    bucket,
    prefix: '',
    endpoint: env.s3.endpoint,
    region: env.s3.region,
    credentials: creds,
  });
  let requests = 0;
  let objects = 0;
  dest.client.middlewareStack.add(
    (next, context) => async (args) => {
      const r = await next(args);
      if (context.commandName === 'ListObjectsV2Command') {
        requests++;
        objects += (r.output as { Contents?: unknown[] }).Contents?.length ?? 0;
      }
      return r;
    },
    { step: 'initialize', name: 'countListings' },
  );
  const measure = async (fn: () => Promise<string[]>): Promise<Measure> => {
    requests = 0;
    objects = 0;
    const t = performance.now();
    const selected = await fn();
    return { requests, objects, ms: performance.now() - t, selected };
  };

  for await (const o of dest.list('events/')) void o; // warm-up: the first listing pays for connections
  process.stdout.write(
    `listing benchmark: ${BUNDLES} bundles under s3://${bucket}/events/, ${PER_DAY} a day over ${days} days, versitygw\n`,
  );
  process.stdout.write(
    'range (one day)          before: requests objects ms    after: requests objects ms   selected\n',
  );
  for (const day of [0, Math.floor(days / 2), days - 1]) {
    const from = new Date(START + day * DAY);
    const to = new Date(from.getTime() + DAY);
    const before = await measure(async () => {
      const out: string[] = [];
      for await (const o of dest.list('events/')) {
        const p = parseBundleKey(o.key);
        if (p && keyMayOverlap(p, from, to)) out.push(o.key);
      }
      return out;
    });
    const after = await measure(async () => {
      const { refs } = await selectBundles(dest, {
        destination: { kind: 's3', bucket, prefix: '' },
        prefix: 'events/',
        from,
        to,
      });
      return refs.map((r) => r.key);
    });
    if (before.selected.join() !== after.selected.join())
      throw new Error(
        `ranged listing selected other bundles than the whole listing for ${from.toISOString()}`,
      );
    const label = `${from.toISOString().slice(0, 10)} (day ${day + 1}/${days})`;
    process.stdout.write(
      `${label.padEnd(25)}${String(before.requests).padStart(16)} ${String(before.objects).padStart(7)} ${before.ms.toFixed(0).padStart(5)}` +
        `${String(after.requests).padStart(16)} ${String(after.objects).padStart(7)} ${after.ms.toFixed(0).padStart(4)}` +
        `${String(after.selected.length).padStart(11)}\n`,
    );
  }
  process.stdout.write(
    'A bundle filed before --from can reach into the range, so every folder before the range is still listed.\n',
  );
  await dest.close();
  await deleteAll(s3, bucket, keys);
  s3.destroy();
}

async function deleteAll(s3: S3Client, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
      }),
    );
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

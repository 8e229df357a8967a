// The commands of the "Restoring data" page (docs/restore.md), run as written (bucket and MongoDB swapped for the
// test servers', nothing else), against bundles of the shapes it describes.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import { repoRoot, uniqueName } from '../../support/testenv.js';
import {
  adminS3,
  CLI,
  createBucket,
  deleteBucket,
  env,
  putGochiveBundle,
  putLegacyBundle,
  s3Dest,
} from './helpers.js';

function restoringPage(): string {
  return readFileSync(path.join(repoRoot, 'docs', 'restore.md'), 'utf8');
}

describe('docs/restore.md: Restoring data', () => {
  const s3 = adminS3();
  const bucket = uniqueName('gochive-readme');
  const dbName = 'ALWAYZ_restored';
  const legacyDb = uniqueName('readme_legacy').replace(/-/g, '_');
  let dir: string;
  let mongo: MongoClient;

  beforeAll(async () => {
    await createBucket(s3, bucket);
    dir = mkdtempSync(path.join(tmpdir(), 'gochive-readme-'));
    writeFileSync(path.join(dir, 'gochive'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(path.join(dir, 'gochive'), 0o755);
    mongo = new MongoClient(env.mongoUri, { serverSelectionTimeoutMS: 10_000 });
    await mongo.connect();
    const dest = s3Dest(bucket);
    const docs = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) =>
        Buffer.from(
          BSON.serialize({
            _id: new BSON.ObjectId(),
            createdAt: new Date(from + i * 3_600_000),
            v: i,
            // Fields the page's `cat --filter` and `-o csv` examples select on (each must match some).
            status: i % 2 ? 'paid' : 'open',
            total: [new BSON.Int32(i * 10), BSON.Long.fromNumber(i * 10), new BSON.Double(i * 10 + 0.5)][
              i % 3
            ],
            customer: { city: i % 4 < 2 ? 'Oslo' : 'Lima' },
            items: [{ sku: 'A-1', qty: new BSON.Int32(i % 3) }],
            email: `u${i}@Example.com`,
            vip: i % 5 === 0,
            views: BSON.Long.fromString('9007199254740993'),
          }),
        ),
      );
    // The page's `cat --id` example finds this document (cat exits 3 when nothing matches).
    const first = docs(Date.UTC(2024, 0, 4), 72);
    const archivedAt = new Date(Date.UTC(2024, 4, 10));
    first[0] = Buffer.from(
      BSON.serialize({
        ...BSON.deserialize(first[0]!),
        _id: new BSON.ObjectId('65a1b2c3d4e5f60718293a4b'),
      }),
    );
    await putGochiveBundle(dest, {
      prefix: 'incubator/offerwall_event_log/',
      database: 'ALWAYZ',
      collection: 'offerwall_event_log',
      docs: first,
      createdAt: archivedAt, // old enough for the page's `gochive prune` (it keeps recent uploads)
    });
    await putGochiveBundle(dest, {
      prefix: 'incubator/offerwall_event_log/',
      database: 'ALWAYZ',
      collection: 'offerwall_event_log',
      docs: docs(Date.UTC(2024, 1, 4), 24),
      createdAt: archivedAt,
    });
    await putLegacyBundle(s3, bucket, 'test/', new Date(Date.UTC(2023, 8, 1)), [
      docs(Date.UTC(2023, 5, 2), 10),
      docs(Date.UTC(2023, 4, 1), 5),
    ]);
    await dest.close();
  });

  afterAll(async () => {
    await mongo
      ?.db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo
      ?.db(legacyDb)
      .dropDatabase()
      .catch(() => undefined);
    await mongo?.close();
    await deleteBucket(s3, bucket);
    s3.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every sh block runs and succeeds', async () => {
    const blocks = [...restoringPage().matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const script = blocks
      .join('\n')
      .replace(/^export MONGODB_URI=.*$/m, `export MONGODB_URI='${env.mongoUri}'`)
      .replaceAll('levit-database-archive-prod', bucket)
      .replaceAll('--to-db ALWAYZ --to-collection', `--to-db ${legacyDb} --to-collection`);
    // Everything that is not sh (e.g. the file:// mention) stays out; each command must succeed.
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: dir,
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.stderr).not.toMatch(/gochive \w+: /);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('ALWAYZ.offerwall_event_log'); // ls table
    expect(r.stdout).toContain('"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"}'); // cat --id
    expect(r.stdout).toMatch(
      /"status":"paid","total":\{"\$numberLong":"[1-9]\d*0"\},"customer":\{"city":"Oslo"\}/,
    ); // cat --filter
    expect(readFileSync(path.join(dir, 'orders.csv'), 'utf8')).toMatch(
      /^_id,createdAt,total,customer\.city,items\.0\.sku\r\n65a1b2c3d4e5f60718293a4b,2024-01-04T00:00:00\.000Z,0,Oslo,A-1\r\n/,
    ); // cat -o csv
    expect(r.stdout).toContain('would insert 24'); // dry run of 2024-01-05
    expect(r.stdout).toContain('inserted 24');
    expect(await mongo.db(dbName).collection('offerwall_event_log').countDocuments()).toBe(24);
    expect(await mongo.db(legacyDb).collection('offerwall_event_log').countDocuments()).toBe(10); // from 2023-06-01
    // The page ends with gochive prune: the dry run lists both bundles, the run removes them.
    expect(r.stdout).toMatch(/would remove 2 bundle\(s\)/);
    expect([...r.stdout.matchAll(/^REMOVED\s+\S+/gm)]).toHaveLength(2);
    expect(r.stdout).toMatch(/: removed 2 bundle\(s\)/);
  });
});

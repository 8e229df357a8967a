// gochive ls / verify / cat / restore against versitygw and FerretDB, through the compiled CLI.
// Types FerretDB cannot store (Decimal128, MinKey/MaxKey, NaN, -0.0, nested arrays, Code…) are proven
// byte-exact by the bundle writer/reader unit tests (operator/bundle/bundle.test.ts).
import { readFileSync } from 'node:fs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { uniqueName } from '../../support/testenv.js';
import { assertBuilt } from '../badinput/harness.js';
import {
  adminS3,
  createBucket,
  deleteBucket,
  env,
  gochive,
  putGochiveBundle,
  putLegacyBundle,
  putRaw,
  s3Dest,
} from './helpers.js';
import type { S3Destination } from '../../../operator/storage/s3.js';

const { ObjectId, Int32, Long, Double, Binary, Timestamp, BSONRegExp, UUID } = BSON;
const DAY = 86_400_000;
const BASE = Date.UTC(2024, 0, 1);

/** Documents with every BSON type FerretDB stores exactly, spread one per hour from BASE. */
function makeDocs(n: number, startIndex = 0): Buffer[] {
  return Array.from({ length: n }, (_, j) => {
    const i = startIndex + j;
    return Buffer.from(
      BSON.serialize({
        _id:
          i % 5 === 0
            ? `s-${i}`
            : i % 5 === 1
              ? new Int32(i)
              : i % 5 === 2
                ? Long.fromNumber(i)
                : new ObjectId(i.toString(16).padStart(24, '0')),
        createdAt: new Date(BASE + i * 3_600_000),
        int: new Int32(-i),
        long: Long.fromString('9223372036854775807'),
        dbl: new Double(i + 0.25),
        dblWhole: new Double(2),
        bin0: new Binary(Buffer.from([0, 1, i & 255]), 0),
        uuid: new UUID('0f8fad5b-d9cb-469f-a165-70867728950e').toBinary(),
        md5: new Binary(Buffer.alloc(16, 7), 5),
        custom: new Binary(Buffer.from('x'), 0x80),
        ts: new Timestamp({ t: 1700000000 + i, i: 3 }),
        re: new BSONRegExp('^a.b$', 'i'),
        nested: { a: [1, { b: 'two', c: [new Int32(3), null] }], d: { e: true } },
        nul: null,
        str: `héllo ${i}`,
      }),
    );
  });
}

describe('restore, ls, verify, cat', () => {
  const s3: S3Client = adminS3();
  const bucket = uniqueName('gochive-restore');
  const dbName = uniqueName('restore').replace(/-/g, '_');
  let mongo: MongoClient;
  let dest: S3Destination;
  const docsA = makeDocs(300, 0); // 2024-01-01 .. 2024-01-13
  const docsB = makeDocs(300, 24 * 40); // from 2024-02-10
  let keyA: string;
  let keyB: string;
  let tmp: string;

  beforeAll(async () => {
    // The CLI runs from dist/: build it when missing or stale (a plain jest run does not build first).
    assertBuilt('cli/main');
    await createBucket(s3, bucket);
    dest = s3Dest(bucket);
    mongo = new MongoClient(env.mongoUri, { serverSelectionTimeoutMS: 10_000 });
    await mongo.connect();
    keyA = await putGochiveBundle(dest, {
      prefix: 'main/',
      database: 'shop',
      collection: 'events',
      docs: docsA,
    });
    keyB = await putGochiveBundle(dest, {
      prefix: 'main/',
      database: 'shop',
      collection: 'events',
      docs: docsB,
    });
    tmp = mkdtempSync(path.join(tmpdir(), 'gochive-restore-test-'));
  });

  afterAll(async () => {
    await mongo
      ?.db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo
      ?.db(`${dbName}_b`)
      .dropDatabase()
      .catch(() => undefined);
    await mongo?.close();
    await dest?.close();
    await deleteBucket(s3, bucket);
    s3.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  const src = (prefix: string) => ['--bucket', `s3://${bucket}/${prefix}`];

  async function rawById(coll: string): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for await (const raw of mongo.db(dbName).collection(coll).find({}, { raw: true })) {
      const b = Buffer.from(raw as unknown as Uint8Array);
      out.set(
        BSON.EJSON.stringify({ v: BSON.deserialize(b, { promoteValues: false })._id }, { relaxed: false }),
        b,
      );
    }
    return out;
  }
  const idOf = (raw: Buffer): string =>
    BSON.EJSON.stringify({ v: BSON.deserialize(raw, { promoteValues: false })._id }, { relaxed: false });

  test('ls lists bundles with manifests (table and json) and filters by time from the keys', async () => {
    const json = await gochive(['ls', ...src('main/'), '-o', 'json']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as {
      key: string;
      documents: number;
      database: string;
      collection: string;
      archiveFieldMin: string;
    }[];
    expect(rows.map((r) => r.key)).toEqual([keyA, keyB]);
    expect(rows[0]).toMatchObject({
      database: 'shop',
      collection: 'events',
      documents: 300,
      archiveFieldMin: '2024-01-01T00:00:00.000Z',
      format: 'gochive',
    });
    const table = await gochive(['ls', ...src('main/')]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/NAMESPACE/);
    expect(table.stdout).toContain('shop.events');
    expect(table.stdout).toContain('2 bundle(s), 600 document(s)');
    const feb = await gochive(['ls', ...src('main/'), '--from', '2024-02-01', '-o', 'json']);
    expect((JSON.parse(feb.stdout) as { key: string }[]).map((r) => r.key)).toEqual([keyB]);
    const none = await gochive(['ls', ...src('main/'), '--from', '2030-01-01']);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain(`no bundles in s3://${bucket}/main/ with archive-field time in [2030-`);
  });

  test('restore: byte-identical documents, counts equal; a second run inserts 0', async () => {
    const r1 = await gochive([
      'restore',
      ...src('main/'),
      '--to-db',
      dbName,
      '--to-collection',
      'all',
      '-o',
      'json',
    ]);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const s1 = JSON.parse(r1.stdout);
    expect(s1.documents).toMatchObject({ read: 600, inserted: 600, skippedExisting: 0, failed: 0 });
    expect(s1.bundles).toMatchObject({ selected: 2, restored: 2, corrupt: 0 });
    const back = await rawById('all');
    expect(back.size).toBe(600);
    for (const d of [...docsA, ...docsB]) expect(back.get(idOf(d))?.equals(d)).toBe(true);

    const r2 = await gochive(['restore', ...src('main/'), '--to-db', dbName, '--to-collection', 'all']);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain('inserted 0, skipped 600 (_id already present)');
    expect(await mongo.db(dbName).collection('all').countDocuments()).toBe(600);
  });

  test('restore by time range, into another namespace; dry run writes nothing', async () => {
    // 2024-01-05T00:00Z .. 2024-01-06T00:00Z: docs 96..119 of bundle A.
    const args = [
      ...src('main/'),
      '--from',
      '2024-01-05',
      '--to',
      '2024-01-06T00:00:00Z',
      '--to-db',
      `${dbName}_b`,
      '--to-collection',
      'slice',
    ];
    const dry = await gochive(['restore', ...args, '--dry-run', '-o', 'json']);
    expect(dry.code).toBe(0);
    const sd = JSON.parse(dry.stdout);
    expect(sd.dryRun).toBe(true);
    expect(sd.documents).toMatchObject({ inserted: 24, outOfRange: 276 });
    expect(sd.bundles.selected).toBe(1); // bundle B never even downloaded: its key is out of range
    expect(await mongo.db(`${dbName}_b`).collection('slice').countDocuments()).toBe(0);

    const real = await gochive(['restore', ...args, '-o', 'json']);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout).documents).toMatchObject({ inserted: 24, skippedExisting: 0 });
    const ids = (
      await mongo
        .db(`${dbName}_b`)
        .collection('slice')
        .find({}, { projection: { createdAt: 1 } })
        .toArray()
    ).map((d) => (d.createdAt as Date).getTime());
    expect(ids.length).toBe(24);
    expect(Math.min(...ids)).toBe(BASE + 4 * DAY);
    expect(Math.max(...ids)).toBe(BASE + 5 * DAY - 3_600_000);
    const dryAgain = await gochive(['restore', ...args, '--dry-run']);
    expect(dryAgain.stdout).toContain('would insert 0, skipped 24');
  });

  test('cat prints canonical Extended JSON, filterable by _id and time', async () => {
    const all = await gochive(['cat', ...src('main/'), '--to', '2024-01-01T03:00:00Z']);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines.length).toBe(3);
    const first = BSON.EJSON.parse(lines[0]!, { relaxed: false });
    expect(Buffer.from(BSON.serialize(first)).equals(docsA[0]!)).toBe(true);
    expect(lines[1]).toContain('"_id":{"$numberInt":"1"}');
    const byId = await gochive(['cat', ...src('main/'), '--id', '{"$numberLong":"2"}', '--id', 's-5']);
    expect(
      byId.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)._id),
    ).toEqual([{ $numberLong: '2' }, 's-5']);
  });

  test('original-format bundles work in ls, verify, cat and restore', async () => {
    const legacyDocs = makeDocs(50, 5000);
    const key = await putLegacyBundle(s3, bucket, 'legacy/', new Date(Date.UTC(2024, 3, 1, 12, 0, 0)), [
      legacyDocs.slice(0, 20),
      legacyDocs.slice(20),
    ]);
    const ls = await gochive(['ls', ...src('legacy/'), '-o', 'json']);
    expect(JSON.parse(ls.stdout)).toEqual([
      { key, format: 'legacy', size: expect.any(Number), createdAt: '2024-04-01T12:00:00.000Z' },
    ]);
    const verify = await gochive(['verify', ...src('legacy/')]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(`OK       ${key}  50 docs`);
    const cat = await gochive(['cat', ...src('legacy/')]);
    expect(cat.stdout.trim().split('\n').length).toBe(50);
    const noTarget = await gochive(['restore', ...src('legacy/')]);
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr).toContain('pass --to-db and --to-collection');
    const r = await gochive([
      'restore',
      ...src('legacy/'),
      '--to-db',
      dbName,
      '--to-collection',
      'legacy',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).documents).toMatchObject({ inserted: 50, failed: 0 });
    const back = await rawById('legacy');
    for (const d of legacyDocs) expect(back.get(idOf(d))?.equals(d)).toBe(true);
  });

  test('corrupt bundles: verify names both keys; restore skips or stops per --on-corrupt', async () => {
    const good = await putGochiveBundle(dest, {
      prefix: 'bad/',
      database: 'shop',
      collection: 'events',
      docs: makeDocs(100, 20000),
    });
    const goodBytes = Buffer.concat(
      await (async () => {
        const parts: Buffer[] = [];
        for await (const c of await dest.getObject(good)) parts.push(c as Buffer);
        return parts;
      })(),
    );
    // Keys sorting before the good one, so a stopping restore meets them first.
    const flippedKey = good
      .replace(/_([0-9a-z]+)\.tar\.gz$/, '_0flipped.tar.gz')
      .replace(/(\d{8}T\d{9}Z)_/, '20000101T000000000Z_')
      .replace(/bad\/\d{4}\/\d{2}\/\d{2}\//, 'bad/2000/01/01/');
    const truncKey = flippedKey.replace('0flipped', '1truncated');
    const flipped = Buffer.from(goodBytes);
    flipped[Math.floor(flipped.length * 0.6)]! ^= 0x10;
    await putRaw(s3, bucket, flippedKey, flipped);
    await putRaw(s3, bucket, truncKey, goodBytes.subarray(0, Math.floor(goodBytes.length * 0.7)));

    const v = await gochive(['verify', ...src('bad/')]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`CORRUPT  ${flippedKey}`);
    expect(v.stdout).toContain(`CORRUPT  ${truncKey}`);
    expect(v.stdout).toContain(`OK       ${good}`);
    expect(v.stdout).toMatch(/3 bundle\(s\) checked, 100 document\(s\), 2 bad/);

    const stop = await gochive(['restore', ...src('bad/'), '--to-db', dbName, '--to-collection', 'bad_stop']);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain(flippedKey);
    expect(stop.stderr).toContain('--on-corrupt skip');
    expect(await mongo.db(dbName).collection('bad_stop').countDocuments()).toBe(0);

    const skip = await gochive([
      'restore',
      ...src('bad/'),
      '--to-db',
      dbName,
      '--to-collection',
      'bad_skip',
      '--on-corrupt',
      'skip',
      '-o',
      'json',
    ]);
    if (!skip.stdout) throw new Error(`restore --on-corrupt skip printed no summary; stderr: ${skip.stderr}`);
    expect(skip.code).toBe(1); // corrupt bundles are never a silent success
    const s = JSON.parse(skip.stdout);
    expect(s.bundles).toMatchObject({ restored: 1, corrupt: 2 });
    expect(s.corrupt.map((c: { key: string }) => c.key).sort()).toEqual([flippedKey, truncKey].sort());
    expect(await mongo.db(dbName).collection('bad_skip').countDocuments()).toBe(100);
  });

  test('an interrupted restore, rerun, completes without duplicates (and the checkpoint skips finished bundles)', async () => {
    const many = makeDocs(3000, 40000);
    await putGochiveBundle(dest, {
      prefix: 'big/',
      database: 'shop',
      collection: 'events',
      docs: many.slice(0, 1500),
    });
    await putGochiveBundle(dest, {
      prefix: 'big/',
      database: 'shop',
      collection: 'events',
      docs: many.slice(1500),
    });
    const checkpoint = path.join(tmp, 'checkpoint');
    const args = [
      'restore',
      ...src('big/'),
      '--to-db',
      dbName,
      '--to-collection',
      'resumed',
      '--checkpoint',
      checkpoint,
    ];
    let pid = 0;
    const running = gochive([...args, '--max-docs-per-second', '300'], { onSpawn: (p) => (pid = p) });
    const coll = mongo.db(dbName).collection('resumed');
    const deadline = Date.now() + 60_000;
    while ((await coll.countDocuments()) < 1700 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    process.kill(pid, 'SIGKILL');
    const killed = await running;
    expect(killed.code).toBeNull();
    const partial = await coll.countDocuments();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(3000);
    expect(readFileSync(checkpoint, 'utf8').trim().split('\n').length).toBe(1); // first bundle finished

    const rerun = await gochive([...args, '-o', 'json']);
    expect(rerun.code).toBe(0);
    const s = JSON.parse(rerun.stdout);
    expect(s.bundles).toMatchObject({ alreadyDone: 1, restored: 1 });
    expect(s.documents.inserted + s.documents.skippedExisting).toBe(1500);
    expect(await coll.countDocuments()).toBe(3000);
    const ids = await coll.distinct('_id');
    expect(ids.length).toBe(3000);
  });

  test('SIGTERM stops cleanly after the batch in flight: summary printed, temp files removed; a rerun finishes', async () => {
    const work = mkdtempSync(path.join(tmp, 'sigterm-'));
    const args = [
      'restore',
      ...src('big/'),
      '--to-db',
      dbName,
      '--to-collection',
      'sigterm',
      '--tmp-dir',
      work,
      '-o',
      'json',
    ];
    let pid = 0;
    const running = gochive([...args, '--max-docs-per-second', '500'], { onSpawn: (p) => (pid = p) });
    const coll = mongo.db(dbName).collection('sigterm');
    const deadline = Date.now() + 60_000;
    while ((await coll.countDocuments()) < 300 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    process.kill(pid, 'SIGTERM');
    const stopped = await running;
    expect(stopped.code).toBe(1);
    const s = JSON.parse(stopped.stdout);
    expect(s.stopped).toContain('interrupted');
    expect(s.documents.inserted).toBeLessThan(3000);
    expect(readdirSync(work)).toEqual([]);
    const rerun = await gochive(args);
    expect(rerun.code).toBe(0);
    expect(await coll.countDocuments()).toBe(3000);
  });

  test('--max-docs-per-second paces inserts', async () => {
    const started = Date.now();
    const r = await gochive([
      'restore',
      ...src('main/'),
      '--to',
      '2024-01-02',
      '--to-db',
      dbName,
      '--to-collection',
      'paced',
      '--max-docs-per-second',
      '10',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).documents.inserted).toBe(24);
    expect(Date.now() - started).toBeGreaterThan(1800); // 24 docs at 10/s: at least ~2 s after the first batch
  });

  test('bad input: one clear message each', async () => {
    const missing = await gochive(['restore', '--bucket', `s3://${bucket}-nope/x/`, '--uri', env.mongoUri]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`bucket '${bucket}-nope' does not exist`));
    const secret = 'definitely-wrong-secret';
    const badCreds = await gochive(['ls', ...src('main/')], {
      env: { AWS_ACCESS_KEY_ID: 'WRONGKEY', AWS_SECRET_ACCESS_KEY: secret },
    });
    expect(badCreds.code).toBe(1);
    expect(badCreds.stderr).toContain('refused the credentials');
    expect(badCreds.stderr).not.toContain(secret);
    const empty = await gochive([
      'restore',
      ...src('main/'),
      '--from',
      '2024-02-01',
      '--to',
      '2024-01-01',
      '--uri',
      env.mongoUri,
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the range is empty');
    const nothing = await gochive([
      'restore',
      ...src('main/'),
      '--from',
      '2031-01-01',
      '--uri',
      env.mongoUri,
    ]);
    expect(nothing.code).toBe(3);
    expect(nothing.stdout).toContain('nothing to restore');
    const malformed = await gochive(['ls', '--bucket', 'http://example.com/x']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('unsupported scheme');
    const badUri = await gochive([
      'restore',
      ...src('main/'),
      '--uri',
      'mongodb://user:pw-secret@127.0.0.1:1/?serverSelectionTimeoutMS=500',
    ]);
    expect(badUri.code).toBe(1);
    expect(badUri.stderr).toContain('cannot connect to MongoDB');
    expect(badUri.stderr).not.toContain('pw-secret');
  });

  async function objectBytes(key: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of await dest.getObject(key)) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }

  test('restore never writes into admin/local/config or system.*, whether a manifest or a flag names it (I9)', async () => {
    const forgedDocs = makeDocs(5, 60000);
    const forged = await putGochiveBundle(dest, {
      prefix: 'forged/',
      database: 'admin',
      collection: 'system.users',
      docs: forgedDocs,
    });
    const honest = await putGochiveBundle(dest, {
      prefix: 'forged/',
      database: 'shop',
      collection: 'events',
      docs: makeDocs(5, 60100),
    });
    expect([forged, honest].sort()).toEqual([forged, honest]); // the forged one comes first

    const byManifest = await gochive(['restore', ...src('forged/'), '-o', 'json']);
    expect(byManifest.code).toBe(1);
    expect(byManifest.stderr).toContain(
      `bundle ${forged}: refusing to restore into admin.system.users (named by the manifest of bundle ${forged}): database: "admin" is a MongoDB system database`,
    );
    const s1 = JSON.parse(byManifest.stdout);
    expect(s1.bundles).toMatchObject({ refused: 1, restored: 0 });
    expect(s1.documents.inserted).toBe(0);
    expect(s1.targets).toEqual([]);

    // --to-db names a harmless database, but the collection still comes from the forged manifest.
    const mixed = await gochive([
      'restore',
      ...src('forged/'),
      '--to-db',
      dbName,
      '--on-corrupt',
      'skip',
      '-o',
      'json',
    ]);
    expect(mixed.code).toBe(1);
    const s2 = JSON.parse(mixed.stdout);
    expect(s2.refused).toEqual([
      {
        key: forged,
        detail: expect.stringContaining(
          `refusing to restore into ${dbName}.system.users (database from --to-db, collection from the manifest of bundle ${forged}): collection: "system.users" is a MongoDB system collection`,
        ),
      },
    ]);
    expect(s2.bundles).toMatchObject({ refused: 1, restored: 1 });
    expect(s2.targets).toEqual([`${dbName}.events`]);
    expect(await mongo.db(dbName).collection('events').countDocuments()).toBe(5);
    expect(await mongo.db(dbName).listCollections({ name: 'system.users' }).toArray()).toEqual([]);

    for (const [flag, value] of [
      ['--to-db', 'admin'],
      ['--to-db', 'local'],
      ['--to-db', 'config'],
      ['--to-collection', 'system.js'],
    ] as const) {
      const r = await gochive(['restore', ...src('main/'), flag, value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`refusing ${flag} ${value}:`);
    }
    // Original-format bundles take their target from --database/--collection too.
    await putLegacyBundle(s3, bucket, 'forged-legacy/', new Date(Date.UTC(2024, 5, 1)), [makeDocs(3, 61000)]);
    const legacy = await gochive([
      'restore',
      ...src('forged-legacy/'),
      '--database',
      'config',
      '--collection',
      'x',
    ]);
    expect(legacy.code).toBe(1);
    expect(legacy.stderr).toContain(
      'refusing to restore into config.x (named by --database and --collection)',
    );
  });

  test('verify warns when no upload checksum was recorded and fails unknown entries; restore and cat refuse them unless --allow-unknown-entries', async () => {
    // A gochive bundle copied without its checksum metadata (e.g. by a tool that drops it).
    const withSum = await putGochiveBundle(dest, {
      prefix: 'nosum-src/',
      database: 'shop',
      collection: 'events',
      docs: makeDocs(10, 62000),
    });
    const noSum = withSum.replace('nosum-src/', 'nosum/');
    await putRaw(s3, bucket, noSum, await objectBytes(withSum));
    const v1 = await gochive(['verify', ...src('nosum/')]);
    expect(v1.code).toBe(0);
    expect(v1.stdout).toContain(`OK       ${noSum}  10 docs`);
    expect(v1.stdout).toContain('warning: no SHA-256 was recorded at upload');
    expect(v1.stdout).toContain('1 bundle(s) checked, 10 document(s), 0 bad, 1 with warnings');
    const v1json = JSON.parse((await gochive(['verify', ...src('nosum/'), '-o', 'json'])).stdout);
    expect(v1json).toMatchObject({ ok: true, warnings: 1 });
    expect(v1json.bundles[0].warnings[0]).toContain('no SHA-256 was recorded at upload');
    const v0 = await gochive(['verify', ...src('nosum-src/')]);
    expect(v0.code).toBe(0);
    expect(v0.stdout).not.toContain('warning');

    // An original-format bundle with entries the original never wrote.
    const extrasDocs = makeDocs(12, 63000);
    const extras = await putLegacyBundle(
      s3,
      bucket,
      'extras/',
      new Date(Date.UTC(2024, 6, 1)),
      [extrasDocs.slice(0, 6), extrasDocs.slice(6)],
      { extraEntries: [{ name: '../../x', body: Buffer.from('not a bundle entry') }] },
    );
    const v2 = await gochive(['verify', ...src('extras/'), '-o', 'json']);
    expect(v2.code).toBe(1);
    expect(JSON.parse(v2.stdout).bundles).toEqual([
      {
        key: extras,
        ok: false,
        error: "unknown entry '../../x': original-format bundles hold only archive_<unix>.bson files",
      },
    ]);

    const args = ['restore', ...src('extras/'), '--to-db', dbName, '--to-collection', 'extras'];
    const refused = await gochive(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`bundle ${extras} is corrupt: unknown entry '../../x'`);
    expect(refused.stderr).toContain('--allow-unknown-entries');
    expect(await mongo.db(dbName).collection('extras').countDocuments()).toBe(0);
    const allowed = await gochive([...args, '--allow-unknown-entries', '-o', 'json']);
    expect(allowed.code).toBe(0);
    const s = JSON.parse(allowed.stdout);
    expect(s.documents).toMatchObject({ read: 12, inserted: 12 });
    expect(s.unknownEntries).toEqual([{ key: extras, entries: ['../../x'] }]);
    expect(allowed.stderr).toContain(`warning: ${extras}: skipped unknown entries '../../x'`);

    const cat = await gochive(['cat', ...src('extras/')]);
    expect(cat.code).toBe(1);
    expect(cat.stderr).toContain("unknown entry '../../x'");
    const catAllowed = await gochive(['cat', ...src('extras/'), '--allow-unknown-entries']);
    expect(catAllowed.code).toBe(0);
    expect(catAllowed.stdout.trim().split('\n').length).toBe(12);
  });

  test('finding nothing is exit 3 with a message naming the prefix, in ls, verify, cat and restore', async () => {
    for (const cmd of ['ls', 'verify', 'cat', 'restore']) {
      const r = await gochive([cmd, ...src('mian/')]);
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 3 });
      expect(r.stderr).toContain(`gochive ${cmd}: nothing to`);
      expect(r.stderr).toContain(`no bundles in s3://${bucket}/mian/`);
    }
    // Bundles exist, but the manifest filter matches none of them.
    const wrongDb = await gochive(['verify', ...src('main/'), '--database', 'nope']);
    expect(wrongDb.code).toBe(3);
    expect(wrongDb.stderr).toContain(`no bundles in s3://${bucket}/main/ (database nope)`);
    const wrongDbRestore = await gochive(['restore', ...src('main/'), '--database', 'nope']);
    expect(wrongDbRestore.code).toBe(3);
    const json = await gochive(['verify', ...src('mian/'), '-o', 'json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, bundles: [] });
    // cat: bundles, but no document matches --id.
    const noId = await gochive(['cat', ...src('main/'), '--id', 'no-such-id']);
    expect(noId.code).toBe(3);
    expect(noId.stderr).toContain(
      `nothing to print: no document in 2 bundle(s) of s3://${bucket}/main/ matched --id`,
    );
  });

  test('--dry-run counts repeats within the restore as the real run skips them', async () => {
    // The original tool's bundles often hold a document several times, within and across bundles.
    const d = makeDocs(15, 64000);
    await putLegacyBundle(s3, bucket, 'repeats/', new Date(Date.UTC(2024, 7, 1)), [
      d.slice(0, 10),
      [...d.slice(0, 10), d[3]!],
    ]);
    await putLegacyBundle(s3, bucket, 'repeats/', new Date(Date.UTC(2024, 7, 2)), [d.slice(5, 15)]);
    // 31 documents read, 15 distinct _ids; 3 of them are already in the target.
    await mongo
      .db(dbName)
      .collection('repeats')
      .insertMany([0, 7, 14].map((i) => BSON.deserialize(d[i]!, { promoteValues: false })));
    const args = [
      'restore',
      ...src('repeats/'),
      '--to-db',
      dbName,
      '--to-collection',
      'repeats',
      '--batch-size',
      '4',
      '-o',
      'json',
    ];
    const dry = await gochive([...args, '--dry-run']);
    expect(dry.code).toBe(0);
    const sd = JSON.parse(dry.stdout);
    expect(sd.documents).toMatchObject({ read: 31, inserted: 12, skippedExisting: 19 });
    expect(sd.dryRunRepeatsCapped).toBeUndefined();
    expect(await mongo.db(dbName).collection('repeats').countDocuments()).toBe(3);
    const real = await gochive(args);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout).documents).toMatchObject({ read: 31, inserted: 12, skippedExisting: 19 });
    expect(await mongo.db(dbName).collection('repeats').countDocuments()).toBe(15);
  });
});

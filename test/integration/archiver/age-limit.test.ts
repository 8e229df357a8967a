// 50k documents spread over 200 days, ageLimit 92d: exactly the older ones leave MongoDB, every one of
// them is in S3 byte-identical to a snapshot taken before, and the newer ones are untouched.
import { BSON } from 'mongodb';
import {
  DAY,
  idKey,
  insertAll,
  policy,
  readBundles,
  runOnce,
  sandbox,
  snapshotRaw,
  type Sandbox,
} from './helpers.js';

const TOTAL = Number(process.env.GOCHIVE_TEST_AGE_DOCS ?? 50_000);

describe('archiver: age limit', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_age');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test(`${TOTAL} documents over 200 days, ageLimit 92d`, async () => {
    const now = Date.now();
    const docs = Array.from({ length: TOTAL }, (_, i) => ({
      _id: new BSON.ObjectId(),
      // Spread evenly over 200 days, newest first; avoid the exact cutoff instant.
      createdAt: new Date(now - Math.floor((i / TOTAL) * 200 * DAY) - 1000),
      seq: i,
      payload: {
        user: `u${i % 977}`,
        amount: new BSON.Int32(i % 1000),
        big: BSON.Long.fromNumber(i * 1e6),
        score: i / 7,
      },
    }));
    await insertAll(sb.db, 'events', docs);
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    const cutoff = now - 92 * DAY;
    const before = await snapshotRaw(sb.db, 'events');
    const expectedOld = new Set(docs.filter((d) => d.createdAt.getTime() < cutoff).map((d) => idKey(d)));
    expect(expectedOld.size).toBeGreaterThan(TOTAL * 0.5);

    const cfg = policy(sb, { queryLimit: 5000, bundle: { maxDocuments: 10_000 } });
    const t0 = Date.now();
    const { worker, errors } = await runOnce(cfg, sb.spoolRoot, {}, {}, 800_000);
    const seconds = (Date.now() - t0) / 1000;
    const snap = worker.snapshot();
    expect(errors).toEqual([]);
    expect(snap.state).toBe('Stopped');
    expect(snap.totals.documentsArchived).toBe(expectedOld.size);
    expect(snap.totals.documentsDeleted).toBe(expectedOld.size);
    expect(snap.totals.duplicatesUploaded).toBe(0);
    process.stderr.write(
      `age-limit: ${TOTAL} docs, ${expectedOld.size} archived in ${seconds.toFixed(1)} s; ${JSON.stringify(worker.statistics())}\n`,
    );

    // MongoDB: exactly the newer documents remain, unchanged.
    const after = await snapshotRaw(sb.db, 'events');
    expect(after.size).toBe(TOTAL - expectedOld.size);
    for (const [id, raw] of after) {
      expect(expectedOld.has(id)).toBe(false);
      expect(raw.equals(before.get(id)!)).toBe(true);
    }

    // S3: every old document exactly once, byte-identical.
    const bundles = await readBundles(sb.s3, sb.bucket, 'archive/');
    expect(bundles.length).toBeGreaterThanOrEqual(Math.ceil(expectedOld.size / 10_000));
    const seen = new Set<string>();
    for (const b of bundles) {
      expect(b.manifest.documentCount).toBe(b.docs.length);
      expect(b.manifest.database).toBe(sb.dbName);
      for (const d of b.docs) {
        const id = idKey(d);
        expect(seen.has(id)).toBe(false);
        seen.add(id);
        expect(expectedOld.has(id)).toBe(true);
        expect(d.equals(before.get(id)!)).toBe(true);
      }
    }
    expect(seen.size).toBe(expectedOld.size);
  }, 900_000);
});

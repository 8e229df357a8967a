// Keyset paging: ties on the archive field across many batches, and mixed `_id` types (which MongoDB
// compares by type bracket) — none skipped, none doubled.
import { BSON, type Document } from 'mongodb';
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

describe('archiver: keyset paging', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_page');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  async function archiveAndCheck(
    coll: string,
    docs: Document[],
    spec: Record<string, unknown>,
    name: string,
  ): Promise<void> {
    await insertAll(sb.db, coll, docs);
    await sb.db.collection(coll).createIndex({ createdAt: 1 });
    const before = await snapshotRaw(sb.db, coll);
    const { worker, errors } = await runOnce(policy(sb, { collection: coll, ...spec }, name), sb.spoolRoot);
    expect(errors).toEqual([]);
    const snap = worker.snapshot();
    expect(snap.totals.documentsArchived).toBe(docs.length);
    expect(snap.totals.documentsDeleted).toBe(docs.length);
    expect(await sb.db.collection(coll).countDocuments()).toBe(0);
    const bundles = await readBundles(sb.s3, sb.bucket, 'archive/');
    const mine = bundles.filter((b) => b.manifest.collection === coll);
    const seen = new Map<string, number>();
    for (const b of mine) for (const d of b.docs) seen.set(idKey(d), (seen.get(idKey(d)) ?? 0) + 1);
    const doubled = [...seen].filter(([, n]) => n > 1);
    const missing = [...before.keys()].filter((k) => !seen.has(k));
    expect(doubled).toEqual([]);
    expect(missing).toEqual([]);
    expect(seen.size).toBe(docs.length);
    for (const b of mine) for (const d of b.docs) expect(d.equals(before.get(idKey(d))!)).toBe(true);
  }

  test('10k documents sharing one archive-field value, queryLimit 700', async () => {
    const t = new Date(Date.now() - 200 * DAY);
    const docs: Document[] = [];
    // A few distinct values before and after the big tie group, plus small ties cut by batch limits.
    for (let i = 0; i < 150; i++)
      docs.push({ _id: new BSON.ObjectId(), createdAt: new Date(t.getTime() - 1000 * (i % 50)), i });
    for (let i = 0; i < 10_000; i++) docs.push({ _id: new BSON.ObjectId(), createdAt: t, i });
    for (let i = 0; i < 150; i++)
      docs.push({ _id: new BSON.ObjectId(), createdAt: new Date(t.getTime() + 1000 * (1 + (i % 30))), i });
    // Insertion order unrelated to _id order.
    docs.sort(() => Math.random() - 0.5);
    await archiveAndCheck('ties', docs, { queryLimit: 700, bundle: { maxDocuments: 3000 } }, 'ties');
  }, 900_000);

  test('mixed _id types (ObjectId, string, int, long, double, binary UUID, embedded document) sharing archive-field values', async () => {
    const t = Date.now() - 100 * DAY;
    const ids: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      ids.push(new BSON.ObjectId());
      ids.push(`s-${i}`);
      ids.push(new BSON.Int32(i));
      ids.push(BSON.Long.fromNumber(1000 + i));
      ids.push(2000.5 + i);
      ids.push(new BSON.Binary(Buffer.from(BSON.UUID.generate()), 4));
      ids.push({ tenant: `t${i % 3}`, seq: new BSON.Int32(i) });
      ids.push(new Date(1e12 + i));
    }
    // Three archive-field values only: every page boundary falls inside a tie group spanning all types.
    const docs = ids.map((_id, i) => ({ _id, createdAt: new Date(t + (i % 3) * 1000), n: i }));
    docs.sort(() => Math.random() - 0.5);
    await archiveAndCheck('mixed', docs, { queryLimit: 7 }, 'mixed');
  }, 600_000);
});

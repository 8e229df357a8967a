// What qualifies, and the re-check at delete time (I2): documents without the archive field or with a
// wrong-typed value are never archived and are counted; a document modified between fetch and delete
// so that it no longer qualifies is not deleted; guard fields; filter; epoch and ObjectId formats;
// the index check; dry run.
import { BSON, type Document } from 'mongodb';
import { DAY, idKey, insertAll, policy, readBundles, runOnce, sandbox, type Sandbox } from './helpers.js';

type NumDoc = { _id: number } & Document;

describe('archiver: eligibility', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_elig');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  const old = () => new Date(Date.now() - 200 * DAY);
  const fresh = () => new Date(Date.now() - 1 * DAY);

  async function idsInBundles(coll: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (const b of await readBundles(sb.s3, sb.bucket, 'archive/')) {
      if (b.manifest.collection === coll) for (const d of b.docs) out.add(idKey(d));
    }
    return out;
  }

  test('missing field, string date, null (counted) and array values (not counted: it would need a scan) are never archived', async () => {
    const coll = 'inelig';
    await insertAll(sb.db, coll, [
      ...Array.from({ length: 30 }, (_, i) => ({ _id: `ok-${i}`, createdAt: old() })),
      ...Array.from({ length: 5 }, (_, i) => ({ _id: `fresh-${i}`, createdAt: fresh() })),
      ...Array.from({ length: 4 }, (_, i) => ({ _id: `missing-${i}` })),
      ...Array.from({ length: 3 }, (_, i) => ({ _id: `string-${i}`, createdAt: '2001-01-01T00:00:00Z' })),
      { _id: 'null', createdAt: null },
      { _id: 'array', createdAt: [old(), old()] },
      { _id: 'number', createdAt: 12345 },
    ]);
    await sb.db.collection(coll).createIndex({ createdAt: 1 });
    const { worker, errors } = await runOnce(
      policy(sb, { collection: coll, queryLimit: 8 }, 'inelig'),
      sb.spoolRoot,
    );
    expect(errors).toEqual([]);
    const snap = worker.snapshot();
    expect(snap.totals.documentsArchived).toBe(30);
    expect(snap.totals.documentsIneligible).toBe(4 + 3 + 1 + 1); // missing, string, null, number
    const left = (
      await sb.db
        .collection(coll)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((d) => String(d._id))
      .sort();
    expect(left).toEqual(
      [
        'array',
        'fresh-0',
        'fresh-1',
        'fresh-2',
        'fresh-3',
        'fresh-4',
        'missing-0',
        'missing-1',
        'missing-2',
        'missing-3',
        'null',
        'number',
        'string-0',
        'string-1',
        'string-2',
      ].sort(),
    );
    const archived = await idsInBundles(coll);
    expect(archived.size).toBe(30);
    for (const id of archived) expect(id).toMatch(/ok-/);
  });

  test('a document modified between fetch and delete so it no longer qualifies is not deleted (I2)', async () => {
    const coll = 'modified';
    await insertAll(
      sb.db,
      coll,
      Array.from({ length: 50 }, (_, i) => ({ _id: i, createdAt: old(), status: 'done', v: 1 })),
    );
    await sb.db.collection(coll).createIndex({ createdAt: 1 });
    let calls = 0;
    const { worker, errors } = await runOnce(
      policy(sb, { collection: coll, filter: { status: 'done' } }, 'modified'),
      sb.spoolRoot,
      {
        beforeDelete: async () => {
          calls++;
          const c = sb.db.collection<NumDoc>(coll);
          await c.updateOne({ _id: 1 }, { $set: { createdAt: new Date() } }); // no longer old enough
          await c.updateOne({ _id: 2 }, { $set: { status: 'open' } }); // no longer matches the filter
          await c.updateOne({ _id: 3 }, { $set: { v: 2 } }); // changed, still eligible: no guard, so deleted
        },
      },
    );
    expect(errors).toEqual([]);
    expect(calls).toBeGreaterThan(0);
    const snap = worker.snapshot();
    expect(snap.totals.documentsArchived).toBe(50);
    expect(snap.totals.documentsDeleted).toBe(48);
    expect(snap.totals.documentsSkipped).toBe(2);
    const left = (await sb.db.collection<NumDoc>(coll).find({}).toArray())
      .map((d) => d._id)
      .sort((a, b) => a - b);
    expect(left).toEqual([1, 2]);
    // The two skipped documents no longer qualify, so nothing eligible is left.
    expect(snap.backlog).toBe(0);
    // 0, not absent: an absent value left the previous age in the status (hardening issue, item 9).
    expect(snap.oldestEligibleAgeSeconds).toBe(0);
  });

  test('changeGuardFields: a document whose guarded field changed since fetch is skipped', async () => {
    const coll = 'guarded';
    await insertAll(
      sb.db,
      coll,
      Array.from({ length: 20 }, (_, i) => ({ _id: i, createdAt: old(), meta: { rev: new BSON.Int32(1) } })),
    );
    await sb.db.collection(coll).createIndex({ createdAt: 1 });
    const { worker, errors } = await runOnce(
      policy(sb, { collection: coll, changeGuardFields: ['meta.rev', 'missing.field'] }, 'guarded'),
      sb.spoolRoot,
      {
        beforeDelete: async () => {
          await sb.db.collection<NumDoc>(coll).updateOne({ _id: 7 }, { $set: { 'meta.rev': 2 } });
          await sb.db
            .collection<NumDoc>(coll)
            .updateOne({ _id: 8 }, { $set: { 'missing.field': 'now set' } });
        },
      },
    );
    expect(errors).toEqual([]);
    expect(worker.snapshot().totals.documentsDeleted).toBe(18);
    expect(worker.snapshot().totals.documentsSkipped).toBe(2);
    const left = (await sb.db.collection<NumDoc>(coll).find({}).toArray())
      .map((d) => d._id)
      .sort((a, b) => a - b);
    expect(left).toEqual([7, 8]);
  });

  test.each([
    ['epochSeconds', (ms: number) => Math.floor(ms / 1000)],
    ['epochMillis', (ms: number) => BSON.Long.fromNumber(ms)],
    // Int64 nanoseconds no double holds exactly (…123457 past the millisecond).
    ['epochNanos', (ms: number) => BSON.Long.fromBigInt(BigInt(ms) * 1_000_000n + 123_457n)],
  ] as const)('archive field format %s', async (format, encode) => {
    const coll = `fmt_${format}`;
    const docs: Document[] = [];
    for (let i = 0; i < 40; i++) docs.push({ _id: i, ts: encode(Date.now() - (i < 25 ? 120 : 10) * DAY) });
    docs.push({ _id: 'date', ts: old() }); // wrong type for an epoch format
    await insertAll(sb.db, coll, docs);
    await sb.db.collection(coll).createIndex({ ts: 1 });
    const { worker, errors } = await runOnce(
      policy(
        sb,
        { collection: coll, archiveField: 'ts', archiveFieldFormat: format, queryLimit: 10 },
        `fmt-${format.toLowerCase()}`,
      ),
      sb.spoolRoot,
    );
    expect(errors).toEqual([]);
    expect(worker.snapshot().totals.documentsArchived).toBe(25);
    expect(worker.snapshot().totals.documentsIneligible).toBe(1);
    expect(await sb.db.collection(coll).countDocuments()).toBe(16);
  });

  test('archive field format objectId: _id carries the age', async () => {
    const coll = 'fmt_oid';
    const docs: Document[] = [];
    for (let i = 0; i < 30; i++)
      docs.push({
        _id: BSON.ObjectId.createFromTime(Math.floor((Date.now() - (i < 12 ? 100 : 5) * DAY) / 1000) + i),
        i,
      });
    docs.push({ _id: 'not-an-objectid', i: -1 });
    await insertAll(sb.db, coll, docs);
    const { worker, errors } = await runOnce(
      policy(
        sb,
        { collection: coll, archiveField: '_id', archiveFieldFormat: 'objectId', queryLimit: 5 },
        'fmt-oid',
      ),
      sb.spoolRoot,
    );
    expect(errors).toEqual([]);
    expect(worker.snapshot().totals.documentsArchived).toBe(12);
    expect(worker.snapshot().totals.documentsIneligible).toBe(1);
    expect(await sb.db.collection(coll).countDocuments()).toBe(19);
  });

  test('no index on the archive field: Blocked with the index to create; allowCollectionScan runs', async () => {
    const coll = 'noindex';
    await insertAll(
      sb.db,
      coll,
      Array.from({ length: 10 }, (_, i) => ({ _id: i, createdAt: old() })),
    );
    const { worker } = await runOnce(policy(sb, { collection: coll }, 'noindex'), sb.spoolRoot);
    const snap = worker.snapshot();
    expect(snap.state).toBe('Blocked');
    expect(snap.reason).toBe('MissingIndex');
    expect(snap.message).toContain('.noindex.createIndex({ "createdAt": 1 })');
    expect(await sb.db.collection(coll).countDocuments()).toBe(10);

    const second = await runOnce(
      policy(sb, { collection: coll, allowCollectionScan: true }, 'noindex'),
      sb.spoolRoot,
    );
    expect(second.worker.snapshot().state).toBe('Stopped');
    expect(second.worker.snapshot().totals.documentsDeleted).toBe(10);
  });

  test('dryRun archives and uploads but never deletes; a second dry run does not archive again', async () => {
    const coll = 'dry';
    await insertAll(
      sb.db,
      coll,
      Array.from({ length: 25 }, (_, i) => ({ _id: i, createdAt: old() })),
    );
    await sb.db.collection(coll).createIndex({ createdAt: 1 });
    const cfg = policy(sb, { collection: coll, dryRun: true, queryLimit: 10 }, 'dry');
    const first = await runOnce(cfg, sb.spoolRoot);
    expect(first.worker.snapshot().totals.documentsArchived).toBe(25);
    expect(first.worker.snapshot().totals.documentsDeleted).toBe(0);
    // Nothing deleted: the backlog estimate still sees all of them, the oldest ~200 days old.
    expect(first.worker.snapshot().backlog).toBe(25);
    expect(first.worker.snapshot().oldestEligibleAgeSeconds).toBeGreaterThan(199 * 86_400);
    expect(await sb.db.collection(coll).countDocuments()).toBe(25);
    const second = await runOnce(cfg, sb.spoolRoot);
    expect(second.worker.snapshot().totals.documentsArchived).toBe(0);
    expect((await idsInBundles(coll)).size).toBe(25);
  });
});

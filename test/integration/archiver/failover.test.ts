// A policy moves between replicas, each with its own spool; their ledger (the policy status in the
// operator) is shared — here a FileLedgerStore in a directory both use. Chaos finding 4 and issue I8:
// a replica that comes back must not upload what it spooled before the move (the other replica archived
// those documents meanwhile), and a replica that takes over with an EMPTY spool finishes the bundles the
// ledger lists, reading their `_id`s from the bucket: no document twice in S3, exact totals.
import { FileLedgerStore } from '../../../operator/archiver/ledger.js';
import { Worker } from '../../../operator/archiver/worker.js';
import { testEnv } from '../../support/testenv.js';
import {
  DAY,
  idKey,
  insertAll,
  policy,
  readBundles,
  runUntilDelete,
  runWorker,
  sandbox,
  testLogger,
  type Sandbox,
  until,
} from './helpers.js';
import path from 'node:path';

const N = 40;

async function seedDocs(sb: Sandbox): Promise<void> {
  const at = Date.now() - 100 * DAY;
  await insertAll(
    sb.db,
    'events',
    Array.from({ length: N }, (_, i) => ({ _id: i, createdAt: new Date(at + i), payload: `doc ${i}` })),
  );
  await sb.db.collection('events').createIndex({ createdAt: 1 });
}

/** The policy's ledger, shared by every "replica" of a test (the status, in the operator). */
const shared = (sb: Sandbox) => FileLedgerStore.inDir(sb.spoolRoot);

async function copiesInS3(sb: Sandbox): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const b of await readBundles(sb.s3, sb.bucket, 'archive/'))
    for (const d of b.docs) seen.set(idKey(d), (seen.get(idKey(d)) ?? 0) + 1);
  return seen;
}

/** Replica A spools every document into an open bundle (it uploads only hourly), then stops. */
async function spoolEverything(sb: Sandbox, spoolRoot: string, policyUid?: string): Promise<void> {
  const w = new Worker({
    ledger: shared(sb),
    config: policy(sb, { s3: { uploadInterval: 3600 }, archiveCheckInterval: 1800 }),
    mongoUri: testEnv().mongoUri,
    spoolRoot,
    logger: testLogger(),
    ...(policyUid ? { policyUid } : {}),
  });
  const ran = w.run();
  await until('replica A to spool every document', () => w.snapshot().spooledDocuments === N);
  await w.stop();
  await ran;
}

describe('archiver: a policy that moved to another replica and back', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await sandbox('arch_failover');
  });
  afterEach(async () => {
    await sb?.cleanup();
  });

  test('bundles spooled before the move are dropped, not uploaded again', async () => {
    await seedDocs(sb);
    const spoolA = path.join(sb.spoolRoot, 'replica-a');
    const spoolB = path.join(sb.spoolRoot, 'replica-b');
    // A spools everything into an open bundle, then loses the policy.
    await spoolEverything(sb, spoolA);

    // B archives and deletes everything.
    const b = await runWorker({ config: policy(sb, {}), spoolRoot: spoolB, ledger: shared(sb) });
    expect(b.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: N });

    // A returns: its spool worked under another ledger epoch, so nothing of it reaches S3.
    const a2 = await runWorker({ config: policy(sb, {}), spoolRoot: spoolA, ledger: shared(sb) });
    expect(a2.snapshot().totals).toMatchObject({ documentsArchived: 0, bundlesUploaded: 0 });
    expect(a2.snapshot().spooledDocuments).toBe(0);
    const seen = await copiesInS3(sb);
    expect(seen.size).toBe(N);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
  }, 240_000);

  test.each(['beforeDelete', 'beforeDeleteIssue'] as const)(
    'A stops at %s; B, with an empty spool, deletes from the bundle in S3: nothing archived twice',
    async (at) => {
      await seedDocs(sb);
      const spoolA = path.join(sb.spoolRoot, 'replica-a');
      const spoolB = path.join(sb.spoolRoot, 'replica-b');
      await runUntilDelete({ config: policy(sb, {}), spoolRoot: spoolA, ledger: shared(sb) }, at);
      expect(await sb.db.collection('events').countDocuments()).toBe(N);
      expect((await shared(sb).read()).bundles.map((e) => e.state)).toEqual(['uploaded']);

      const b = await runWorker({ config: policy(sb, {}), spoolRoot: spoolB, ledger: shared(sb) });
      expect(b.statistics().recoveredBundles).toBe(1);
      expect(b.snapshot().totals).toMatchObject({
        documentsArchived: 0,
        documentsDeleted: N,
        duplicatesUploaded: 0,
      });
      expect(await sb.db.collection('events').countDocuments()).toBe(0);
      const seen = await copiesInS3(sb);
      expect(seen.size).toBe(N);
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
      const ledger = await shared(sb).read();
      expect(ledger.bundles).toEqual([]);
      expect(ledger.totals).toMatchObject({ documentsArchived: N, documentsDeleted: N, bundlesUploaded: 1 });
    },
    240_000,
  );

  test('a policy deleted and created again: bundles spooled for the old object are dropped', async () => {
    await seedDocs(sb);
    const spoolA = path.join(sb.spoolRoot, 'replica-a');
    const spoolB = path.join(sb.spoolRoot, 'replica-b');
    await spoolEverything(sb, spoolA, 'uid-1');
    const b = await runWorker({ config: policy(sb, {}), spoolRoot: spoolB, ledger: shared(sb) });
    expect(b.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: N });

    // The policy is created again (new uid, a new empty ledger: nothing says another replica ran it).
    const a2 = await runWorker({
      config: policy(sb, {}),
      spoolRoot: spoolA,
      policyUid: 'uid-2',
      ledger: FileLedgerStore.inDir(path.join(sb.spoolRoot, 'recreated')),
    });
    expect(a2.snapshot().totals).toMatchObject({ documentsArchived: 0, bundlesUploaded: 0 });
    const seen = await copiesInS3(sb);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
  }, 240_000);

  test('a dry run continues where the other replica uploads reached, in both directions', async () => {
    await seedDocs(sb);
    const spoolA = path.join(sb.spoolRoot, 'replica-a');
    const spoolB = path.join(sb.spoolRoot, 'replica-b');
    const dry = policy(sb, { dryRun: true, queryLimit: 15 });
    const a1 = await runWorker({ config: dry, spoolRoot: spoolA, ledger: shared(sb) });
    expect(a1.snapshot().totals.documentsArchived).toBe(N);
    const fromA = (await shared(sb).read()).dryRunPosition;
    expect(fromA?.mode).toBeDefined();

    // Newer old documents arrive; the policy moves to B, which has no spool of its own yet.
    const at = Date.now() - 99 * DAY;
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: 10 }, (_, i) => ({ _id: N + i, createdAt: new Date(at + i), payload: 'late' })),
    );
    const b = await runWorker({ config: dry, spoolRoot: spoolB, ledger: shared(sb) });
    expect(b.snapshot().totals.documentsArchived).toBe(10);

    // Back to A: its spool is stale (another epoch); it continues from B's position.
    await insertAll(sb.db, 'events', [{ _id: N + 10, createdAt: new Date(at + 100), payload: 'later' }]);
    const a2 = await runWorker({ config: dry, spoolRoot: spoolA, ledger: shared(sb) });
    expect(a2.snapshot().totals.documentsArchived).toBe(1);
    const seen = await copiesInS3(sb);
    expect(seen.size).toBe(N + 11);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
    expect(await sb.db.collection('events').countDocuments()).toBe(N + 11);

    // A position published for another selection (the filter changed) is ignored: the pass starts over.
    const c = await runWorker({
      config: policy(sb, { dryRun: true, filter: { payload: { $ne: 'none' } } }),
      spoolRoot: path.join(sb.spoolRoot, 'replica-c'),
      ledger: shared(sb),
    });
    expect(c.snapshot().totals.documentsArchived).toBe(N + 11);
  }, 240_000);
});

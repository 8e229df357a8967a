// A policy moves to another replica (own spool, own journal) and back. Chaos finding 4: the first
// replica used to upload, on its return, the bundles it had spooled before the move — documents the
// other replica had archived meanwhile — as duplicates nobody counted. Now a worker told that another
// journal counted after its own (the operator reads status.totalsCheckpoints) drops its bundles not
// uploaded yet (their documents were never deleted), and counts as duplicates the documents of its
// uploaded bundle that the other replica archived again before it could delete them.
import type { PolicyConfig } from '../../../operator/archiver/config.js';
import { Worker } from '../../../operator/archiver/worker.js';
import { testEnv } from '../../support/testenv.js';
import {
  DAY,
  idKey,
  insertAll,
  policy,
  readBundles,
  runOnce,
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

async function copiesInS3(sb: Sandbox): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const b of await readBundles(sb.s3, sb.bucket, 'archive/'))
    for (const d of b.docs) seen.set(idKey(d), (seen.get(idKey(d)) ?? 0) + 1);
  return seen;
}

/** Replica A comes back: a once-mode worker on its own spool, told that another journal counted since. */
function replicaReturns(config: PolicyConfig, spoolRoot: string): Promise<Worker> {
  return runWorker({ config, spoolRoot, journalSuperseded: () => true });
}

/** Replica A spools every document into an open bundle (it uploads only hourly), then stops. */
async function spoolEverything(sb: Sandbox, spoolRoot: string, policyUid?: string): Promise<void> {
  const w = new Worker({
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
    const b = await runOnce(policy(sb, {}), spoolB);
    expect(b.errors).toEqual([]);
    expect(b.worker.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: N });

    // A returns: nothing of its old spool reaches S3.
    const a2 = await replicaReturns(policy(sb, {}), spoolA);
    expect(a2.snapshot().totals).toMatchObject({ documentsArchived: 0, bundlesUploaded: 0 });
    expect(a2.snapshot().spooledDocuments).toBe(0);
    const seen = await copiesInS3(sb);
    expect(seen.size).toBe(N);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
  }, 240_000);

  test('an uploaded bundle the other replica archived again: its duplicates are counted', async () => {
    await seedDocs(sb);
    const spoolA = path.join(sb.spoolRoot, 'replica-a');
    const spoolB = path.join(sb.spoolRoot, 'replica-b');
    // A uploads its bundle and is stopped just before deleting (the policy moves away).
    const a1 = await runUntilDelete({ config: policy(sb, {}), spoolRoot: spoolA });
    expect(a1.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: 0 });
    expect(await sb.db.collection('events').countDocuments()).toBe(N);

    // B archives the same documents again (they are still in MongoDB) and deletes them.
    const b = await runOnce(policy(sb, {}), spoolB);
    expect(b.worker.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: N });

    // A returns and finishes its bundle: nothing left to delete; every copy B made is a counted duplicate.
    const a2 = await replicaReturns(policy(sb, {}), spoolA);
    expect(a2.snapshot().totals).toMatchObject({
      documentsDeleted: 0,
      documentsSkipped: 0,
      duplicatesUploaded: N,
    });
    const seen = await copiesInS3(sb);
    const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);
    expect(duplicates).toBe(a2.snapshot().totals.duplicatesUploaded);
  }, 240_000);

  test('a delete never sent before the move: what is gone was archived elsewhere, not deleted here', async () => {
    await seedDocs(sb);
    const spoolA = path.join(sb.spoolRoot, 'replica-a');
    const spoolB = path.join(sb.spoolRoot, 'replica-b');
    // A uploads, marks the bundle deleting, and stops before its first delete chunk is sent.
    await runUntilDelete({ config: policy(sb, {}), spoolRoot: spoolA }, 'beforeDeleteIssue');
    expect(await sb.db.collection('events').countDocuments()).toBe(N);

    const b = await runOnce(policy(sb, {}), spoolB);
    expect(b.worker.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: N });

    // Before deleteIssued, A counted the documents gone from its resumed chunk as its own deletes.
    const a2 = await replicaReturns(policy(sb, {}), spoolA);
    expect(a2.snapshot().totals).toMatchObject({ documentsDeleted: 0, duplicatesUploaded: N });
  }, 240_000);

  test('a policy deleted and created again: bundles spooled for the old object are dropped', async () => {
    await seedDocs(sb);
    const spoolA = path.join(sb.spoolRoot, 'replica-a');
    const spoolB = path.join(sb.spoolRoot, 'replica-b');
    await spoolEverything(sb, spoolA, 'uid-1');
    const b = await runOnce(policy(sb, {}), spoolB);
    expect(b.worker.snapshot().totals).toMatchObject({ documentsArchived: N, documentsDeleted: N });

    // The policy is created again (new uid, empty status: nothing says another replica worked on it).
    const a2 = await runWorker({
      config: policy(sb, {}),
      spoolRoot: spoolA,
      policyUid: 'uid-2',
      journalSuperseded: () => false,
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
    const a1 = await runOnce(dry, spoolA);
    expect(a1.worker.snapshot().totals.documentsArchived).toBe(N);
    const fromA = a1.worker.snapshot().dryRunPosition;
    expect(fromA?.mode).toBeDefined();

    // Newer old documents arrive; the policy moves to B, which has no spool of its own yet.
    const at = Date.now() - 99 * DAY;
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: 10 }, (_, i) => ({ _id: N + i, createdAt: new Date(at + i), payload: 'late' })),
    );
    const b = await runWorker({ config: dry, spoolRoot: spoolB, dryRunPosition: () => fromA });
    expect(b.snapshot().totals.documentsArchived).toBe(10);

    // Back to A: its journal was superseded; it continues from B's position (before: from its own).
    await insertAll(sb.db, 'events', [{ _id: N + 10, createdAt: new Date(at + 100), payload: 'later' }]);
    const a2 = await runWorker({
      config: dry,
      spoolRoot: spoolA,
      journalSuperseded: () => true,
      dryRunPosition: () => b.snapshot().dryRunPosition,
    });
    expect(a2.snapshot().totals.documentsArchived).toBe(1);
    const seen = await copiesInS3(sb);
    expect(seen.size).toBe(N + 11);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
    expect(await sb.db.collection('events').countDocuments()).toBe(N + 11);

    // A position published for another selection (the filter changed) is ignored: the pass starts over.
    const c = await runWorker({
      config: policy(sb, { dryRun: true, filter: { payload: { $ne: 'none' } } }),
      spoolRoot: path.join(sb.spoolRoot, 'replica-c'),
      dryRunPosition: () => fromA,
    });
    expect(c.snapshot().totals.documentsArchived).toBe(N + 11);
  }, 240_000);
});

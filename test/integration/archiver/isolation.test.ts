// I4/I6 on one machine: two policies archiving a collection of the same name in two databases, at the
// same time and with the same spool root and bucket prefix, never see each other's spool files or
// bundles; and a second worker for the same policy is refused while the first holds its spool.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '../../../operator/archiver/worker.js';
import { testEnv, uniqueName } from '../../support/testenv.js';
import {
  DAY,
  idKey,
  insertAll,
  policy,
  readBundles,
  runOnce,
  sandbox,
  testLogger,
  type Sandbox,
} from './helpers.js';

describe('archiver: isolation', () => {
  let sb: Sandbox;
  let otherDb: string;
  beforeAll(async () => {
    sb = await sandbox('arch_iso');
    otherDb = uniqueName('arch_iso2').replace(/-/g, '_');
  });
  afterAll(async () => {
    await sb?.mongo
      .db(otherDb)
      .dropDatabase()
      .catch(() => undefined);
    await sb?.cleanup();
  });

  test('same collection name in two databases: separate spools, separate bundles', async () => {
    const mk = (tag: string) =>
      Array.from({ length: 400 }, (_, i) => ({
        _id: `${tag}-${i}`,
        createdAt: new Date(Date.now() - (100 + (i % 40)) * DAY),
        tag,
      }));
    await insertAll(sb.db, 'events', mk('one'));
    await insertAll(sb.mongo.db(otherDb), 'events', mk('two'));
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    await sb.mongo.db(otherDb).collection('events').createIndex({ createdAt: 1 });

    const spoolDirsSeen = { alpha: false, beta: false };
    const watch = setInterval(() => {
      spoolDirsSeen.alpha ||= existsSync(path.join(sb.spoolRoot, 'test', 'alpha', 'journal.json'));
      spoolDirsSeen.beta ||= existsSync(path.join(sb.spoolRoot, 'test', 'beta', 'journal.json'));
    }, 20);
    const cfgA = policy(sb, { queryLimit: 50, bundle: { maxDocuments: 100 } }, 'alpha');
    const cfgB = policy(
      { dbName: otherDb, bucket: sb.bucket },
      { queryLimit: 50, bundle: { maxDocuments: 100 } },
      'beta',
    );
    const [a, b] = await Promise.all([runOnce(cfgA, sb.spoolRoot), runOnce(cfgB, sb.spoolRoot)]);
    clearInterval(watch);
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    expect(spoolDirsSeen).toEqual({ alpha: true, beta: true });
    expect(a.worker.snapshot().totals.documentsDeleted).toBe(400);
    expect(b.worker.snapshot().totals.documentsDeleted).toBe(400);

    const bundles = await readBundles(sb.s3, sb.bucket, 'archive/');
    expect(bundles.length).toBeGreaterThanOrEqual(8);
    const perPolicy = { alpha: new Set<string>(), beta: new Set<string>() };
    for (const bundle of bundles) {
      const name = bundle.manifest.policy.name as 'alpha' | 'beta';
      const tag = name === 'alpha' ? 'one' : 'two';
      expect(bundle.manifest.database).toBe(name === 'alpha' ? sb.dbName : otherDb);
      for (const d of bundle.docs) {
        expect(idKey(d)).toContain(`"${tag}-`);
        perPolicy[name].add(idKey(d));
      }
    }
    expect(perPolicy.alpha.size).toBe(400);
    expect(perPolicy.beta.size).toBe(400);
  }, 300_000);

  test('a second worker for the same policy is refused while the first runs (one writer per spool)', async () => {
    const cfg = policy(sb, { collection: 'locked' }, 'locked');
    const first = new Worker({
      config: cfg,
      mongoUri: testEnv().mongoUri,
      spoolRoot: sb.spoolRoot,
      logger: testLogger('error'),
    });
    const running = first.run();
    try {
      const deadline = Date.now() + 30_000;
      while (!existsSync(path.join(sb.spoolRoot, 'test', 'locked', 'journal.json'))) {
        if (Date.now() > deadline) throw new Error('first worker did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      const second = await runOnce(cfg, sb.spoolRoot);
      expect(second.worker.snapshot().state).toBe('Blocked');
      expect(second.worker.snapshot().reason).toBe('SpoolLocked');
    } finally {
      await first.stop();
      await running;
    }
    expect(first.snapshot().state).toBe('Stopped');
    // The lock is released on stop: a new worker may take over.
    const third = await runOnce(cfg, sb.spoolRoot);
    expect(third.worker.snapshot().state).toBe('Stopped');
  }, 120_000);
});

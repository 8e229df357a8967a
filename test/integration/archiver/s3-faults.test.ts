// S3 down, answering 500s, or stalling: nothing is deleted (I1), the upload is retried, and once S3
// is back the worker finishes: every document archived exactly once, then deleted.
import { createDestination } from '../../../operator/storage/factory.js';
import { testEnv } from '../../support/testenv.js';
import { ArchiverFaultProxy, type FaultMode } from './fault-proxy.js';
import {
  DAY,
  idKey,
  insertAll,
  listKeys,
  policy,
  readBundles,
  runOnce,
  sandbox,
  testLogger,
  type Sandbox,
  until,
} from './helpers.js';

describe('archiver: S3 faults', () => {
  let sb: Sandbox;
  let proxy: ArchiverFaultProxy;
  let endpoint: string;
  beforeAll(async () => {
    sb = await sandbox('arch_s3f');
    proxy = new ArchiverFaultProxy(new URL(testEnv().s3.endpoint));
    endpoint = await proxy.start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await sb?.cleanup();
  });

  test('down, 500s and stalls: nothing deleted, retried, recovers when S3 returns', async () => {
    const coll = 'events';
    const N = 300;
    await insertAll(
      sb.db,
      coll,
      Array.from({ length: N }, (_, i) => ({
        _id: i,
        createdAt: new Date(Date.now() - (100 + i / 10) * DAY),
        pad: 'x'.repeat(200),
      })),
    );
    await sb.db.collection(coll).createIndex({ createdAt: 1 });
    const cfg = policy(sb, { collection: coll, queryLimit: 100, bundle: { maxDocuments: 100 } }, 'faults', {
      endpoint,
    });
    const destination = createDestination(cfg.destination, testLogger('error'), {
      stallTimeoutMs: 1500,
      connectTimeoutMs: 1500,
      retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 },
    });
    const uploadErrors: string[] = [];
    proxy.setMode('down');
    const running = runOnce(
      cfg,
      sb.spoolRoot,
      { destination, maxBackoffMs: 1000, onceMaxFailures: 10_000 },
      { onError: (e) => void (e.stage === 'upload' && uploadErrors.push(e.message)) },
      240_000,
    );

    for (const mode of ['down', 'fail500', 'stall'] as FaultMode[]) {
      proxy.setMode(mode);
      const seen = uploadErrors.length;
      const faultsBefore = proxy.faults[mode];
      await until(
        `upload errors while S3 is ${mode}`,
        () => uploadErrors.length >= seen + 2 && proxy.faults[mode] > faultsBefore,
      );
      // I1: nothing deleted, nothing in the bucket.
      expect(await sb.db.collection(coll).countDocuments()).toBe(N);
      expect(await listKeys(sb.s3, sb.bucket)).toEqual([]);
    }
    proxy.setMode('pass');
    const { worker } = await running;
    const snap = worker.snapshot();
    expect(snap.state).toBe('Stopped');
    expect(snap.totals.documentsDeleted).toBe(N);
    expect(snap.totals.duplicatesUploaded).toBe(0);
    expect(await sb.db.collection(coll).countDocuments()).toBe(0);
    const ids = new Map<string, number>();
    for (const b of await readBundles(sb.s3, sb.bucket))
      for (const d of b.docs) ids.set(idKey(d), (ids.get(idKey(d)) ?? 0) + 1);
    expect(ids.size).toBe(N);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    expect(uploadErrors.length).toBeGreaterThanOrEqual(6);
  }, 300_000);
});

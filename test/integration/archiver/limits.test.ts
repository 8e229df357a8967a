// Pacing and protection: maxDocumentsPerSecond, the spool cap (fetch pauses, bundles stay small,
// everything still gets archived), archive windows (Paused outside), suspend, and a clean stop() of a
// continuous worker in the middle of a backlog.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from '../../../operator/archiver/worker.js';
import type { WorkerSnapshot } from '../../../operator/archiver/worker-api.js';
import { testEnv } from '../../support/testenv.js';
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
  until,
} from './helpers.js';

describe('archiver: pacing and limits', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_lim');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  const oldDocs = (n: number, pad = 0) =>
    Array.from({ length: n }, (_, i) => ({
      _id: i,
      createdAt: new Date(Date.now() - (100 + i / 100) * DAY),
      pad: 'p'.repeat(pad),
    }));

  test('maxDocumentsPerSecond bounds the fetch rate', async () => {
    await insertAll(sb.db, 'rate', oldDocs(120));
    await sb.db.collection('rate').createIndex({ createdAt: 1 });
    const t0 = Date.now();
    const { worker, errors } = await runOnce(
      policy(sb, { collection: 'rate', maxDocumentsPerSecond: 40 }, 'rate'),
      sb.spoolRoot,
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(errors).toEqual([]);
    expect(worker.snapshot().totals.documentsDeleted).toBe(120);
    // A one-second burst of 40, then 40/s: 120 documents need at least 2 s.
    expect(seconds).toBeGreaterThanOrEqual(1.9);
  });

  test('spool cap: fetching pauses at the cap, bundles stay under it, nothing is lost', async () => {
    await insertAll(sb.db, 'capped', oldDocs(300, 1000));
    await sb.db.collection('capped').createIndex({ createdAt: 1 });
    const states: WorkerSnapshot['reason'][] = [];
    const { worker, errors } = await runOnce(
      policy(
        sb,
        {
          collection: 'capped',
          queryLimit: 200,
          spool: { maxBytes: '64Ki' },
          s3: { bucket: `${sb.bucket}/capped/`, uploadInterval: 3600 },
          archiveCheckInterval: 1,
        },
        'capped',
      ),
      sb.spoolRoot,
      {},
      { onSnapshot: (s) => void states.push(s.reason) },
    );
    expect(errors).toEqual([]);
    expect(worker.snapshot().totals.documentsDeleted).toBe(300);
    expect(states).toContain('SpoolFull');
    const bundles = await readBundles(sb.s3, sb.bucket, 'capped/');
    expect(bundles.length).toBeGreaterThanOrEqual(4);
    const ids = new Set(bundles.flatMap((b) => b.docs.map((d) => idKey(d))));
    expect(ids.size).toBe(300);
    for (const b of bundles) expect(b.manifest.files[0]!.bytes).toBeLessThan(64 * 1024 + 2 * 1100);
  });

  test('outside every archive window the worker is Paused and touches nothing; suspend pauses too', async () => {
    await insertAll(sb.db, 'windowed', oldDocs(20));
    await sb.db.collection('windowed').createIndex({ createdAt: 1 });
    const h = new Date().getUTCHours();
    const closed = {
      start: `${String((h + 2) % 24).padStart(2, '0')}:00`,
      end: `${String((h + 3) % 24).padStart(2, '0')}:00`,
      timeZone: 'UTC',
    };
    for (const [name, spec, reason] of [
      ['windowed', { windows: [closed] }, 'OutsideWindow'],
      ['suspended', { suspend: true }, 'Suspended'],
    ] as const) {
      const w = new Worker({
        config: policy(sb, { collection: 'windowed', ...spec }, name),
        mongoUri: testEnv().mongoUri,
        spoolRoot: sb.spoolRoot,
        logger: testLogger(),
      });
      const running = w.run();
      await until(`${name} paused`, () => w.snapshot().state === 'Paused');
      expect(w.snapshot().reason).toBe(reason);
      await new Promise((r) => setTimeout(r, 1500));
      expect(w.snapshot().spooledDocuments).toBe(0);
      await w.stop();
      await running;
      expect(w.snapshot().state).toBe('Stopped');
    }
    expect(await sb.db.collection('windowed').countDocuments()).toBe(20);
  });

  test('stop() during a backlog: stops cleanly, and a new worker finishes the job', async () => {
    await insertAll(sb.db, 'stopped', oldDocs(400));
    await sb.db.collection('stopped').createIndex({ createdAt: 1 });
    const cfg = policy(
      sb,
      {
        collection: 'stopped',
        queryLimit: 50,
        archiveCheckInterval: 1,
        s3: { bucket: `${sb.bucket}/stopped/`, uploadInterval: 2 },
      },
      'stopped',
    );
    const w = new Worker({
      config: cfg,
      mongoUri: testEnv().mongoUri,
      spoolRoot: sb.spoolRoot,
      logger: testLogger(),
    });
    const running = w.run();
    await until('some documents spooled', () => w.snapshot().spooledDocuments > 0);
    await w.stop();
    await running;
    expect(w.snapshot().state).toBe('Stopped');
    // Documents not yet uploaded are still in MongoDB.
    const left = await sb.db.collection('stopped').countDocuments();
    expect(left).toBe(400 - w.snapshot().totals.documentsDeleted);
    const { worker } = await runOnce(cfg, sb.spoolRoot);
    expect(worker.snapshot().totals.documentsDeleted + w.snapshot().totals.documentsDeleted).toBe(400);
    expect(await readdir(path.join(sb.spoolRoot, 'test', 'stopped', 'bundles'))).toEqual([]);
    const ids = new Set(
      (await readBundles(sb.s3, sb.bucket, 'stopped/')).flatMap((b) => b.docs.map((d) => idKey(d))),
    );
    expect(ids.size).toBe(400);
  });
});

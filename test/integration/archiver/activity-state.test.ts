// The continuous worker's state while a backlog drains across several upload cycles:
// - no Archiving ↔ Idle flapping: Idle only once a fetch found nothing eligible and nothing is spooled;
// - the backlog estimate is measured again when the pass drains (it was refreshed at most once a
//   minute, so status showed `Idle … BACKLOG 1500` right after the drain);
// - idle fetches (nothing found) do not rewrite and fsync the journal.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BSON } from 'mongodb';
import { Worker } from '../../../operator/archiver/worker.js';
import type { WorkerSnapshot } from '../../../operator/archiver/worker-api.js';
import { testEnv } from '../../support/testenv.js';
import { DAY, insertAll, policy, sandbox, testLogger, type Sandbox } from './helpers.js';

describe('archiver: activity state of a continuous worker', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_state');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test('Archiving until drained, then Idle with backlog 0; idle fetches leave the journal alone', async () => {
    const N = 1500;
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: N }, (_, i) => ({
        _id: new BSON.ObjectId(),
        createdAt: new Date(Date.now() - (100 + i / 100) * DAY),
      })),
    );
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    const cfg = policy(sb, { queryLimit: 300, archiveCheckInterval: 1, s3: { uploadInterval: 2 } }, 'state');
    const seen: WorkerSnapshot[] = [];
    const w = new Worker({
      config: cfg,
      mongoUri: testEnv().mongoUri,
      spoolRoot: sb.spoolRoot,
      logger: testLogger(),
      events: { onSnapshot: (s) => seen.push(s) },
    });
    const run = w.run();
    try {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        if ((await sb.db.collection('events').countDocuments()) === 0 && w.snapshot().state === 'Idle') break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(w.snapshot().totals.documentsDeleted).toBe(N);
      const journal = path.join(sb.spoolRoot, 'test', 'state', 'journal.json');
      const m0 = (await stat(journal)).mtimeMs;
      await new Promise((r) => setTimeout(r, 3500)); // three idle fetches
      expect((await stat(journal)).mtimeMs).toBe(m0);
    } finally {
      await w.stop();
      await run;
    }
    const states = seen.map((s) => s.state).filter((s, i, a) => i === 0 || a[i - 1] !== s);
    // Starting → Archiving → Idle (→ Stopped): Idle once, at the end.
    const firstIdle = states.indexOf('Idle');
    expect(firstIdle).toBeGreaterThan(0);
    expect(states.slice(firstIdle + 1).filter((s) => s !== 'Idle' && s !== 'Stopped')).toEqual([]);
    const idleSnaps = seen.filter((s) => s.state === 'Idle');
    expect(idleSnaps[idleSnaps.length - 1]!.backlog).toBe(0);
    expect(idleSnaps.every((s) => s.backlog === 0)).toBe(true);
  }, 200_000);
});

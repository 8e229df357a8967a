// A spec change that resets paging (here: the filter) while the journal holds an open bundle must not
// fetch that bundle's documents a second time (chaos finding 1: they were appended to the same open
// bundle, so the uploaded bundle held them twice and documentsArchived counted them twice). The pending
// bundle finishes under the target it was fetched with; the new pass starts after it is cleaned up.
import { Worker } from '../../../operator/archiver/worker.js';
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
} from './helpers.js';

describe('archiver: paging reset with an open bundle', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_reset');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test('filter changed after documents were spooled: every document archived once', async () => {
    const at = Date.now() - 100 * DAY;
    const docs = Array.from({ length: 30 }, (_, i) => ({
      _id: i,
      createdAt: new Date(at + i),
      status: i % 3 === 0 ? 'closed' : 'done',
    }));
    await insertAll(sb.db, 'events', docs);
    await sb.db.collection('events').createIndex({ createdAt: 1 });

    // Run 1: spools everything matching the first filter into an open bundle, uploads nothing.
    const first = policy(sb, {
      filter: { status: { $in: ['done', 'closed'] } },
      s3: { uploadInterval: 3600 },
      archiveCheckInterval: 1800,
    });
    const w1 = new Worker({
      config: first,
      mongoUri: testEnv().mongoUri,
      spoolRoot: sb.spoolRoot,
      logger: testLogger(),
    });
    const r1 = w1.run();
    const deadline = Date.now() + 30_000;
    while (w1.snapshot().spooledDocuments < docs.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await w1.stop();
    await r1;
    expect(w1.snapshot().spooledDocuments).toBe(docs.length);
    expect(w1.snapshot().totals.documentsArchived).toBe(0);

    // Run 2: the filter changed (paging restarts from the start); drain.
    const { worker, errors } = await runOnce(policy(sb, { filter: { status: 'done' } }), sb.spoolRoot);
    expect(errors).toEqual([]);
    const t = worker.snapshot().totals;
    expect(t.documentsArchived).toBe(docs.length);
    expect(t.documentsDeleted).toBe(docs.length);
    expect(t.documentsSkipped).toBe(0);
    expect(await sb.db.collection('events').countDocuments()).toBe(0);

    const seen = new Map<string, number>();
    for (const b of await readBundles(sb.s3, sb.bucket, 'archive/'))
      for (const d of b.docs) seen.set(idKey(d), (seen.get(idKey(d)) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
    expect(seen.size).toBe(docs.length);
  });
});

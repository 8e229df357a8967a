// The worker's expiry consults the ledger by key: a bundle the ledger lists (its documents not yet
// confirmed deleted from MongoDB) stays, however old; the worker's own expired bundle goes. The ledger
// here is the CLI's file store with one extra entry reported to readers — only the expiry reads the
// store directly (recovery and every step go through update()), so the worker itself is undisturbed.
import { BSON } from 'mongodb';
import { FileLedgerStore, type LedgerStore } from '../../../operator/archiver/ledger.js';
import { parseBundleKey } from '../../../operator/bundle/keys.js';
import { putGochiveBundle, s3Dest } from '../restore/helpers.js';
import { DAY, insertAll, listKeys, policy, runWorker, sandbox, type Sandbox } from './helpers.js';

describe('worker expiry and the ledger', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('expire_ledger');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test('an old bundle the ledger still lists is kept; the expired one it does not list is removed', async () => {
    const now = Date.now();
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: 50 }, (_, i) => ({ createdAt: new Date(now - 500 * DAY - i * 1000) })),
    );
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    const dest = s3Dest(sb.bucket);
    let held: string;
    try {
      held = await putGochiveBundle(dest, {
        prefix: 'archive/',
        database: sb.dbName,
        collection: 'events',
        docs: [Buffer.from(BSON.serialize({ _id: 'held', createdAt: new Date(now - 600 * DAY) }))],
        policy: { name: 'p', namespace: 'test' }, // the worker's own policy
      });
    } finally {
      await dest.close();
    }
    const file = FileLedgerStore.inDir(sb.spoolRoot);
    const ledger: LedgerStore = {
      update: (step) => file.update(step),
      read: async () => {
        const v = await file.read();
        const entry = {
          id: 'held',
          key: held,
          state: 'uploaded' as const,
          sha256: '',
          database: sb.dbName,
          collection: 'events',
          archiveField: 'createdAt',
          archiveFieldFormat: 'date' as const,
          cutoffMs: now,
        };
        return { ...v, bundles: [...v.bundles, entry] };
      },
    };
    const w = await runWorker({
      config: policy(sb, { ageLimit: '30d', s3: { expireAfter: '400d' } }),
      spoolRoot: sb.spoolRoot,
      ledger,
    });
    expect(w.snapshot()).toMatchObject({
      lastPrune: { bundles: 1, kept: 1, dryRun: false },
    });
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
    const keys = await listKeys(sb.s3, sb.bucket, 'archive/');
    expect(keys).toEqual([held]); // the worker's own 500-day-old bundle is gone
    expect(parseBundleKey(held)?.kind).toBe('gochive');
  });
});

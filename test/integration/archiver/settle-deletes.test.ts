// Settling a delete chunk that a killed worker sent but never journaled (archiver/settle-deletes.ts),
// against FerretDB: the chunk's documents now gone count as deleted and the present ones its filter no
// longer matches as skipped, exactly once (a worker resuming the journal afterwards adds nothing); a
// delete that never reached MongoDB makes the chunk count as not sent, so the resuming worker sends it
// and counts it; a spool a worker holds is left to that worker, and a chunk sent moments ago (its delete
// may still be running on the server) waits.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import type { JournalData } from '../../../operator/archiver/journal.js';
import { settleSentDeletes } from '../../../operator/archiver/settle-deletes.js';
import { Spool } from '../../../operator/archiver/spool.js';
import { testEnv } from '../../support/testenv.js';
import { ArchiverFaultProxy } from './fault-proxy.js';
import {
  DAY,
  insertAll,
  policy,
  runOnce,
  runUntilDelete,
  runWorker,
  sandbox,
  testLogger,
  type Sandbox,
} from './helpers.js';

const N = 30;

describe('archiver: settling a sent but unjournaled delete chunk', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await sandbox('arch_settle');
    const at = Date.now() - 100 * DAY;
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: N }, (_, i) => ({ _id: i, createdAt: new Date(at + i), payload: `doc ${i}` })),
    );
    await sb.db.collection('events').createIndex({ createdAt: 1 });
  });
  afterEach(async () => {
    await sb?.cleanup();
  });

  const journalFile = () => path.join(sb.spoolRoot, 'test', 'p', 'journal.json');
  const readJournal = async () => JSON.parse(await readFile(journalFile(), 'utf8')) as JournalData;
  const connect = () => new MongoClient(testEnv().mongoUri).connect();

  /** A worker uploads the one bundle and is "killed" after journaling its only delete chunk as sent. */
  async function uploadThenSend(): Promise<JournalData> {
    await runUntilDelete({ config: policy(sb, {}), spoolRoot: sb.spoolRoot });
    const j = await readJournal();
    expect(j.bundles.map((b) => b.state)).toEqual(['uploaded']);
    const b = j.bundles[0]!;
    Object.assign(b, {
      state: 'deleting',
      deleteOffset: 0,
      deleteIssued: b.commit.idsBytes,
      deleted: 0,
      skipped: 0,
    });
    await writeFile(journalFile(), JSON.stringify(j));
    return j;
  }

  test('an applied delete: gone documents count as deleted, changed ones as skipped, once', async () => {
    const j = await uploadThenSend();
    // What the killed worker's delete did: all but document 5, which had become too young meanwhile.
    await sb.db
      .collection<{ _id: number }>('events')
      .updateOne({ _id: 5 }, { $set: { createdAt: new Date() } });
    await sb.db.collection<{ _id: number }>('events').deleteMany({ _id: { $ne: 5 } });

    const settled = await settleSentDeletes(sb.spoolRoot, 'test', 'p', j.id!, connect);
    expect(settled).toEqual([{ bundle: j.bundles[0]!.id, result: { deleted: N - 1, skipped: 1 } }]);
    const after = await readJournal();
    expect(after.bundles[0]).toMatchObject({
      deleteOffset: j.bundles[0]!.deleteIssued,
      deleted: N - 1,
      skipped: 1,
    });
    expect(after.lifetime).toMatchObject({
      documentsArchived: N,
      documentsDeleted: N - 1,
      documentsSkipped: 1,
    });
    // Nothing is left to settle, and the worker resuming the journal counts nothing again.
    expect(await settleSentDeletes(sb.spoolRoot, 'test', 'p', j.id!, connect)).toEqual([]);
    const resumed = await runOnce(policy(sb, {}), sb.spoolRoot);
    expect(resumed.errors).toEqual([]);
    expect((await readJournal()).lifetime).toMatchObject({ documentsDeleted: N - 1, documentsSkipped: 1 });
    expect(await sb.db.collection('events').countDocuments()).toBe(1);
  }, 120_000);

  test('a delete that never reached MongoDB: the chunk counts as not sent, and the next worker sends it', async () => {
    const j = await uploadThenSend();
    const settled = await settleSentDeletes(sb.spoolRoot, 'test', 'p', j.id!, connect);
    expect(settled).toEqual([{ bundle: j.bundles[0]!.id, result: 'not-applied' }]);
    const after = await readJournal();
    expect(after.bundles[0]).toMatchObject({ deleteOffset: 0, deleteIssued: 0 });
    expect(after.lifetime).toMatchObject({ documentsDeleted: 0 });

    const resumed = await runOnce(policy(sb, {}), sb.spoolRoot);
    expect(resumed.errors).toEqual([]);
    expect((await readJournal()).lifetime).toMatchObject({ documentsDeleted: N, documentsSkipped: 0 });
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
  }, 120_000);

  test('a spool held by a worker, or a journal replaced since it was read, is left alone', async () => {
    const j = await uploadThenSend();
    const held = await Spool.open(sb.spoolRoot, 'test', 'p');
    try {
      expect(await settleSentDeletes(sb.spoolRoot, 'test', 'p', j.id!, connect)).toEqual([]);
    } finally {
      await held.unlock();
    }
    expect(await settleSentDeletes(sb.spoolRoot, 'test', 'p', 'another-journal', connect)).toEqual([]);
    // A delete sent moments ago may still be running on the server: left alone until it is old enough.
    const j2 = await readJournal();
    j2.bundles[0]!.deleteIssuedAt = Date.now();
    await writeFile(journalFile(), JSON.stringify(j2));
    expect(await settleSentDeletes(sb.spoolRoot, 'test', 'p', j.id!, connect)).toEqual([]);
    expect((await readJournal()).bundles[0]).toMatchObject({
      deleteOffset: 0,
      deleteIssued: j.bundles[0]!.deleteIssued,
    });
    expect(await settleSentDeletes(sb.spoolRoot, 'test', 'p', j.id!, connect, 0)).toEqual([
      { bundle: j.bundles[0]!.id, result: 'not-applied' },
    ]);
  }, 120_000);

  test('a chunk is journaled as sent only once the server answers: one queued while it is down is not', async () => {
    const up = new URL(testEnv().mongoUri);
    const proxy = new ArchiverFaultProxy(new URL(`http://${up.host}`));
    const proxied = new URL(await proxy.start());
    const uri = testEnv().mongoUri.replace(up.host, proxied.host);
    const sep = uri.includes('?') ? '&' : '?';
    try {
      await runWorker(
        {
          config: policy(sb, {}),
          mongoUri: `${uri}${sep}serverSelectionTimeoutMS=1500`,
          spoolRoot: sb.spoolRoot,
          logger: testLogger('silent'),
        },
        {
          onceMaxFailures: 1,
          // MongoDB becomes unreachable just as the bundle's deletes begin.
          beforeDelete: () => {
            proxy.setMode('down');
            return Promise.resolve();
          },
        },
      );
    } finally {
      await proxy.stop();
    }
    const b = (await readJournal()).bundles[0]!;
    expect(b.state).toBe('deleting');
    expect(b.deleteIssued ?? 0).toBe(b.deleteOffset ?? 0);
    expect(await sb.db.collection('events').countDocuments()).toBe(N);
  }, 120_000);
});

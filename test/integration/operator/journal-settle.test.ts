// The journal sweep settles, on the real API server and FerretDB, a delete chunk a killed worker of this
// replica sent but never journaled, while another replica holds the policy (and keeps it: its own spool
// has uploaded bundles too, so affinity does not move it): the chunk's deletes reach the status totals,
// once. Before, only a worker resuming the bundle could count them, and none ever ran here again.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import type { JournalData } from '../../../operator/archiver/journal.js';
import { JournalReporter } from '../../../operator/controller/journal-reporter.js';
import { KubeRest } from '../../../operator/controller/kube-rest.js';
import { adminKubeConfig } from '../../support/kube.js';
import { testEnv } from '../../support/testenv.js';
import { DAY, insertAll, policy, runUntilDelete, sandbox, type Sandbox } from '../archiver/helpers.js';
import { apply, createNamespace, deleteNamespace, ensureCrd, getPolicy } from './harness.js';
import { policyManifest } from './fixtures.js';

const N = 30;

describe('journal sweep: a sent but unjournaled delete chunk of a stopped worker', () => {
  let sb: Sandbox;
  let ns: string;
  const rest = new KubeRest(adminKubeConfig());

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op_settle');
    ns = sb.dbName.replace(/_/g, '-').slice(0, 50);
    await createNamespace(ns);
  });
  afterAll(async () => {
    await deleteNamespace(ns);
    await sb?.cleanup();
  });

  test('is settled read-only and its deletes reach the status once', async () => {
    const at = Date.now() - 100 * DAY;
    await insertAll(
      sb.db,
      'events',
      Array.from({ length: N }, (_, i) => ({ _id: i, createdAt: new Date(at + i) })),
    );
    await sb.db.collection('events').createIndex({ createdAt: 1 });
    await apply(
      policyManifest(ns, 'p', {
        hostAddress: '127.0.0.1:1',
        ageLimit: '30d',
        database: sb.dbName,
        collection: 'events',
        archiveField: 'createdAt',
        archiveCheckInterval: 60,
        s3: { bucket: `${sb.bucket}/archive/`, uploadInterval: 120 },
      }),
    );
    const uid = (await getPolicy(ns, 'p'))!.metadata.uid!;

    // This replica's worker uploads the bundle and is killed after sending its only delete chunk.
    await runUntilDelete({
      config: { ...policy(sb, {}), namespace: ns, name: 'p' },
      spoolRoot: sb.spoolRoot,
      policyUid: uid,
    });
    const file = path.join(sb.spoolRoot, ns, 'p', 'journal.json');
    const j = JSON.parse(await readFile(file, 'utf8')) as JournalData;
    Object.assign(j.bundles[0]!, {
      state: 'deleting',
      deleteOffset: 0,
      deleteIssued: j.bundles[0]!.commit.idsBytes,
      deleteIssuedAt: Date.now() - 60_000,
    });
    await writeFile(file, JSON.stringify(j));
    await sb.db.collection('events').deleteMany({}); // what that delete did

    const current = async () => (await getPolicy(ns, 'p'))!;
    let cached = await current();
    const options = {
      spoolRoot: sb.spoolRoot,
      rest,
      log: pino({ level: 'silent' }),
      busy: () => false,
      heldHere: () => false, // another replica holds the policy
      connect: () => new MongoClient(testEnv().mongoUri).connect(),
    };
    // A policy this replica does not know (deleted since): nothing is touched.
    expect(await new JournalReporter({ ...options, getPolicy: () => undefined }).sweep()).toEqual([]);
    const reporter = new JournalReporter({
      ...options,
      getPolicy: (key) => (key === `${ns}/p` ? cached : undefined),
    });
    expect(await reporter.sweep()).toEqual([`${ns}/p`]);
    expect((await current()).status!.totals).toMatchObject({
      documentsArchived: N,
      documentsDeleted: N,
      bundlesUploaded: 1,
    });
    const settled = JSON.parse(await readFile(file, 'utf8')) as JournalData;
    expect(settled.bundles[0]).toMatchObject({ deleteOffset: j.bundles[0]!.deleteIssued, deleted: N });
    // The next sweep finds nothing owed.
    cached = await current();
    expect(await reporter.sweep()).toEqual([]);
    expect((await current()).status!.totals).toMatchObject({ documentsDeleted: N });
  }, 120_000);
});

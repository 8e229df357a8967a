// Status totals on the real API server: two replicas' status writers, each with its own journal counts,
// write one ArchivePolicy in turn from stale bases. The merge patch carries the base's resourceVersion,
// so the server refuses a stale write (409) and the writer computes again from what is there: the totals
// end as the exact sum, whatever the interleaving (before, a stale base overwrote the other's counts).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { ArchivePolicyStatus } from '../../../operator/api/schema.js';
import { zeroCounters } from '../../../operator/archiver/counters.js';
import { KubeRest } from '../../../operator/controller/kube-rest.js';
import { JournalReporter } from '../../../operator/controller/journal-reporter.js';
import { StatusWriter } from '../../../operator/controller/status-writer.js';
import { mergeTotals } from '../../../operator/controller/status-totals.js';
import { adminKubeConfig } from '../../support/kube.js';
import { uniqueName } from '../../support/testenv.js';
import { apply, createNamespace, deleteNamespace, ensureCrd, getPolicy, waitFor } from './harness.js';
import { policyManifest } from './fixtures.js';

describe('status totals on the API server', () => {
  const ns = uniqueName('status-totals');
  const rest = new KubeRest(adminKubeConfig());
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    await ensureCrd();
    await createNamespace(ns);
  });
  afterAll(() => deleteNamespace(ns));

  const manifest = (name: string) =>
    policyManifest(ns, name, {
      hostAddress: '127.0.0.1:1',
      ageLimit: '30d',
      archiveCheckInterval: 60,
      database: 'd',
      collection: 'c',
      archiveField: 'createdAt',
      s3: { bucket: `bucket/${name}/`, uploadInterval: 120 },
    });

  test('two writers from stale bases: every journal count lands exactly once', async () => {
    await apply(manifest('p'));
    const created = await getPolicy(ns, 'p');
    const rv = created!.metadata.resourceVersion!;
    const counts = { a: 0, b: 0 };
    const computer =
      (journal: 'a' | 'b') =>
      (prev: ArchivePolicyStatus | undefined): ArchivePolicyStatus => ({
        ...prev,
        ...mergeTotals(
          prev,
          { journal, lifetime: { ...zeroCounters(), documentsArchived: counts[journal] } },
          undefined,
        ),
      });
    // Both start from the object as created (status empty), like two informers.
    const wa = new StatusWriter({ rest, log, minIntervalMs: 0 });
    const wb = new StatusWriter({ rest, log, minIntervalMs: 0 });
    const ref = { namespace: ns, name: 'p' };
    for (let i = 1; i <= 10; i++) {
      counts.a += i;
      counts.b += 2 * i;
      wa.request(`${ns}/p`, ref, undefined, rv, computer('a'));
      wb.request(`${ns}/p`, ref, undefined, rv, computer('b'));
      await Promise.all([wa.flush(`${ns}/p`), wb.flush(`${ns}/p`)]);
    }
    const want = counts.a + counts.b;
    await waitFor(
      'the totals to reach the sum of both journals',
      async () => (await getPolicy(ns, 'p'))?.status?.totals?.documentsArchived === want,
      20_000,
    );
    const st = (await getPolicy(ns, 'p'))!.status!;
    expect(st.totals?.documentsArchived).toBe(165);
    expect(Object.fromEntries(st.totalsCheckpoints!.map((c) => [c.journal, c.documentsArchived]))).toEqual({
      a: 55,
      b: 110,
    });
    await wa.close();
    await wb.close();
  }, 60_000);

  test('counts a killed worker journaled but never wrote are reported from its spool, once', async () => {
    await apply(manifest('orphan'));
    const policy = (await getPolicy(ns, 'orphan'))!;
    const uid = policy.metadata.uid!;
    // The replica now holding the policy wrote its totals; this replica's journal has 7 more.
    const writer = new StatusWriter({ rest, log, minIntervalMs: 0 });
    writer.request(
      `${ns}/orphan`,
      { namespace: ns, name: 'orphan' },
      undefined,
      policy.metadata.resourceVersion,
      (prev) => ({
        ...prev,
        phase: 'Idle',
        ...mergeTotals(
          prev,
          { journal: 'holder', lifetime: { ...zeroCounters(), documentsArchived: 10 } },
          undefined,
        ),
      }),
    );
    await writer.flush(`${ns}/orphan`);
    const root = await mkdtemp(path.join(os.tmpdir(), 'gochive-reporter-'));
    try {
      const journal = (id: string, forUid: string, archived: number) => ({
        version: 1,
        id,
        uid: forUid,
        lifetime: { ...zeroCounters(), documentsArchived: archived, bundlesUploaded: 1 },
        bundles: [],
      });
      await mkdir(path.join(root, ns, 'orphan'), { recursive: true });
      await writeFile(
        path.join(root, ns, 'orphan', 'journal.json'),
        JSON.stringify(journal('killed', uid, 7)),
      );
      // A journal of an older policy of the same name: its counts belong to nobody.
      await mkdir(path.join(root, ns, 'p'), { recursive: true });
      await writeFile(
        path.join(root, ns, 'p', 'journal.json'),
        JSON.stringify(journal('stale', 'old-uid', 99)),
      );
      // A journal cut short (no bundles list) is skipped without stopping the sweep.
      await mkdir(path.join(root, ns, 'damaged'), { recursive: true });
      await writeFile(path.join(root, ns, 'damaged', 'journal.json'), JSON.stringify({ version: 1, uid }));
      let busy = true;
      const reporter = new JournalReporter({
        spoolRoot: root,
        rest,
        log,
        getPolicy: (key) => (key === `${ns}/orphan` || key === `${ns}/damaged` ? policy : undefined),
        busy: () => busy,
        heldHere: () => false,
        connect: () => Promise.resolve(undefined),
      });
      expect(await reporter.sweep()).toEqual([]); // a worker runs here: it reports its own journal
      busy = false;
      expect(await reporter.sweep()).toEqual([`${ns}/orphan`]);
      let st = (await getPolicy(ns, 'orphan'))!.status!;
      expect(st.totals).toMatchObject({ documentsArchived: 17, bundlesUploaded: 1 });
      expect(st.phase).toBe('Idle');
      // The holder stays first (workers read that order), and nothing is added twice.
      expect(st.totalsCheckpoints!.map((c) => c.journal)).toEqual(['holder', 'killed']);
      const fresh = (await getPolicy(ns, 'orphan'))!;
      const again = new JournalReporter({
        spoolRoot: root,
        rest,
        log,
        getPolicy: () => fresh,
        busy: () => false,
        heldHere: () => false,
        connect: () => Promise.resolve(undefined),
      });
      expect(await again.sweep()).toEqual([]);
      // The holder writes again from its stale base: 409, re-read, and the reported counts stay.
      writer.request(`${ns}/orphan`, { namespace: ns, name: 'orphan' }, undefined, undefined, (prev) => ({
        ...prev,
        ...mergeTotals(
          prev,
          { journal: 'holder', lifetime: { ...zeroCounters(), documentsArchived: 12 } },
          undefined,
        ),
      }));
      await writer.flush(`${ns}/orphan`);
      await writer.flush(`${ns}/orphan`);
      st = (await getPolicy(ns, 'orphan'))!.status!;
      expect(st.totals).toMatchObject({ documentsArchived: 19, bundlesUploaded: 1 });
    } finally {
      await writer.close();
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});

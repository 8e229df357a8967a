// Status totals on the real API server: two replicas' status writers, each with its own journal counts,
// write one ArchivePolicy in turn from stale bases. The merge patch carries the base's resourceVersion,
// so the server refuses a stale write (409) and the writer computes again from what is there: the totals
// end as the exact sum, whatever the interleaving (before, a stale base overwrote the other's counts).
import { pino } from 'pino';
import type { ArchivePolicyStatus } from '../../../operator/api/schema.js';
import { zeroCounters } from '../../../operator/archiver/counters.js';
import { KubeRest } from '../../../operator/controller/kube-rest.js';
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

  test('two writers from stale bases: every journal count lands exactly once', async () => {
    await apply(
      policyManifest(ns, 'p', {
        hostAddress: '127.0.0.1:1',
        ageLimit: '30d',
        archiveCheckInterval: 60,
        database: 'd',
        collection: 'c',
        archiveField: 'createdAt',
        s3: { bucket: 'bucket/p/', uploadInterval: 120 },
      }),
    );
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
});

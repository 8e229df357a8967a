// I6 during a slow hand-over: a Lease being handed back (shutdown, rebalancing, policy deleted) stays
// ours — renewed — until its worker has actually stopped, however long that takes. Before the fix the
// renewals stopped the moment the hand-over began, so a worker blocked in a stalled MongoDB or S3 call
// for longer than the lease duration overlapped with the successor that took the expired Lease.
import { pino } from 'pino';
import { LeaseManager } from '../../../operator/controller/leases.js';
import { KubeRest } from '../../../operator/controller/kube-rest.js';
import {
  LEASE_TYPE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POLICY_ANNOTATION,
  policyLeaseName,
} from '../../../operator/controller/lease-names.js';
import type { KubeClient } from '../../../operator/controller/kube-rest.js';
import { adminKubeConfig } from '../../support/kube.js';
import { uniqueName } from '../../support/testenv.js';
import { createNamespace, deleteNamespace, waitFor } from './harness.js';

interface LeaseDoc {
  spec?: { holderIdentity?: string; renewTime?: string };
}

describe('lease hand-over', () => {
  const ns = uniqueName('lease-handover');
  const kc = adminKubeConfig();
  const rest = new KubeRest(kc);
  const log = pino({ level: 'silent' });
  const leasePath = (name: string): string =>
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${encodeURIComponent(name)}`;

  beforeAll(() => createNamespace(ns));
  afterAll(() => deleteNamespace(ns));

  test('a shutdown whose worker stops slowly keeps renewing the Lease until the worker has stopped', async () => {
    const key = `${ns}/slow`;
    const leaseMs = 2000;
    let workerRunning = false;
    let stopFinishedAt = 0;
    let stopStartedAt = 0;
    // What the sampler below read: when its GET was sent, the holder, and the renewTime on record.
    const samples: { sentAt: number; holder?: string; renewedAt: number }[] = [];
    // Samples sent once the Lease would have expired had nobody renewed it since the stop began.
    const pastExpiry = () => samples.filter((s) => s.sentAt >= stopStartedAt + 2 * leaseMs).length;
    const mgr = new LeaseManager({
      kc,
      rest,
      namespace: ns,
      identity: 'replica-a',
      leaseDurationMs: leaseMs,
      renewIntervalMs: 500,
      log,
      onChange: (_k, held) => {
        if (held) workerRunning = true;
      },
      // A worker stuck in a stalled server call: its stop takes three lease durations, and on a loaded
      // machine as long as the sampler needs to read the Lease a few times past the point where it would
      // have expired without renewals (so the check below always has something to judge).
      stopWork: async () => {
        await new Promise((r) => setTimeout(r, 3 * leaseMs));
        while (pastExpiry() < 3) await new Promise((r) => setTimeout(r, 100));
        workerRunning = false;
        stopFinishedAt = Date.now();
      },
      inScope: () => true,
    });
    await mgr.start();
    mgr.setDesired([key]);
    await waitFor('the lease to be acquired', () => mgr.isHeld(key), 15_000);
    expect(workerRunning).toBe(true);

    const name = policyLeaseName(ns, 'slow');
    stopStartedAt = Date.now();
    const stopping = mgr.stop();
    // While the worker is still stopping, the Lease must never be expired in the API server's record:
    // its holder stays replica-a and renewTime stays within the lease duration. A sample is judged
    // against the time its GET was sent (the server read the record after that), so a slow reply on a
    // loaded machine cannot pass for an expired Lease.
    while (workerRunning) {
      const sentAt = Date.now();
      const l = await rest.request<LeaseDoc>({ method: 'GET', path: leasePath(name) });
      const renewedAt = l.spec?.renewTime ? Date.parse(l.spec.renewTime) : 0;
      samples.push({ sentAt, holder: l.spec?.holderIdentity, renewedAt });
      await new Promise((r) => setTimeout(r, 200));
    }
    await stopping;
    const during = samples.filter((s) => s.sentAt < stopFinishedAt);
    expect(during.filter((s) => s.sentAt >= stopStartedAt + 2 * leaseMs).length).toBeGreaterThanOrEqual(3);
    const expiredWhileRunning = during.filter(
      (s) => s.holder !== 'replica-a' || s.sentAt - s.renewedAt >= leaseMs,
    );
    expect(expiredWhileRunning).toEqual([]);
    // And once the worker has stopped, the Lease is handed back at once (no holder).
    const after = await rest.request<LeaseDoc>({ method: 'GET', path: leasePath(name) });
    expect(after.spec?.holderIdentity).toBeUndefined();
  }, 60_000);

  test('a Lease another replica took after this one judged it free is not taken over (chaos: two holders)', async () => {
    // Twelve policy Leases held by a replica that died. Replica C judges them all expired and starts
    // acquiring (8 at a time); its first PUTs are held back while replica B takes every Lease and C's
    // cache sees B's versions. Before the fix C's later acquisitions read B's fresh version from the
    // cache and a PUT at that version succeeded: two replicas held one policy (I6).
    const names = Array.from({ length: 12 }, (_, i) => `race-${i}`);
    const keys = names.map((n) => `${ns}/${n}`);
    const now = new Date(Date.now() - 60_000).toISOString().replace('Z', '000Z');
    const leaseOf = (n: string, holder: string, renewTime: string, rv?: string, seconds = 1) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: policyLeaseName(ns, n),
        namespace: ns,
        ...(rv ? { resourceVersion: rv } : {}),
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [LEASE_TYPE_LABEL]: 'policy' },
        annotations: { [POLICY_ANNOTATION]: `${ns}/${n}` },
      },
      spec: { holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: renewTime, renewTime },
    });
    for (const n of names)
      await rest.request({
        method: 'POST',
        path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
        body: leaseOf(n, 'replica-dead', now),
      });

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = 0;
    let gatedDone = 0;
    let inflight = 0;
    const gated: KubeClient = {
      request: async <T>(o: Parameters<KubeClient['request']>[0]): Promise<T> => {
        const body = o.body as {
          spec?: { holderIdentity?: string };
          metadata?: { labels?: Record<string, string> };
        };
        if (
          o.method === 'PUT' &&
          body?.metadata?.labels?.[LEASE_TYPE_LABEL] === 'policy' &&
          body.spec?.holderIdentity === 'replica-c' &&
          held < 8
        ) {
          held++;
          inflight++;
          await gate;
          try {
            return await rest.request<T>(o);
          } finally {
            inflight--;
            gatedDone++;
          }
        }
        const policyPut = o.method === 'PUT' && body?.metadata?.labels?.[LEASE_TYPE_LABEL] === 'policy';
        if (policyPut) inflight++;
        try {
          return await rest.request<T>(o);
        } finally {
          if (policyPut) inflight--;
        }
      },
    } as KubeClient;
    const c = new LeaseManager({
      kc,
      rest: gated,
      namespace: ns,
      identity: 'replica-c',
      leaseDurationMs: 4000,
      renewIntervalMs: 300,
      log,
      onChange: () => undefined,
      stopWork: () => Promise.resolve(),
      inScope: (k) => k.startsWith(`${ns}/race-`),
    });
    await c.start();
    c.setDesired(keys);
    try {
      await waitFor('replica C to start acquiring 8 Leases', () => held === 8, 30_000);
      // Replica B takes every Lease (each PUT at the version it read).
      const fresh = new Date().toISOString().replace('Z', '000Z');
      for (const n of names) {
        const cur = await rest.request<{ metadata: { resourceVersion: string } }>({
          method: 'GET',
          path: leasePath(policyLeaseName(ns, n)),
        });
        await rest.request({
          method: 'PUT',
          path: leasePath(policyLeaseName(ns, n)),
          body: leaseOf(n, 'replica-b', fresh, cur.metadata.resourceVersion, 3600),
        });
      }
      const cache = (c as unknown as { client: { get(n: string): LeaseDoc | undefined } }).client;
      await waitFor(
        "replica C's cache to show replica B on every Lease",
        () => names.every((n) => cache.get(policyLeaseName(ns, n))?.spec?.holderIdentity === 'replica-b'),
        30_000,
      );
      release();
      // Its held-back PUTs answer (409: stale version); the rest of its pass runs right after them.
      await waitFor('replica C to finish its pass', () => gatedDone === 8 && inflight === 0, 30_000);
      const holders = [];
      for (const n of names)
        holders.push(
          (await rest.request<LeaseDoc>({ method: 'GET', path: leasePath(policyLeaseName(ns, n)) })).spec
            ?.holderIdentity,
        );
      expect(holders).toEqual(names.map(() => 'replica-b'));
      expect(keys.filter((k) => c.isHeld(k))).toEqual([]);
    } finally {
      release();
      await c.stop();
    }
  }, 90_000);
});

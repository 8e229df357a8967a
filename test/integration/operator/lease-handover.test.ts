// I6 during a slow hand-over: a Lease being handed back (shutdown, rebalancing, policy deleted) stays
// ours — renewed — until its worker has actually stopped, however long that takes. Before the fix the
// renewals stopped the moment the hand-over began, so a worker blocked in a stalled MongoDB or S3 call
// for longer than the lease duration overlapped with the successor that took the expired Lease.
import { pino } from 'pino';
import { LeaseManager } from '../../../operator/controller/leases.js';
import { KubeRest } from '../../../operator/controller/kube-rest.js';
import { policyLeaseName } from '../../../operator/controller/lease-names.js';
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
      // A worker stuck in a stalled server call: its stop takes three lease durations.
      stopWork: async () => {
        await new Promise((r) => setTimeout(r, 3 * leaseMs));
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
    const stopping = mgr.stop();
    // While the worker is still stopping, the Lease must never be expired in the API server's record:
    // its holder stays replica-a and renewTime stays within the lease duration.
    const samples: { at: number; holder?: string; age: number }[] = [];
    while (workerRunning) {
      const l = await rest.request<LeaseDoc>({ method: 'GET', path: leasePath(name) });
      const renew = l.spec?.renewTime ? Date.parse(l.spec.renewTime) : 0;
      samples.push({ at: Date.now(), holder: l.spec?.holderIdentity, age: Date.now() - renew });
      await new Promise((r) => setTimeout(r, 200));
    }
    await stopping;
    const during = samples.filter((s) => s.at < stopFinishedAt);
    expect(during.length).toBeGreaterThan(10);
    const expiredWhileRunning = during.filter((s) => s.holder !== 'replica-a' || s.age >= leaseMs);
    expect(expiredWhileRunning).toEqual([]);
    // And once the worker has stopped, the Lease is handed back at once (no holder).
    const after = await rest.request<LeaseDoc>({ method: 'GET', path: leasePath(name) });
    expect(after.spec?.holderIdentity).toBeUndefined();
  }, 60_000);
});

// Lease renewals under a slow API server: every request from the operator to the API server is held up
// by a proxy. Renewals must keep up however many acquisitions are under way — before they ran in passes
// that also waited for the acquisitions (32 a pass, 8 at a time) and only 8 at a time themselves, so
// leases just acquired missed their renew deadline, were fenced and re-acquired, over and over. Here:
// no lease is lost to the renew deadline, from the first acquisition until every lease has been held
// and renewed through a whole lease duration after that. And a lease whose acquisition answers while
// the operator stops is handed back, not left held by the exited replica until it expires.
import { CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { adminKubeConfig } from '../../support/kube.js';
import { testEnv } from '../../support/testenv.js';
import { DelayProxy } from './delay-proxy.js';
import { apply, ensureCrd, OperatorProcess, waitFor, type LogLine } from './harness.js';
import { policyManifest, policySpec, sandbox, type Sandbox } from './fixtures.js';

const POLICIES = 100;
const LEASE_SECONDS = 9; // renew interval 3 s, renew deadline 6 s
const DELAY_MS = 600;
const IDENTITY = 'slow-api-replica';

const fencedAtDeadline = (l: LogLine): boolean =>
  l.msg === 'lease lost; stopping worker' && l.reason === 'not renewed within the renew deadline';

describe('lease renewals through a slow API server', () => {
  let sb: Sandbox;
  let proxy: DelayProxy;
  let op: OperatorProcess | undefined;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-slowapi');
    // Suspended: each policy still needs its lease (and a status), but no worker loads the machine.
    await apply(
      Array.from({ length: POLICIES }, (_, i) =>
        policyManifest(sb.namespace, `p${String(i).padStart(2, '0')}`, policySpec(sb, { suspend: true })),
      ),
    );
  });

  afterAll(async () => {
    await op?.stop();
    await proxy?.stop();
    await sb?.cleanup();
  });

  async function policyLeases(): Promise<V1Lease[]> {
    const r = await adminKubeConfig()
      .makeApiClient(CoordinationV1Api)
      .listNamespacedLease({ namespace: sb.namespace, labelSelector: 'gochive.io/lease-type=policy' });
    return r.items;
  }

  test(`${POLICIES} policies, every API request delayed ${DELAY_MS} ms: no lease is lost to the renew deadline`, async () => {
    const via = await DelayProxy.forKubeconfig(testEnv().kubeconfig, DELAY_MS);
    proxy = via.proxy;
    op = await OperatorProcess.start({
      name: 'slow-api',
      kubeconfig: via.kubeconfig,
      args: [...sb.operatorArgs, `--lease-duration=${LEASE_SECONDS}s`, `--identity=${IDENTITY}`],
    });
    const started = op;

    // Every lease held by the operator at once, then each renewed at least a lease duration later —
    // or, before that, a lease lost to the renew deadline (then the test fails on it at once).
    let allHeldAt: number | undefined;
    const outcome = await waitFor(
      `all ${POLICIES} leases held and renewed through one more lease duration`,
      async () => {
        if (started.lines.some(fencedAtDeadline)) return 'fenced';
        const leases = await policyLeases();
        const ours = leases.filter((l) => l.spec?.holderIdentity === IDENTITY);
        if (allHeldAt === undefined) {
          if (ours.length === POLICIES) allHeldAt = Date.now();
          return undefined;
        }
        const renewedSince = ours.filter(
          (l) => new Date(String(l.spec?.renewTime)).getTime() >= allHeldAt! + LEASE_SECONDS * 1000,
        );
        return renewedSince.length === POLICIES ? 'settled' : undefined;
      },
      240_000,
      500,
    );

    const fenced = started.lines.filter(fencedAtDeadline).map((l) => String(l.lease));
    const acquired = started.lines.filter((l) => l.msg === 'lease acquired').length;
    expect(proxy.delayedChunks).toBeGreaterThan(0);
    expect({ outcome, fenced, acquired }).toEqual({ outcome: 'settled', fenced: [], acquired: POLICIES });
  });
});

describe('shutdown while acquisitions are in flight through a slow API server', () => {
  let sb: Sandbox;
  let proxy: DelayProxy;
  let op: OperatorProcess | undefined;
  const identity = 'slow-api-stopping';

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-slowstop');
    await apply(
      Array.from({ length: 40 }, (_, i) =>
        policyManifest(sb.namespace, `p${String(i).padStart(2, '0')}`, policySpec(sb, { suspend: true })),
      ),
    );
  });

  afterAll(async () => {
    await op?.stop();
    await proxy?.stop();
    await sb?.cleanup();
  });

  test('a lease acquired while the operator stops is handed back, not left held by the exited replica', async () => {
    const via = await DelayProxy.forKubeconfig(testEnv().kubeconfig, 1000);
    proxy = via.proxy;
    op = await OperatorProcess.start({
      name: 'slow-api-stop',
      kubeconfig: via.kubeconfig,
      args: [...sb.operatorArgs, `--lease-duration=${LEASE_SECONDS}s`, `--identity=${identity}`],
    });
    // The first acquisitions answered: 8 at a time, each a second, so more are under way now.
    await op.waitForLog('a lease acquired', (l) => l.msg === 'lease acquired', 120_000);
    op.signal('SIGTERM');
    const exit = await op.exited;
    expect(exit).toEqual({ code: 0, signal: null });

    const leases = await adminKubeConfig()
      .makeApiClient(CoordinationV1Api)
      .listNamespacedLease({ namespace: sb.namespace, labelSelector: 'gochive.io/lease-type=policy' });
    const acquired = op.lines.filter((l) => l.msg === 'lease acquired').map((l) => String(l.lease));
    const stillHeld = leases.items
      .filter((l) => l.spec?.holderIdentity === identity)
      .map((l) => l.metadata!.name!);
    expect(acquired.length).toBeGreaterThan(0);
    expect(stillHeld).toEqual([]);
  });
});

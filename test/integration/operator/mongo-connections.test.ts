// Connection pools are per cluster address and credentials, not per policy: 20 policies on one cluster
// hold no more server connections than one shared client can open (its pool plus its monitoring
// connections), counted on the wire by the sandbox's proxy; when the last policy on the cluster is
// deleted its connections close. One client per policy held at least two connections per policy (40
// here). Which URIs share a client: mongo-client.test.ts.
import { apply, ensureCrd, getPolicy, mustKubectl, OperatorProcess, waitFor } from './harness.js';
import { policyManifest, policySpec, sandbox, seed, type Sandbox } from './fixtures.js';

const POLICIES = 20;
/** One client's ceiling: maxPoolSize (mongo-client.ts) plus the monitor and its round-trip pinger. */
const ONE_CLIENT = 10 + 2;
const names = Array.from({ length: POLICIES }, (_, i) => `pool-${String(i).padStart(2, '0')}`);

describe('operator: MongoDB connections are pooled per cluster, not per policy', () => {
  let sb: Sandbox;
  let op: OperatorProcess;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-pool');
    for (const n of names) await seed(sb.db, n, 3, 1);
    op = await OperatorProcess.start({ name: 'pool', args: sb.operatorArgs });
  });

  afterAll(async () => {
    await op?.stop();
    await sb?.cleanup();
  });

  const allIdle = async (ns: string[]) => {
    for (const n of ns) if ((await getPolicy(sb.namespace, n))?.status?.phase !== 'Idle') return false;
    return true;
  };

  test(`${POLICIES} policies on one cluster share one client's connections`, async () => {
    await apply(
      names.map((n) => policyManifest(sb.namespace, n, policySpec(sb, { archiveCheckInterval: 1 }, n))),
    );
    await waitFor(`all ${POLICIES} policies Idle`, () => allIdle(names), 300_000, 1000);
    // Every policy has queried by now (Idle follows a fetch that found nothing), on its own 1 s loop.
    const open = sb.proxy.openConnections;
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThanOrEqual(ONE_CLIENT);
  });

  test('deleting every policy on the cluster closes its connections', async () => {
    await mustKubectl(['delete', 'archivepolicies', '--all', '-n', sb.namespace, '--wait=true']);
    await waitFor('no connection open through the proxy', () => sb.proxy.openConnections === 0, 120_000, 500);
  });
});

// SIGTERM: the operator stops fetching, lets the worker finish or safely abandon the bundle in flight,
// writes the final status, hands its Leases back and exits within the grace period. A successor then
// takes the policy over at once (no waiting for a lease to expire) and nothing is lost or archived twice.
import { CoordinationV1Api } from '@kubernetes/client-node';
import { adminKubeConfig } from '../../support/kube.js';
import { apply, ensureCrd, getPolicy, OperatorProcess, waitFor } from './harness.js';
import { policyManifest, policySpec, readBundles, sandbox, seed, type Sandbox } from './fixtures.js';

const LEASE = 30; // long on purpose: a takeover faster than this proves the lease was released

describe('operator: SIGTERM', () => {
  let sb: Sandbox;
  let first: OperatorProcess | undefined;
  let second: OperatorProcess | undefined;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-term');
    await seed(sb.db, 'events', 3000, 40);
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await sb?.cleanup();
  });

  test('stops workers, releases leases and exits in time; a successor resumes at once and loses nothing', async () => {
    const args = [...sb.operatorArgs, `--lease-duration=${LEASE}s`, '--shutdown-grace-period=20s'];
    first = await OperatorProcess.start({
      name: 'term-1',
      args: [...args, '--identity=first'],
      keepSpool: true,
    });
    await apply(
      policyManifest(sb.namespace, 'long', policySpec(sb, { queryLimit: 100, s3: { uploadInterval: 3 } })),
    );
    await waitFor(
      'some documents deleted while a backlog remains',
      async () => {
        const p = await getPolicy(sb.namespace, 'long');
        const d = p?.status?.totals?.documentsDeleted ?? 0;
        return p?.status?.phase === 'Archiving' && d > 0 && d < 2500;
      },
      120_000,
      250,
    );

    const t0 = Date.now();
    first.signal('SIGTERM');
    const exit = await first.exited;
    const seconds = (Date.now() - t0) / 1000;
    process.stdout.write(`\nSIGTERM to exit: ${seconds.toFixed(2)} s\n`);
    expect(exit).toEqual({ code: 0, signal: null });
    // Within the grace period (what a pod's terminationGracePeriodSeconds needs), judged by the path the
    // operator took rather than a wall-clock bound a loaded machine can miss: every worker stopped and
    // every Lease released, never the fallback that exits with workers still stopping.
    const msgs = first.lines.map((l) => l.msg);
    expect(msgs).not.toContain('shutdown grace period exceeded; exiting with workers still stopping');
    for (const m of [
      'signal received; shutting down',
      'stopping worker',
      'worker stopped',
      'lease released',
      'shutdown complete: workers stopped, leases released',
    ])
      expect(msgs).toContain(m);
    expect(first.lines.find((l) => l.msg === 'stopping worker')?.reason).toBe('operator shutting down');
    // Lease handed back (no holder) and the replica heartbeat removed.
    const ls = (
      await adminKubeConfig()
        .makeApiClient(CoordinationV1Api)
        .listNamespacedLease({ namespace: sb.namespace })
    ).items;
    const policyLease = ls.find((l) => l.metadata?.labels?.['gochive.io/lease-type'] === 'policy');
    expect(policyLease?.spec?.holderIdentity ?? undefined).toBeUndefined();
    expect(ls.filter((l) => l.metadata?.labels?.['gochive.io/lease-type'] === 'replica')).toEqual([]);

    // The successor (same spool volume, like a restarted container) takes over without waiting out the
    // lease: it acquires a Lease nobody holds (released), not one it had to let expire. Judged by what
    // the successor saw, not by elapsed time (a loaded machine starts a Node process slowly).
    second = await OperatorProcess.start({
      name: 'term-2',
      args: [...args, '--identity=second'],
      spoolDir: first.spoolDir,
    });
    const acquired = await second.waitForLog(
      'the successor to acquire the released Lease',
      (l) => l.msg === 'lease acquired' && l.policy === 'long',
      LEASE * 1000,
    );
    expect(acquired.previousHolder).toBeNull();
    await second.waitForLog(
      'the worker to start on the successor',
      (l) => l.msg === 'worker started' && l.policy === 'long',
      60_000,
    );
    const done = await waitFor(
      'the successor to finish the backlog',
      async () => {
        const p = await getPolicy(sb.namespace, 'long');
        return p?.status?.phase === 'Idle' && (await sb.db.collection('events').countDocuments({})) === 0
          ? p
          : undefined;
      },
      240_000,
      1000,
    );
    expect(done.status!.activeReplica).toBe('second');
    // Nothing lost, nothing archived twice.
    const ids = (await readBundles(sb.s3, sb.bucket, 'events/')).flatMap((b) => b.ids);
    expect(new Set(ids).size).toBe(3000);
    expect(ids).toHaveLength(3000);
    expect(done.status!.totals!.documentsDeleted).toBe(3000);
    expect(done.status!.totals!.documentsArchived).toBe(3000);
  }, 400_000);
});

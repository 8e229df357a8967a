// Two ways a policy cannot make progress, both reported honestly and both recovering without help:
// no index on the archive field → Blocked with the reason and the index to create (creating it unblocks
// the policy); MongoDB unreachable → Degraded, retried with back-off, then back to normal by itself.
import { apply, condition, ensureCrd, getPolicy, mustKubectl, OperatorProcess, waitFor } from './harness.js';
import { policyManifest, policySpec, sandbox, seed, type Sandbox } from './fixtures.js';

describe('operator: Blocked and Degraded', () => {
  let sb: Sandbox;
  let op: OperatorProcess;

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-block');
    op = await OperatorProcess.start({ name: 'block', args: [...sb.operatorArgs, '--lease-duration=6s'] });
  });

  afterAll(async () => {
    await op?.stop();
    await sb?.cleanup();
  });

  test('no index on the archive field: Blocked with the reason and the index to create; creating it unblocks', async () => {
    await seed(sb.db, 'noindex', 120, 40, { index: false });
    await apply(policyManifest(sb.namespace, 'noindex', policySpec(sb, {}, 'noindex')));
    const blocked = await waitFor(
      'phase Blocked',
      async () => {
        const p = await getPolicy(sb.namespace, 'noindex');
        return p?.status?.phase === 'Blocked' ? p : undefined;
      },
      60_000,
    );
    const ready = condition(blocked, 'Ready')!;
    expect(ready.status).toBe('False');
    expect(ready.reason).toBe('MissingIndex');
    expect(ready.message).toContain('createIndex({ "createdAt": 1 })');
    expect(ready.message).toContain('allowCollectionScan');
    // Nothing was archived or deleted while blocked.
    expect(await sb.db.collection('noindex').countDocuments({})).toBe(120);
    const events = await mustKubectl([
      'get',
      'events.v1.events.k8s.io',
      '-n',
      sb.namespace,
      '--field-selector',
      'regarding.name=noindex',
      '-o',
      'jsonpath={range .items[*]}{.type}/{.reason}: {.note}{"\\n"}{end}',
    ]);
    expect(events).toMatch(/Warning\/IndexFailed: .*createIndex/);
    // The user acts: the worker notices on its next check and proceeds.
    await sb.db.collection('noindex').createIndex({ createdAt: 1 });
    await waitFor(
      'the policy to unblock and archive everything',
      async () => {
        const p = await getPolicy(sb.namespace, 'noindex');
        return (
          p?.status?.phase === 'Idle' &&
          p.status.totals?.documentsDeleted === 120 &&
          condition(p, 'Ready')?.status === 'True'
        );
      },
      90_000,
      500,
    );
  }, 200_000);

  test('MongoDB unreachable: Degraded with back-off, then it recovers by itself', async () => {
    await seed(sb.db, 'flaky', 100, 40);
    await apply(policyManifest(sb.namespace, 'flaky', policySpec(sb, {}, 'flaky')));
    await waitFor(
      'the first pass to finish',
      async () => (await getPolicy(sb.namespace, 'flaky'))?.status?.totals?.documentsDeleted === 100,
      90_000,
      500,
    );

    const outageStart = Date.now();
    sb.proxy.setReachable(false);
    const degraded = await waitFor(
      'Degraded=True',
      async () => {
        const p = await getPolicy(sb.namespace, 'flaky');
        return condition(p, 'Degraded')?.status === 'True' ? p : undefined;
      },
      90_000,
      500,
    );
    const d = condition(degraded, 'Degraded')!;
    expect(d.reason).toMatch(/^(Fetch|Connect|Index|Delete|Upload)Failed$/);
    expect(d.message).toContain('retrying with back-off');
    expect(condition(degraded, 'Ready')?.status).toBe('False');
    expect(degraded.status!.lastError?.time).toBeDefined();
    // Back-off: with archiveCheckInterval 1s the worker would retry every second; it waits longer, and
    // longer as failures go on. Judged on the waits the fetch loop logs with the failure count each was
    // chosen for (the timing of failure lines mixes the fetch and upload loops and the load's delays).
    await waitFor('three back-offs', () => backOffs(op, outageStart).length >= 3, 120_000, 500);
    const waits = backOffs(op, outageStart);
    for (const [i, w] of waits.entries()) {
      expect(w.waitMs).toBeGreaterThan(1000); // longer than archiveCheckInterval
      // Exponential in the failure count (jitter only adds), capped at the worker's 60 s ceiling.
      expect(w.waitMs).toBeGreaterThanOrEqual(Math.min(60_000, w.baseMs * 2 ** (w.failures - 1)));
      if (i > 0) {
        expect(w.failures).toBeGreaterThan(waits[i - 1]!.failures);
        expect(w.waitMs).toBeGreaterThanOrEqual(waits[i - 1]!.waitMs);
      }
    }
    expect(waits[2]!.waitMs).toBeGreaterThan(waits[0]!.waitMs);

    // New work arrives during the outage; the database comes back; nothing needs a human.
    await seed(sb.db, 'flaky', 40, 40, { tag: 'during-outage' });
    sb.proxy.setReachable(true);
    const healed = await waitFor(
      'Degraded=False and the new documents archived',
      async () => {
        const p = await getPolicy(sb.namespace, 'flaky');
        return condition(p, 'Degraded')?.status === 'False' && p?.status?.totals?.documentsDeleted === 140
          ? p
          : undefined;
      },
      150_000,
      500,
    );
    expect(condition(healed, 'Ready')?.status).toBe('True');
    expect(await sb.db.collection('flaky').countDocuments({})).toBe(0);
  }, 400_000);
});

/** The back-off waits the 'flaky' policy's worker logged since `since`. */
function backOffs(
  op: OperatorProcess,
  since: number,
): { failures: number; baseMs: number; waitMs: number }[] {
  return op.lines
    .filter((l) => l.policy === 'flaky' && l.msg === 'backing off' && Date.parse(l.time) >= since)
    .map((l) => ({ failures: Number(l.failures), baseMs: Number(l.baseMs), waitMs: Number(l.waitMs) }));
}

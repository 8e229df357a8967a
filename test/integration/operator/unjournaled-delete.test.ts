// Chaos finding 10: a replica is killed after a delete chunk reached MongoDB but before it journaled the
// chunk, and another replica holds the policy from then on. Only MongoDB knows whether that delete
// applied, and before the fix only the worker resuming the bundle asked it — on the killed replica, which
// never ran the policy again — so the status never counted those deletes. Now the restarted replica's
// journal sweep resolves the chunk itself (read-only counts on the chunk's ids, under the spool lock) and
// reports it (once the delete is old enough not to be still running): the status's documentsDeleted
// equals what was deleted, exactly once.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JournalData } from '../../../operator/archiver/journal.js';
import { apply, ensureCrd, getPolicy, OperatorProcess, waitFor } from './harness.js';
import { policyManifest, policySpec, sandbox, seed, type Sandbox } from './fixtures.js';

const N = 300;

describe('operator: a delete chunk sent by a killed replica, never journaled', () => {
  let sb: Sandbox;
  const ops: OperatorProcess[] = [];
  let args: string[];

  beforeAll(async () => {
    await ensureCrd();
    sb = await sandbox('op-unjournaled');
    await seed(sb.db, 'events', N, 40);
    args = [...sb.operatorArgs, '--lease-duration=4s', '--renew-interval=1s'];
  });
  afterAll(async () => {
    await Promise.all(ops.map((o) => o.stop()));
    await sb?.cleanup();
  });

  const start = async (
    name: string,
    identity: string,
    extra: Partial<Parameters<typeof OperatorProcess.start>[0]> = {},
  ) => {
    const op = await OperatorProcess.start({ name, args: [...args, `--identity=${identity}`], ...extra });
    ops.push(op);
    return op;
  };

  test('the restarted replica counts the chunk in the status while the other replica holds the policy', async () => {
    // Replica A archives and is killed (kill -9 hook) right after its only delete chunk was applied.
    const a = await start('unj-a', 'replica-a', {
      env: { GOCHIVE_TEST_CRASH_AT: 'mid-delete' },
      keepSpool: true,
    });
    await apply(
      policyManifest(sb.namespace, 'p', policySpec(sb, { queryLimit: 1000, s3: { uploadInterval: 3 } })),
    );
    const exit = await waitFor('replica A to kill itself mid-delete', () => a.exitInfo, 90_000);
    expect(exit.signal).toBe('SIGKILL');
    expect(await sb.db.collection('events').countDocuments()).toBe(0);
    const journalFile = path.join(a.spoolDir, sb.namespace, 'p', 'journal.json');
    const crashed = JSON.parse(await readFile(journalFile, 'utf8')) as JournalData;
    const bundle = crashed.bundles.find((b) => b.state === 'deleting');
    expect(bundle?.deleteIssued).toBeGreaterThan(bundle?.deleteOffset ?? 0);

    // Replica B takes the policy over (nothing left to fetch) and keeps it.
    const b = await start('unj-b', 'replica-b');
    const key = `${sb.namespace}/p`;
    await waitFor('replica B to run the policy', async () => (await b.runningPolicies()).has(key), 60_000);

    // Replica A comes back with its spool; B still holds the policy, so no worker of A reads that journal.
    const a2 = await start('unj-a2', 'replica-a', { spoolDir: a.spoolDir, keepSpool: true });
    const p = await waitFor(
      'the status to count the deletes of the killed chunk',
      async () => {
        const cur = await getPolicy(sb.namespace, 'p');
        return (cur?.status?.totals?.documentsDeleted ?? 0) >= N && cur;
      },
      100_000,
    );
    expect(p.status?.totals?.documentsDeleted).toBe(N);
    expect(p.status?.totals?.documentsArchived).toBe(N);
    expect((await b.runningPolicies()).has(key)).toBe(true);
    expect((await a2.runningPolicies()).has(key)).toBe(false);
    const resolved = JSON.parse(await readFile(journalFile, 'utf8')) as JournalData;
    const rb = resolved.bundles.find((x) => x.id === bundle!.id);
    expect(rb?.deleteOffset).toBe(bundle!.deleteIssued);
    expect(rb?.deleted).toBe(N);
  }, 240_000);
});

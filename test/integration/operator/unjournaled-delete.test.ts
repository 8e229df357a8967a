// Chaos findings 10 and 11: a replica is killed after a delete chunk reached MongoDB but before it
// journaled the chunk, and another replica takes the policy over. Only MongoDB knows whether that delete
// applied, and only the killed replica's spool knows the chunk; before, the status never counted those
// deletes when that replica did not run the policy again. Now the restarted replica claims the policy on
// its heartbeat Lease (its spool holds an uploaded bundle of it), the holder hands it over, and the
// resumed worker settles the chunk: the status's documentsDeleted equals what was deleted, exactly once.
// (When the holder's own spool holds uploaded bundles too, it keeps the policy and the restarted
// replica's journal sweep settles the chunk read-only: test/integration/archiver/settle-deletes.test.ts.)
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

  test('the restarted replica gets the policy back from the other replica and counts the chunk once', async () => {
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

    // Replica B takes the policy over (nothing left to fetch).
    const b = await start('unj-b', 'replica-b');
    const key = `${sb.namespace}/p`;
    await waitFor('replica B to run the policy', async () => (await b.runningPolicies()).has(key), 60_000);

    // Replica A comes back with its spool: it claims the policy, B hands it over, A finishes the bundle.
    const a2 = await start('unj-a2', 'replica-a', { spoolDir: a.spoolDir, keepSpool: true });
    await b.waitForLog(
      'the hand-over to A',
      (l) => l.msg === 'lease released' && String(l.reason).startsWith('handing over to replica-a'),
      60_000,
    );
    await waitFor('replica A to run the policy', async () => (await a2.runningPolicies()).has(key), 60_000);
    const p = await waitFor(
      'the status to count the deletes of the killed chunk',
      async () => {
        const cur = await getPolicy(sb.namespace, 'p');
        return (cur?.status?.totals?.documentsDeleted ?? 0) >= N && cur;
      },
      60_000,
    );
    expect(p.status?.totals).toMatchObject({
      documentsDeleted: N,
      documentsArchived: N,
      duplicatesUploaded: 0,
    });
    await waitFor('the bundle to be cleaned up', async () => {
      const j = JSON.parse(await readFile(journalFile, 'utf8')) as JournalData;
      return !j.bundles.some((x) => x.id === bundle!.id);
    });
  }, 240_000);
});

// Shows `kubectl get archivepolicies` every few seconds until the demo's policy has drained its backlog
// (phase Idle after deleting every document that was eligible when it was seeded), and fails with the reason when it cannot get there.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { ArchivePolicy } from '../../operator/api/schema.js';
import { runTool } from '../integration/chart/helm.js';
import { adminKubeConfig } from '../support/kube.js';
import type { LocalOperator } from './local-operator.js';
import { duration, LiveBlock } from './ui.js';

/** Blocked or Failed this long in a row ends the demo (a worker may fail once and retry). */
const STUCK_MS = 90_000;
/** Failed status reads this long in a row end the demo. */
const API_DOWN_MS = 30_000;
/** After the last delete, how long to wait for the worker's backlog estimate to reach 0. */
const SETTLE_MS = 150_000;

export async function getPolicy(namespace: string, name: string): Promise<ArchivePolicy | undefined> {
  try {
    return (await adminKubeConfig().makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'gochive.io',
      version: 'v1alpha1',
      namespace,
      plural: 'archivepolicies',
      name,
    })) as ArchivePolicy;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** One line saying why a policy is where it is (its Ready condition or last error). */
export function explain(p: ArchivePolicy | undefined): string {
  if (!p) return 'the ArchivePolicy does not exist';
  const s = p.status ?? {};
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  const parts = [`phase ${s.phase ?? '(none yet)'}`];
  if (ready) parts.push(`Ready=${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}`.trim());
  if (s.lastError?.message) parts.push(`last error (${s.lastError.stage ?? '?'}): ${s.lastError.message}`);
  return parts.join('; ');
}

export async function watchUntilIdle(opts: {
  namespace: string;
  name: string;
  operator: LocalOperator;
  timeoutMs: number;
  intervalMs: number;
  /** Documents eligible when the collection was seeded: at least these must be deleted. */
  expectedDeleted: number;
  signal: AbortSignal;
}): Promise<{ policy: ArchivePolicy; archivedAfterMs: number }> {
  const block = new LiveBlock();
  const t0 = Date.now();
  let stuckSince: number | undefined;
  let failingSince: number | undefined;
  let last: ArchivePolicy | undefined;
  let drainedAt: number | undefined;
  try {
    for (;;) {
      opts.signal.throwIfAborted();
      const { child } = opts.operator;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `the operator exited (code ${child.exitCode ?? child.signalCode}); log tail:\n${opts.operator.logTail()}`,
        );
      let table: Awaited<ReturnType<typeof runTool>>;
      try {
        last = await getPolicy(opts.namespace, opts.name);
        table = await runTool('kubectl', ['get', 'archivepolicies', '-n', opts.namespace], {
          timeoutMs: 60_000,
        });
        if (table.code !== 0) throw new Error(table.stderr.trim());
        failingSince = undefined;
      } catch (err) {
        // A busy machine can time out a request; only an API server gone for a while ends the demo.
        failingSince ??= Date.now();
        if (Date.now() - failingSince > API_DOWN_MS)
          throw new Error(
            `the API server has not answered for ${duration(API_DOWN_MS)}: ${(err as Error).message}`,
            { cause: err },
          );
        await sleep(opts.intervalMs, opts.signal);
        continue;
      }
      const s = last?.status ?? {};
      // Idle alone is not enough: between two bundles the worker may report Idle while its next fetch
      // is still running (a slow FerretDB scan), so the documents known to be eligible must be gone too.
      const drained =
        s.phase === 'Idle' &&
        s.observedGeneration === last?.metadata.generation &&
        (s.totals?.documentsDeleted ?? 0) >= Math.max(1, opts.expectedDeleted);
      if (drained) drainedAt ??= Date.now();
      else drainedAt = undefined;

      const elapsed = duration(Date.now() - t0);
      const note = drainedAt
        ? `all ${opts.expectedDeleted} eligible documents are archived; waiting for the next backlog estimate`
        : `refreshing every ${opts.intervalMs / 1000}s`;
      // Redrawn on a terminal; elsewhere printed when the phase or the counts change.
      const key = [s.phase, s.totals?.documentsArchived, s.totals?.documentsDeleted, s.backlog].join('|');
      block.show(`${elapsed} since the operator started (${note})\n${table.stdout}`, key);

      // The backlog column is an estimate the worker refreshes about once a minute: show the final
      // table once it has caught up (or after SETTLE_MS), not a stale number next to Idle.
      if (drainedAt && last && (!s.backlog || Date.now() - drainedAt > SETTLE_MS))
        return { policy: last, archivedAfterMs: drainedAt - t0 };

      if (s.phase === 'Blocked' || s.phase === 'Failed') {
        stuckSince ??= Date.now();
        if (Date.now() - stuckSince > STUCK_MS)
          throw new Error(
            `the policy stayed ${s.phase} for ${duration(STUCK_MS)}: ${explain(last)}\noperator log tail:\n${opts.operator.logTail()}`,
          );
      } else stuckSince = undefined;

      if (Date.now() - t0 > opts.timeoutMs)
        throw new Error(
          `the policy did not reach Idle within ${duration(opts.timeoutMs)} (a busy machine is slower; ` +
            `raise it with DEMO_TIMEOUT=40m): ${explain(last)}\noperator log tail:\n${opts.operator.logTail()}`,
        );
      await sleep(opts.intervalMs, opts.signal);
    }
  } finally {
    block.done();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// status.totals, exact across crashes, restarts and replicas. Each worker journal keeps lifetime counts
// (archiver/counters.ts); the status keeps, beside the totals and in the same write, the lifetime value
// of each journal it already includes (totalsCheckpoints). A write adds only what a journal counted
// beyond its checkpoint — so a status write that lands twice, a kill -9 right after a write, a stale
// informer copy (the write is conditional on resourceVersion) or two replicas writing in turn never
// count anything twice or lose it.
import type { ArchivePolicyStatus } from '../api/schema.js';
import { MAX_TOTALS_CHECKPOINTS } from '../api/schema.js';
import { addCounters, COUNTERS, countersSince, readCounters, type Counters } from '../archiver/counters.js';

export interface CounterSource {
  journal: string;
  lifetime: Counters;
}

type Totals = NonNullable<ArchivePolicyStatus['totals']>;
type Checkpoint = NonNullable<ArchivePolicyStatus['totalsCheckpoints']>[number];

/**
 * The totals and checkpoints after including `source` into `prev`. `ineligible` is a gauge (the latest
 * estimate) and replaces the previous figure when given. The first checkpoint names the journal that
 * worked on the policy last (workers read it, worker.journalSuperseded); `asWorker: false` reports
 * counts of a journal whose worker no longer runs without claiming that place.
 */
export function mergeTotals(
  prev: ArchivePolicyStatus | undefined,
  source: CounterSource | undefined,
  ineligible: number | undefined,
  asWorker = true,
): { totals: Required<Totals>; totalsCheckpoints?: Checkpoint[] } {
  let counts = readCounters(prev?.totals);
  let checkpoints = prev?.totalsCheckpoints ? [...prev.totalsCheckpoints] : undefined;
  if (source) {
    const i = checkpoints?.findIndex((c) => c.journal === source.journal) ?? -1;
    const included = readCounters(i >= 0 ? checkpoints![i] : undefined);
    const delta = countersSince(source.lifetime, included);
    const changed = COUNTERS.some((k) => delta[k] > 0);
    if (changed || (asWorker && i !== 0) || i < 0) {
      counts = addCounters(counts, delta);
      const entry: Checkpoint = { journal: source.journal, ...addCounters(included, delta) };
      const others = (checkpoints ?? []).filter((c) => c.journal !== source.journal);
      // Most recent worker first; the oldest drop out (journals of replicas long gone).
      const at = asWorker ? 0 : i >= 0 ? i : Math.min(1, others.length);
      others.splice(at, 0, entry);
      checkpoints = others.slice(0, MAX_TOTALS_CHECKPOINTS);
    }
  }
  const totals: Required<Totals> = {
    ...counts,
    documentsIneligible: ineligible ?? prev?.totals?.documentsIneligible ?? 0,
  };
  return checkpoints ? { totals, totalsCheckpoints: checkpoints } : { totals };
}

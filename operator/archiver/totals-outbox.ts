// The totals "outbox": status totals live in ArchivePolicy.status, written by the operator at most once
// a second, so a kill -9 would lose whatever the worker counted since the last write. The journal keeps,
// atomically with every transition that changes a total (upload verified, delete chunk done), the
// cumulative totals not yet acknowledged as written; the operator acknowledges after each successful
// status write, and a restarted worker starts its totals at the unacknowledged remainder — so
// status totals + worker totals end exact. documentsIneligible is a gauge, not a running total: it is
// never carried.
import type { WorkerTotals } from './worker-api.js';

export type Counter = Exclude<keyof WorkerTotals, 'documentsIneligible'>;
export const COUNTERS: readonly Counter[] = [
  'documentsArchived',
  'documentsDeleted',
  'documentsSkipped',
  'bundlesUploaded',
  'bytesUploaded',
  'duplicatesUploaded',
];

export type Counters = Record<Counter, number>;

export function zeroCounters(): Counters {
  return Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Counters;
}

/** What `totals` holds beyond `acked` (never negative). */
export function unacknowledged(totals: WorkerTotals, acked: Counters): Counters {
  return Object.fromEntries(COUNTERS.map((k) => [k, Math.max(0, totals[k] - acked[k])])) as Counters;
}

/**
 * The new acknowledged level after the operator wrote `written` (a value the worker's totals had): it
 * never goes back (acks can arrive out of order) and never passes what the worker counted.
 */
export function acknowledge(acked: Counters, written: WorkerTotals, totals: WorkerTotals): Counters {
  return Object.fromEntries(
    COUNTERS.map((k) => [k, Math.max(acked[k], Math.min(written[k], totals[k]))]),
  ) as Counters;
}

/** Totals a (re)started worker begins with: the remainder its journal carried over. */
export function carriedTotals(unacked: Partial<Counters> | undefined): WorkerTotals {
  const t: WorkerTotals = { ...zeroCounters(), documentsIneligible: 0 };
  for (const k of COUNTERS) {
    const v = unacked?.[k];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) t[k] = v;
  }
  return t;
}

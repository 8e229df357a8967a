// Running counts of a journal. The journal keeps `lifetime` — everything its workers counted for the
// policy (uid) it belongs to — saved atomically with every transition that changes a count (upload
// verified, delete chunk done), and a snapshot shows a count only after that save. Whoever reports the
// counts keeps a checkpoint of the lifetime value it already included (the operator: in the policy
// status, in the same write as the totals; `gochive archive`: `reported` in the journal at a clean
// exit), so a kill -9 at any moment neither loses nor repeats a count.
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

/** A worker's totals before it has counted anything. */
export function zeroTotals(): WorkerTotals {
  return { ...zeroCounters(), documentsIneligible: 0 };
}

/** A well-formed copy of counters read from a file or a status (missing or bad values are 0). */
export function readCounters(c: Partial<Record<string, unknown>> | undefined): Counters {
  const out = zeroCounters();
  for (const k of COUNTERS) {
    const v = c?.[k];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[k] = v;
  }
  return out;
}

export function addCounters(a: Counters, b: Partial<Counters>): Counters {
  const out = { ...a };
  for (const k of COUNTERS) out[k] += b[k] ?? 0;
  return out;
}

/** What `a` holds beyond `b`, per counter (never negative). */
export function countersSince(a: Counters, b: Counters): Counters {
  return Object.fromEntries(COUNTERS.map((k) => [k, Math.max(0, a[k] - b[k])])) as Counters;
}

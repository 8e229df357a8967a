// When held Leases are renewed, and whether this replica may take more. Renewals run on their own
// clock with a bounded number in flight; acquisitions wait while any held lease is overdue, so a
// replica holds only as many leases as the API server lets it keep renewed (a slow API server used to
// let new acquisitions crowd out renewals until leases were fenced at the renew deadline, over and over).

/**
 * At most this many renewals in flight (three times the 8 of the old passes): 1,000 leases on a 5 s
 * renew interval keep up while a PUT takes under 0.12 s, and with a 60 s lease under 0.48 s.
 */
export const MAX_RENEWALS_IN_FLIGHT = 24;

/** Renewals fall due up to this fraction of the renew interval early, so leases taken together drift apart. */
export const RENEW_JITTER = 0.1;

export interface RenewState {
  key: string;
  /** When the last renewal (or the acquisition) succeeded. */
  lastRenewOk: number;
  /** When the next renewal is due. */
  dueAt: number;
  /** After a failed renewal: not retried before this. */
  retryAt?: number;
  /** A renewal is in flight. */
  renewing: boolean;
  /** Its worker stopped while handing it back: no more renewals, the release follows. */
  workerStopped: boolean;
}

/** A failed renewal is retried after this fraction of the renew interval (it fails fast when the API server is down). */
export const RENEW_RETRY_FRACTION = 0.1;

/** When a lease renewed at `renewedAt` is next due; `random` in [0, 1) picks how early. */
export function nextRenewalDue(renewedAt: number, renewIntervalMs: number, random: number): number {
  return renewedAt + Math.round(renewIntervalMs * (1 - RENEW_JITTER * random));
}

/**
 * The leases to renew now: due and not in flight, the least recently renewed (nearest its deadline)
 * first, no more than keeps `maxInFlight` renewals in flight in all.
 */
export function renewalsDue(
  leases: Iterable<RenewState>,
  now: number,
  maxInFlight = MAX_RENEWALS_IN_FLIGHT,
): string[] {
  let inFlight = 0;
  const due: RenewState[] = [];
  for (const l of leases) {
    if (l.renewing) inFlight++;
    else if (!l.workerStopped && now >= l.dueAt && now >= (l.retryAt ?? 0)) due.push(l);
  }
  const room = Math.max(0, maxInFlight - inFlight);
  if (room === 0 || due.length === 0) return [];
  return due
    .sort((a, b) => a.lastRenewOk - b.lastRenewOk)
    .slice(0, room)
    .map((l) => l.key);
}

/** Past halfway between its due time and its renew deadline: renewals are not keeping up. */
export function renewalOverdue(l: RenewState, now: number, renewDeadlineMs: number): boolean {
  if (l.workerStopped) return false;
  const deadline = l.lastRenewOk + renewDeadlineMs;
  return now >= l.dueAt + (deadline - l.dueAt) / 2;
}

/** Keys of the held leases whose renewal is overdue; acquire nothing while there is one. */
export function overdueRenewals(
  leases: Iterable<RenewState>,
  now: number,
  renewDeadlineMs: number,
): string[] {
  const out: string[] = [];
  for (const l of leases) if (renewalOverdue(l, now, renewDeadlineMs)) out.push(l.key);
  return out;
}

/** Whether this replica may take another lease now. */
export function mayAcquire(leases: Iterable<RenewState>, now: number, renewDeadlineMs: number): boolean {
  for (const l of leases) if (renewalOverdue(l, now, renewDeadlineMs)) return false;
  return true;
}

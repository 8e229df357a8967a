import {
  MAX_RENEWALS_IN_FLIGHT,
  mayAcquire,
  nextRenewalDue,
  overdueRenewals,
  renewalsDue,
  RENEW_JITTER,
  type RenewState,
} from './lease-schedule.js';

const INTERVAL = 5000;
const DEADLINE = 10_000;

/** A lease last renewed at `at`, due one renew interval later. */
function lease(key: string, at: number, over: Partial<RenewState> = {}): RenewState {
  return { key, lastRenewOk: at, dueAt: at + INTERVAL, renewing: false, workerStopped: false, ...over };
}

describe('renewalsDue', () => {
  test('launches every due lease not in flight, nearest its deadline first', () => {
    const leases = [lease('a', 3000), lease('b', 1000), lease('c', 2000), lease('d', 4000)];
    // At 8.5 s, a, b and c are due (d at 9 s).
    expect(renewalsDue(leases, 8500)).toEqual(['b', 'c', 'a']);
  });

  test('a renewal in flight does not hold back the others (they are not serialised behind it)', () => {
    const leases = [lease('slow', 0, { renewing: true }), lease('a', 100), lease('b', 200)];
    expect(renewalsDue(leases, 6000)).toEqual(['a', 'b']);
  });

  test('keeps at most the bound in flight, counting those already in flight', () => {
    const inFlight = Array.from({ length: 5 }, (_, i) => lease(`f${i}`, 0, { renewing: true }));
    const due = Array.from({ length: 40 }, (_, i) => lease(`d${i}`, i));
    expect(renewalsDue([...inFlight, ...due], 6000, 16)).toHaveLength(11);
    expect(renewalsDue(due, 6000)).toHaveLength(MAX_RENEWALS_IN_FLIGHT);
    const full = Array.from({ length: 16 }, (_, i) => lease(`f${i}`, 0, { renewing: true }));
    expect(renewalsDue([...full, ...due], 6000, 16)).toEqual([]);
  });

  test('skips leases not yet due, waiting out a failed renewal, or whose worker stopped while handed back', () => {
    const leases = [
      lease('early', 2000),
      lease('retrying', 0, { retryAt: 7000 }),
      lease('stopped', 0, { workerStopped: true }),
      lease('due', 0),
    ];
    expect(renewalsDue(leases, 6000)).toEqual(['due']);
    expect(renewalsDue(leases, 7000)).toEqual(['retrying', 'due', 'early']);
  });
});

describe('mayAcquire', () => {
  test('no acquisitions once a held lease is past halfway between its due time and its renew deadline', () => {
    // Due at 5 s, deadline at 10 s: overdue from 7.5 s.
    const leases = [lease('a', 0), lease('b', 4000)];
    expect(mayAcquire(leases, 7499, DEADLINE)).toBe(true);
    expect(mayAcquire(leases, 7500, DEADLINE)).toBe(false);
    expect(overdueRenewals(leases, 7500, DEADLINE)).toEqual(['a']);
  });

  test('a renewal in flight that is late still holds acquisitions back', () => {
    expect(mayAcquire([lease('a', 0, { renewing: true })], 8000, DEADLINE)).toBe(false);
  });

  test('a lease whose worker stopped (its release follows) does not count; nothing held: acquire', () => {
    expect(mayAcquire([lease('a', 0, { workerStopped: true })], 9000, DEADLINE)).toBe(true);
    expect(mayAcquire([], 9000, DEADLINE)).toBe(true);
  });
});

describe('nextRenewalDue', () => {
  test('due one renew interval after the renewal, up to the jitter earlier, never later', () => {
    expect(nextRenewalDue(1000, INTERVAL, 0)).toBe(6000);
    expect(nextRenewalDue(1000, INTERVAL, 0.999)).toBeGreaterThanOrEqual(6000 - INTERVAL * RENEW_JITTER);
    expect(nextRenewalDue(1000, INTERVAL, 0.5)).toBeLessThan(6000);
  });

  test('leases renewed together fall due apart', () => {
    const due = new Set([0, 0.25, 0.5, 0.75].map((r) => nextRenewalDue(0, INTERVAL, r)));
    expect(due.size).toBe(4);
  });
});

import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const opts = { baseMs: 1000, maxMs: 60_000, jitter: 0.25 };
  test('doubles from the base and stops at the cap, also for huge failure counts', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, opts, () => 0))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(10, opts, () => 0)).toBe(60_000);
    expect(backoffDelay(5000, opts, () => 1)).toBe(60_000);
  });
  test('spreads retries of the same failure count (no lockstep) within the jitter', () => {
    const seen = new Set([0, 0.3, 0.7, 0.99].map((r) => backoffDelay(3, opts, () => r)));
    expect(seen.size).toBe(4);
    for (const d of seen) expect(d >= 4000 && d <= 5000).toBe(true);
  });
  test('full jitter: anywhere from 0 to the capped exponential delay', () => {
    const full = { baseMs: 200, maxMs: 10_000, fullJitter: true };
    expect(backoffDelay(1, full, () => 0)).toBe(0);
    expect(backoffDelay(3, full, () => 0.5)).toBe(400);
    expect(backoffDelay(3, full, () => 1)).toBe(800);
    expect(backoffDelay(30, full, () => 1)).toBe(10_000);
  });
});

// Exponential back-off with a cap and jitter, so failing policies (and re-listing informers) retry
// quickly at first and then settle into a slow, spread-out rhythm instead of hammering a server.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay added at random (0.1 = up to +10%), so many failing keys do not retry in lockstep. */
  jitter?: number;
  /**
   * "Full jitter": the delay is drawn anywhere from 0 to the capped exponential value (`jitter` is then
   * unused). Short request retries (storage, inserts) use it: many clients spread out at once.
   */
  fullJitter?: boolean;
}

export const defaultBackoff: BackoffOptions = { baseMs: 1000, maxMs: 300_000, jitter: 0.1 };

/** Delay before retry number `failures` (1 = first retry). */
export function backoffDelay(
  failures: number,
  opts: BackoffOptions = defaultBackoff,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, failures);
  // 2^(n-1) overflows to Infinity for huge n; Math.min keeps the cap.
  const raw = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n - 1, 60));
  if (opts.fullJitter) return Math.round(raw * random());
  const jitter = opts.jitter ?? 0;
  return Math.min(opts.maxMs, Math.round(raw * (1 + jitter * random())));
}

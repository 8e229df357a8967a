// The one retry loop for short operations (a storage request, an insert batch): a few attempts with
// jittered back-off (backoff.ts), only for errors the caller calls retryable. Loops that run for the
// life of a worker or controller use backoffDelay directly; nothing should wrap one retry in another,
// or the attempts multiply.
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { sleep } from './sleep.js';

export interface RetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  backoff: BackoffOptions;
  /** Whether a failure is worth another attempt; others are thrown at once. */
  retryable: (err: unknown) => boolean;
  /** Called before each wait, e.g. to log. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Aborting stops the waiting: the last error is thrown. */
  signal?: AbortSignal;
}

export async function retry<T>(op: (attempt: number) => Promise<T>, p: RetryPolicy): Promise<T> {
  const attempts = Math.max(1, p.attempts);
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (attempt >= attempts || !p.retryable(err) || p.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, p.backoff);
      p.onRetry?.(err, attempt, delay);
      await sleep(delay, p.signal);
      if (p.signal?.aborted) throw err;
    }
  }
}

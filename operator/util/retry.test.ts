import { retry, type RetryPolicy } from './retry.js';

const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  attempts: 4,
  backoff: { baseMs: 0, maxMs: 0 },
  retryable: (err) => (err as Error).message === 'transient',
  ...over,
});

/** An operation that always fails with `message`, counting its calls. */
function failing(message: string): { op: () => Promise<never>; calls: () => number } {
  let calls = 0;
  return {
    op: async () => {
      calls++;
      throw new Error(message);
    },
    calls: () => calls,
  };
}

describe('retry', () => {
  test('retries a retryable failure until it succeeds, telling onRetry each time', async () => {
    let calls = 0;
    const retried: number[] = [];
    const out = await retry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new Error('transient');
        return 'ok';
      },
      policy({ onRetry: (_e, attempt) => retried.push(attempt) }),
    );
    expect(out).toBe('ok');
    expect(calls).toBe(3);
    expect(retried).toEqual([1, 2]);
  });

  test('gives up after the configured attempts, with the last error', async () => {
    const f = failing('transient');
    const err = await retry(f.op, policy()).catch((e: unknown) => e);
    expect((err as Error).message).toBe('transient');
    expect(f.calls()).toBe(4);
  });

  test('a failure that is not retryable is thrown at once', async () => {
    const f = failing('permanent');
    const err = await retry(f.op, policy()).catch((e: unknown) => e);
    expect((err as Error).message).toBe('permanent');
    expect(f.calls()).toBe(1);
  });

  test('an abort ends the waiting: the error is thrown without another attempt', async () => {
    const ac = new AbortController();
    const f = failing('transient');
    const err = await retry(
      f.op,
      policy({
        backoff: { baseMs: 3_600_000, maxMs: 3_600_000 },
        signal: ac.signal,
        onRetry: () => ac.abort(),
      }),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('transient');
    expect(f.calls()).toBe(1);
  });
});

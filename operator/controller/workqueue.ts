// A keyed, de-duplicating work queue in the style of client-go's workqueue: a key waits in the queue at
// most once, a key is never handed to two reconcilers at the same time (an add while it is being
// processed marks it dirty and it runs again afterwards), and failures requeue it with per-key
// exponential back-off. Level-based reconcile makes this safe: a reconcile always reads the latest
// state, so collapsing ten events into one run loses nothing.
import { backoffDelay, defaultBackoff, type BackoffOptions } from '../util/backoff.js';

export interface ReconcileResult {
  /** Run this key again after the delay (not an error: e.g. a periodic re-check). Resets back-off. */
  requeueAfterMs?: number;
  /** Run this key again with back-off (a transient problem that is not worth an exception). */
  requeue?: boolean;
}

export type ReconcileFn = (key: string) => Promise<ReconcileResult | void>;

export interface WorkQueueOptions {
  concurrency: number;
  backoff?: BackoffOptions;
  /** Called when a reconcile throws; the key is requeued with back-off. */
  onError?: (key: string, err: unknown, failures: number, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys waiting in `queue` (so a second add is a no-op). */
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while processing: requeued when their current run finishes. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly idleWaiters: Array<() => void> = [];
  private handler: ReconcileFn | undefined;
  private running = 0;
  private shuttingDown = false;
  private readonly backoff: BackoffOptions;

  constructor(private readonly opts: WorkQueueOptions) {
    if (!(opts.concurrency >= 1))
      throw new Error(`work queue concurrency must be >= 1, got ${opts.concurrency}`);
    this.backoff = opts.backoff ?? defaultBackoff;
  }

  /** Starts handing keys to `handler`, at most `concurrency` at a time. */
  start(handler: ReconcileFn): void {
    this.handler = handler;
    this.pump();
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after `delayMs`; if a sooner delayed add is pending, that one wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Requeues with this key's next back-off delay; returns the delay. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffDelay(n, this.backoff);
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the key's back-off (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  get length(): number {
    return this.queue.length;
  }

  get activeCount(): number {
    return this.running;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Stops taking new keys, cancels delayed adds and waits for running reconciles to finish. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    if (this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (!this.shuttingDown && this.running < this.opts.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.running++;
      void this.process(handler, key);
    }
  }

  private async process(handler: ReconcileFn, key: string): Promise<void> {
    try {
      const result = await handler(key);
      if (result?.requeue) {
        this.addRateLimited(key);
      } else {
        this.forget(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      }
    } catch (err) {
      const delay = this.addRateLimited(key);
      this.opts.onError?.(key, err, this.failures.get(key) ?? 0, delay);
    } finally {
      this.processing.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      if (this.running === 0 && this.shuttingDown) for (const w of this.idleWaiters.splice(0)) w();
      this.pump();
    }
  }
}

// The bundle being sealed in the background. Sealing (hashing, tar, gzip: seal.ts) takes as long as
// compressing the bundle, so the worker starts it and goes on fetching the next bundle, or deleting
// the previous one's documents, meanwhile; gzip runs in libuv's thread pool, on the other core. One seal
// at a time: memory and disk stay bounded whatever the backlog, and bundles are sealed in fetch order.
export class BackgroundSeal {
  private current?: { id: string; done: Promise<void> };
  private failure?: unknown;

  /** The bundle whose seal is running, if any. */
  get inFlight(): string | undefined {
    return this.current?.id;
  }

  /** Starts sealing bundle `id` with `work`; the caller has waited for the previous seal (wait()). */
  start(id: string, work: () => Promise<void>): void {
    if (this.current) throw new Error(`bundle ${this.current.id} is still being sealed`);
    const done = work().then(
      () => undefined,
      (err: unknown) => {
        this.failure = err;
      },
    );
    this.current = { id, done };
    void done.then(() => {
      if (this.current?.done === done) this.current = undefined;
    });
  }

  /** Waits for the seal in flight; throws its error (once). */
  async wait(): Promise<void> {
    await this.current?.done;
    const err = this.failure;
    this.failure = undefined;
    if (err !== undefined) throw err;
  }

  /** Waits for the seal in flight and forgets its error (stopping, or its bundle is being dropped). */
  async settle(): Promise<void> {
    await this.wait().catch(() => undefined);
  }
}

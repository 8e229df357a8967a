// --max-docs-per-second: a limiter that keeps the average rate since start at or below the limit.
export class RateLimiter {
  private readonly started = Date.now();
  private taken = 0;

  constructor(private readonly perSecond: number) {}

  /** Waits until `n` more units fit within the rate. */
  async take(n: number): Promise<void> {
    this.taken += n;
    // The first batch goes at once; later ones wait for the time the earlier ones are owed.
    const due = this.started + ((this.taken - n) / this.perSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

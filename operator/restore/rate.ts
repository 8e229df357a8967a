// --max-docs-per-second: keeps the average rate, measured from the first batch, at or below the limit.
// (The clock starts at the first take, so time spent downloading before it is not "credit" for a burst.)
import { sleep } from '../util/sleep.js';

export class RateLimiter {
  private started: number | undefined;
  private taken = 0;

  constructor(private readonly perSecond: number) {}

  /** Waits until `n` more units fit within the rate. */
  async take(n: number): Promise<void> {
    this.started ??= Date.now();
    this.taken += n;
    // The first batch goes at once; later ones wait for the time the earlier ones are owed.
    const due = this.started + ((this.taken - n) / this.perSecond) * 1000;
    const wait = due - Date.now();
    await sleep(wait);
  }
}

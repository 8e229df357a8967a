// Query latency as a throttle signal: the median of the policy's most recent MongoDB round trips (a find
// or getMore of a fetch batch, a delete chunk, a throttled worker's probe). A median of 5 needs 3 slow
// operations before it moves, so one slow query does not start a throttle and one fast query does not
// end it; the caller adds hysteresis (a throttle ends only below a fraction of the limit).

/** Recent round trips kept. */
export const LATENCY_WINDOW = 5;
/** No verdict before this many samples (a majority of the window). */
export const LATENCY_MIN_SAMPLES = 3;

export class LatencySignal {
  private readonly samples: number[] = [];

  constructor(private readonly window = LATENCY_WINDOW) {}

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.samples.push(ms);
    if (this.samples.length > this.window) this.samples.shift();
  }

  /** How many samples the median is taken over. */
  get count(): number {
    return this.samples.length;
  }

  /** Median of the recent samples (ms), undefined until there are enough of them. */
  get median(): number | undefined {
    if (this.samples.length < LATENCY_MIN_SAMPLES) return undefined;
    const s = [...this.samples].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  }

  /** Whether the median exceeds `limitMs`. */
  above(limitMs: number): boolean {
    const m = this.median;
    return m !== undefined && m > limitMs;
  }
}

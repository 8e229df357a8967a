// A one-line progress bar with rate and ETA on a TTY (stderr); silent otherwise, so pipes and logs
// stay clean.
import type { WriteStream } from 'node:tty';
import { formatBytes } from '../util/format-bytes.js';

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, '0')}s`
      : `${sec}s`;
}

export class ProgressBar {
  private last = 0;
  private readonly started = Date.now();
  private shown = false;

  constructor(
    private readonly out: WriteStream | undefined,
    /** Units of work (bytes) in total. */
    private readonly total: number,
  ) {}

  static forStderr(total: number): ProgressBar {
    const err = process.stderr as WriteStream;
    return new ProgressBar(err.isTTY ? err : undefined, total);
  }

  /** `done` units so far; `docs` and a short label shown beside. Throttled to 10 redraws a second. */
  update(done: number, docs: number, label = '', force = false): void {
    if (!this.out) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const elapsed = (now - this.started) / 1000;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = frac > 0 ? (elapsed / frac) * (1 - frac) : NaN;
    const rate = elapsed > 0 ? Math.round(docs / elapsed) : 0;
    const line =
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${formatBytes(done)}/${formatBytes(this.total)}  ${docs.toLocaleString('en-US')} docs  ${rate.toLocaleString('en-US')} docs/s  ` +
      `ETA ${formatSeconds(eta)}${label ? `  ${label}` : ''}`;
    const cols = this.out.columns || 120;
    this.out.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}\x1b[K`);
    this.shown = true;
  }

  finish(): void {
    if (this.out && this.shown) this.out.write('\r\x1b[K');
  }
}

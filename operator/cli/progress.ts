// Progress of `gochive archive` on a terminal: one line per policy, redrawn in place on stderr.
// Off a TTY nothing is drawn (the pino JSON logs say what happens).
import type { WorkerSnapshot } from '../archiver/worker-api.js';
import { formatBytes } from '../util/format-bytes.js';

export interface ProgressSource {
  label: string;
  snapshot(): WorkerSnapshot;
  /** Documents fetched so far (drives the rate). */
  fetched(): number;
}

const fmt = new Intl.NumberFormat('en-US');

export function progressLine(label: string, s: WorkerSnapshot, ratePerSec: number): string {
  const t = s.totals;
  const parts = [
    `${label}`,
    s.state + (s.reason && s.state !== 'Archiving' ? ` (${s.reason})` : ''),
    `archived ${fmt.format(t.documentsArchived)}`,
    `deleted ${fmt.format(t.documentsDeleted)}`,
    `bundles ${fmt.format(t.bundlesUploaded)} (${formatBytes(t.bytesUploaded)})`,
    `${fmt.format(Math.round(ratePerSec))} docs/s`,
    `backlog ${s.backlog === undefined ? '?' : `~${fmt.format(s.backlog)}`}`,
    `spool ${fmt.format(s.spooledDocuments)} docs`,
  ];
  if (t.documentsSkipped) parts.push(`skipped ${fmt.format(t.documentsSkipped)}`);
  if (s.throttle?.active) parts.push(`THROTTLED (${s.throttle.reason}): ${s.throttle.message ?? ''}`);
  if (s.lastError && s.state !== 'Idle' && s.state !== 'Stopped')
    parts.push(`last error: ${s.lastError.stage}: ${s.lastError.message}`);
  return parts.join(' | ');
}

export class ProgressView {
  private timer?: NodeJS.Timeout;
  private drawn = 0;
  private last = new Map<string, { t: number; n: number; rate: number }>();

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly sources: ProgressSource[],
  ) {}

  start(intervalMs = 500): void {
    this.render();
    this.timer = setInterval(() => this.render(), intervalMs);
    this.timer.unref();
  }

  /** Clears the lines so a log line can be written, then redraws on the next tick. */
  clear(): void {
    if (!this.drawn) return;
    this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.render();
    this.drawn = 0;
  }

  private render(): void {
    const now = performance.now();
    // Lines longer than the terminal would wrap and break the redraw; an unknown or tiny width is not trusted.
    const cols = this.out.columns;
    const width = cols && cols >= 60 ? cols - 1 : Number.POSITIVE_INFINITY;
    const lines = this.sources.map((src) => {
      const n = src.fetched();
      const prev = this.last.get(src.label);
      let rate = prev?.rate ?? 0;
      if (prev && now - prev.t >= 1000) {
        rate = ((n - prev.n) / (now - prev.t)) * 1000;
        this.last.set(src.label, { t: now, n, rate });
      } else if (!prev) this.last.set(src.label, { t: now, n, rate: 0 });
      const line = progressLine(src.label, src.snapshot(), rate);
      return line.length > width ? `${line.slice(0, width - 1)}…` : line;
    });
    let text = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) text += `\x1b[2K${l}\n`;
    this.out.write(text);
    this.drawn = lines.length;
  }
}

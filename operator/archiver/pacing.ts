// Pacing helpers: a documents-per-second limiter and archive windows.
import { sleep } from '../util/sleep.js';
import type { ArchiveWindow } from './config.js';

/** Token bucket: at most `perSecond` documents per second on average, bursts of one second. */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly signal?: AbortSignal,
  ) {
    this.tokens = perSecond;
  }

  async take(n = 1): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= n;
    if (this.tokens < 0) await sleep((-this.tokens / this.perSecond) * 1000, this.signal);
  }
}

function minutesOf(hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!m) throw new Error(`window time '${hhmm}' must be HH:MM (24h)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Weekday (0=Sunday) and minute of day of `at` in `timeZone`. */
export function localTime(at: Date, timeZone = 'UTC'): { day: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (t: string): string => parts.find((p) => p.type === t)?.value ?? '';
  return { day: WEEKDAYS[get('weekday')] ?? 0, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

/** Whether `at` falls inside one of the windows (no windows = always). */
export function insideWindows(windows: ArchiveWindow[] | undefined, at: Date): boolean {
  if (!windows?.length) return true;
  return windows.some((w) => {
    const { day, minute } = localTime(at, w.timeZone ?? 'UTC');
    const start = minutesOf(w.start);
    const end = minutesOf(w.end);
    const days = w.days?.length ? w.days : undefined;
    if (start === end) return !days || days.includes(day); // whole day
    if (start < end) return (!days || days.includes(day)) && minute >= start && minute < end;
    // Wraps past midnight: the part after midnight belongs to the previous day's window.
    if (minute >= start) return !days || days.includes(day);
    if (minute < end) return !days || days.includes((day + 6) % 7);
    return false;
  });
}

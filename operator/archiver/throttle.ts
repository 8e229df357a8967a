// The throttle (spec.throttle): a gate the worker passes before each fetch batch and each delete chunk.
// While replication lag (throttle-lag.ts) or the median latency of the policy's own queries
// (throttle-latency.ts) is above its limit, the gate does not open: nothing new is sent to MongoDB, what
// is in flight has already finished (the gate sits between operations, so no batch or chunk is cut),
// and every checkInterval the signals are measured again — lag with replSetGetStatus, latency with one
// small query of the policy's own (the fetch query, limit 1, `_id` only). It opens once every signal is
// at most THROTTLE_RESUME_FRACTION of its limit (hysteresis, so a value hovering at the limit does not
// flap). Throttled time is counted per reason; the worker reports start, end and the running state.
import type { Collection, Db } from 'mongodb';
import { formatDuration } from '../api/duration.js';
import { THROTTLE_RESUME_FRACTION } from '../api/schema.js';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { sleep } from '../util/sleep.js';
import type { ThrottleConfig } from './config.js';
import { agePath, type EligibilityTarget } from './eligibility.js';
import { rangeQuery } from './fetch.js';
import { LatencySignal } from './throttle-latency.js';
import { ReplicationLagProbe, type LagReading } from './throttle-lag.js';

export type ThrottleReason = 'ReplicationLag' | 'QueryLatency';
export const THROTTLE_REASONS: ThrottleReason[] = ['ReplicationLag', 'QueryLatency'];

/** What the worker reports about its throttle (WorkerSnapshot.throttle). */
export interface ThrottleSnapshot {
  active: boolean;
  reason?: ThrottleReason;
  /** The measured value and the limit, in words. */
  message?: string;
  /** When the current throttle started (RFC 3339). */
  since?: string;
  /** Throttled time of this worker run, per reason, including the current period. */
  seconds: Record<ThrottleReason, number>;
}

export interface ThrottleChange {
  phase: 'start' | 'end';
  reason: ThrottleReason;
  message: string;
  /** end: how long this throttle lasted. */
  seconds?: number;
}

export interface ThrottleDeps {
  cfg: ThrottleConfig;
  log: Logger;
  signal: AbortSignal;
  /** Connects if the worker's client was dropped (after connectivity failures); may throw. */
  connect(): Promise<void>;
  /** The policy's collection and the server's admin database, when connected. */
  collection(): Collection | undefined;
  admin(): Db | undefined;
  target: EligibilityTarget;
  cutoffMs(): number;
  secrets: string[];
  /** Throttle started or ended. */
  onChange(change: ThrottleChange): void;
  /** Called after each re-check while throttled (the running time grows). */
  onTick(): void;
  /** Monotonic clock in ms (tests); default performance.now. */
  clock?: () => number;
}

interface Verdict {
  reason: ThrottleReason;
  message: string;
}

export class Throttle {
  private readonly latency = new LatencySignal();
  private readonly lagProbe: ReplicationLagProbe;
  private lag?: LagReading;
  private lastLagRead = -Infinity;
  private active?: Verdict & { sinceMs: number; since: string };
  private accountedAt = 0;
  private readonly seconds: Record<ThrottleReason, number> = { ReplicationLag: 0, QueryLatency: 0 };

  private readonly clock: () => number;
  private pending?: Promise<void>;

  constructor(private readonly d: ThrottleDeps) {
    this.lagProbe = new ReplicationLagProbe(d.log);
    this.clock = d.clock ?? (() => performance.now());
  }

  /** A round trip of the policy's own queries took `ms`. */
  recordLatency(ms: number): void {
    if (this.d.cfg.maxQueryLatencyMs !== undefined) this.latency.record(ms);
  }

  snapshot(): ThrottleSnapshot {
    const seconds = { ...this.seconds };
    if (this.active) seconds[this.active.reason] += (this.clock() - this.accountedAt) / 1000;
    return this.active
      ? {
          active: true,
          reason: this.active.reason,
          message: this.active.message,
          since: this.active.since,
          seconds,
        }
      : { active: false, seconds };
  }

  /**
   * Returns at once when no limit is exceeded; otherwise waits, re-checking every checkInterval, until
   * none is (or the worker stops).
   */
  gate(): Promise<void> {
    // Callers waiting at the same time (the fetch loop, and an upload tick's deletes) share one wait.
    this.pending ??= this.pass().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async pass(): Promise<void> {
    await this.readLag(false);
    let v = this.verdict();
    if (!v) return;
    this.begin(v);
    while (!this.d.signal.aborted) {
      await sleep(this.d.cfg.checkIntervalMs, this.d.signal);
      if (this.d.signal.aborted) break;
      await this.readLag(true);
      await this.probeLatency();
      v = this.verdict();
      if (!v) break;
      this.account();
      if (v.reason !== this.active!.reason || v.message !== this.active!.message)
        this.active = { ...this.active!, ...v };
      this.d.onTick();
    }
    this.end();
  }

  private verdict(): Verdict | undefined {
    const { maxReplicationLagMs: lagMax, maxQueryLatencyMs: latMax } = this.d.cfg;
    // Throttled: every signal must fall to a fraction of its limit before the gate opens (hysteresis).
    const f = this.active ? THROTTLE_RESUME_FRACTION : 1;
    if (lagMax !== undefined && this.lag?.kind === 'lag' && this.lag.seconds * 1000 > lagMax * f) {
      const l = this.lag;
      return {
        reason: 'ReplicationLag',
        message: this.describe(
          `replication lag ${l.seconds.toFixed(1)}s (${l.member} behind primary ${l.primary})`,
          l.seconds * 1000 > lagMax,
          `maxReplicationLag ${formatDuration(lagMax)}`,
          formatDuration(lagMax * THROTTLE_RESUME_FRACTION),
        ),
      };
    }
    if (latMax !== undefined && this.latency.above(latMax * f)) {
      const median = this.latency.median!;
      return {
        reason: 'QueryLatency',
        message: this.describe(
          `median latency of the last ${this.latency.count} queries ${Math.round(median)} ms`,
          median > latMax,
          `maxQueryLatencyMilliseconds ${latMax}`,
          `${Math.round(latMax * THROTTLE_RESUME_FRACTION)} ms`,
        ),
      };
    }
    return undefined;
  }

  /** The condition message: the measured value, the limit, and (throttled) where the throttle ends. */
  private describe(measured: string, overLimit: boolean, limit: string, resumeAt: string): string {
    const pct = `${THROTTLE_RESUME_FRACTION * 100}%`;
    const state = overLimit
      ? `is above ${limit}`
      : `is under ${limit} but not yet back to ${resumeAt} (${pct} of the limit)`;
    const ends = overLimit ? `; resumes at ${resumeAt} or less` : '';
    return `${measured} ${state}${ends}: no new fetch or delete starts`;
  }

  private async readLag(force: boolean): Promise<void> {
    if (this.d.cfg.maxReplicationLagMs === undefined || this.lagProbe.noSignal) return;
    const now = this.clock();
    if (!force && now - this.lastLagRead < this.d.cfg.checkIntervalMs) return;
    this.lastLagRead = now;
    try {
      await this.d.connect();
      const admin = this.d.admin();
      if (!admin) return;
      this.lag = await this.lagProbe.read(admin);
      if (this.lag.kind === 'none') this.d.log.debug({ why: this.lag.why }, 'no replication lag reading');
    } catch (err) {
      // Transient (network): no reading this time; the fetch or delete that follows reports real trouble.
      this.lag = undefined;
      this.d.log.debug({ err: errorMessage(err, this.d.secrets) }, 'replication lag not read');
    }
  }

  /** One small query of the policy's own, timed: the latency signal moves while nothing else runs. */
  private async probeLatency(): Promise<void> {
    if (this.d.cfg.maxQueryLatencyMs === undefined) return;
    try {
      await this.d.connect();
      const coll = this.d.collection();
      if (!coll) return;
      const t0 = this.clock();
      await coll
        .find(rangeQuery(this.d.target, this.d.cutoffMs(), {}), {
          projection: { _id: 1 },
          sort: { [agePath(this.d.target)]: 1 },
          limit: 1,
        })
        .toArray();
      this.latency.record(this.clock() - t0);
    } catch (err) {
      this.d.log.debug({ err: errorMessage(err, this.d.secrets) }, 'throttle latency probe failed');
    }
  }

  private begin(v: Verdict): void {
    const now = this.clock();
    this.active = { ...v, sinceMs: now, since: new Date().toISOString() };
    this.accountedAt = now;
    this.d.log.warn({ reason: v.reason }, `throttled: ${v.message}`);
    this.d.onChange({ phase: 'start', ...v });
  }

  private account(): void {
    const now = this.clock();
    if (this.active) this.seconds[this.active.reason] += (now - this.accountedAt) / 1000;
    this.accountedAt = now;
  }

  private end(): void {
    const a = this.active;
    if (!a) return;
    this.account();
    this.active = undefined;
    const seconds = (this.clock() - a.sinceMs) / 1000;
    const message = this.d.signal.aborted
      ? `throttle (${a.reason}) ended after ${seconds.toFixed(1)}s: the worker is stopping`
      : `throttle (${a.reason}) ended after ${seconds.toFixed(1)}s: every signal is back under its limit`;
    this.d.log.info({ reason: a.reason, seconds }, message);
    this.d.onChange({ phase: 'end', reason: a.reason, message, seconds });
  }
}

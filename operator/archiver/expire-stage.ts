// The worker's expiry (spec.s3.expireAfter): every `intervalMs`, one bounded pass of expire.ts over the
// policy's own prefix, removing only bundles whose manifest names this policy and that the ledger no
// longer needs. It runs inside the worker, so only the replica holding the policy's Lease prunes it,
// and it stops with the worker. A pass cut short by its bound is followed by the next one soon after.
import type { Destination } from '../storage/destination.js';
import type { Logger } from '../util/logger.js';
import type { PolicyConfig } from './config.js';
import { describeExpiry, expireBundles, type ExpiredBundle, type ExpireResult } from './expire.js';
import type { Ledger } from './ledger.js';

/** Default time between passes. */
export const EXPIRE_INTERVAL_MS = 3_600_000;
/** After a pass that reached its bound, the next one starts this soon. */
const CONTINUE_AFTER_MS = 10_000;

export interface ExpireTuning {
  /** Time between passes (default 1 h; the operator's --expire-interval). */
  expireIntervalMs?: number;
  /** Bundles removed at most per pass (default 1000). */
  expireMaxBundles?: number;
}

export interface ExpireStageContext {
  cfg: PolicyConfig;
  dest: Destination;
  ledger: Ledger;
  log: Logger;
  now: () => number;
  stopping: () => boolean;
}

export interface ExpireStageHooks {
  onRemoved?(b: ExpiredBundle): void;
  onPass?(r: ExpireResult): void;
}

export class ExpireStage {
  /** The last pass that ran to the end (or to its bound). */
  last?: ExpireResult & { time: string };

  constructor(
    private readonly tuning: ExpireTuning,
    private readonly hooks: ExpireStageHooks = {},
  ) {}

  get intervalMs(): number {
    return this.tuning.expireIntervalMs ?? EXPIRE_INTERVAL_MS;
  }

  /** The first pass waits a random part of the interval (at most a minute): replicas restarting with many policies do not list all at once. */
  firstDelayMs(): number {
    return Math.floor(Math.random() * Math.min(this.intervalMs, 60_000));
  }

  /** One pass; returns the wait before the next. */
  async pass(ctx: ExpireStageContext): Promise<number> {
    const { cfg } = ctx;
    if (cfg.expireAfterMs === undefined) return this.intervalMs;
    const cutoff = new Date(ctx.now() - cfg.expireAfterMs);
    const r = await expireBundles({
      dest: ctx.dest,
      prefix: cfg.destination.prefix,
      cutoff,
      dryRun: cfg.dryRun,
      match: { policy: cfg.name, namespace: cfg.namespace },
      inFlight: async () => new Set((await ctx.ledger.store.read()).bundles.map((b) => b.key)),
      ...(this.tuning.expireMaxBundles ? { maxBundles: this.tuning.expireMaxBundles } : {}),
      log: ctx.log,
      stopping: ctx.stopping,
      onRemoved: (b) => {
        ctx.log.info({ key: b.key, newest: b.newest, bytes: b.bytes }, 'expired bundle removed');
        this.hooks.onRemoved?.(b);
      },
    });
    if (r.dryRun) {
      for (const b of r.expired)
        ctx.log.info(
          { key: b.key, newest: b.newest, bytes: b.bytes },
          'dry run: would remove expired bundle',
        );
    }
    const kept = Object.values(r.kept).reduce((a, n) => a + n, 0);
    if (r.expired.length > 0 || kept > 0)
      ctx.log.info(
        { kept: r.kept, keptKeys: r.keptKeys, truncated: r.truncated },
        `expiry: ${describeExpiry(r)}`,
      );
    this.last = { ...r, time: new Date(ctx.now()).toISOString() };
    this.hooks.onPass?.(r);
    return r.truncated ? CONTINUE_AFTER_MS : this.intervalMs;
  }
}

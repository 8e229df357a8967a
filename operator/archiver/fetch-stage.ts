// Fetch stage: one batch of eligible documents from MongoDB appended to the open bundle in the spool
// (fetch.ts pages, spool.ts appends), plus what that needs to know about the server — whether an index
// serves the archive field (checked once) and which `$type` aliases it understands (FerretDB lacks
// several). The worker decides when to fetch (windows, spool cap, pass restarts); this stage does it.
import { BSON, type Collection, type Document } from 'mongodb';
import { newBundleId } from '../bundle/keys.js';
import type { Logger } from '../util/logger.js';
import type { PolicyConfig } from './config.js';
import type { EligibilityTarget } from './eligibility.js';
import type { Fetcher, FetchPosition, FetchResult } from './fetch.js';
import { checkArchiveIndex } from './index-check.js';
import type { Journal, JournalBundle } from './journal.js';
import type { RateLimiter } from './pacing.js';
import { TYPE_BRACKETS } from './raw-bson.js';
import { EMPTY_COMMIT, type SpoolCommit } from './spool.js';
import { BlockedError, type StageContext } from './stage-context.js';
import type { Stage } from './worker-api.js';

const ALL_ALIASES = TYPE_BRACKETS.flatMap((b) => b.aliases);

export interface FetchInto {
  fetcher: Fetcher;
  bundle: JournalBundle;
  position: FetchPosition;
  target: EligibilityTarget;
  cutoffMs: number;
  limiter?: RateLimiter;
  /** Time of each round trip to the server (the throttle's latency signal). */
  onRoundTrip?: (ms: number) => void;
  /** The stage the worker reports while this runs (fetch, then spool). */
  setStage(stage: Stage): void;
}

export class FetchStage {
  /** The collection's indexes (written into each bundle's metadata). */
  indexes?: Document[];
  indexOk = false;
  private readonly supportedAliases = new Set(ALL_ALIASES);

  /**
   * Whether an index serves the archive field (checked once): true, or the reason the collection cannot
   * be fetched yet when it does not exist. Throws BlockedError when no usable index exists.
   */
  async checkIndex(
    ctx: StageContext,
    coll: Collection,
    target: EligibilityTarget,
  ): Promise<true | { reason: string; message: string }> {
    if (this.indexOk) return true;
    const r = await ctx.timed('index', () => checkArchiveIndex(coll, target, ctx.cfg.allowCollectionScan));
    this.indexes = r.indexes;
    if (r.ok) {
      this.indexOk = true;
      if (!r.indexName)
        ctx.log.warn(
          'no index serves the archive field; allowCollectionScan is set, so every fetch scans the collection',
        );
      return true;
    }
    if (r.reason === 'CollectionNotFound') return { reason: r.reason, message: r.message };
    throw new BlockedError(r.reason, r.message);
  }

  /** Runs `fn`, learning which `$type` aliases the server does not know and retrying without them. */
  async withAliasFallback<T>(log: Logger, fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        const m = /Unknown type name alias: (\w+)/.exec((err as Error).message ?? '');
        if (!m || !this.supportedAliases.has(m[1]!) || i > ALL_ALIASES.length) throw err;
        this.supportedAliases.delete(m[1]!);
        log.debug({ alias: m[1] }, 'server does not know this $type alias; not using it');
      }
    }
  }

  newBundle(ctx: StageContext, target: EligibilityTarget, cutoffMs: number): JournalBundle {
    return {
      id: newBundleId(),
      state: 'open',
      createdAt: new Date(ctx.now()).toISOString(),
      target: {
        database: target.database,
        collection: target.collection,
        archiveField: target.archiveField,
        archiveFieldFormat: target.archiveFieldFormat,
        // The worker's one rendering of the filter, shared by every bundle instead of a copy each.
        ...(target.filter
          ? {
              filterEJSON:
                ctx.fingerprint.filterEJSON ?? BSON.EJSON.stringify(target.filter, { relaxed: false }),
            }
          : {}),
      },
      ...(ctx.cfg.changeGuardFields?.length ? { changeGuardFields: [...ctx.cfg.changeGuardFields] } : {}),
      commit: { ...EMPTY_COMMIT },
      cutoffMaxMs: cutoffMs,
    };
  }

  bundleFull(cfg: PolicyConfig, c: SpoolCommit): boolean {
    return (
      (cfg.bundleMaxDocuments !== undefined && c.docs >= cfg.bundleMaxDocuments) ||
      (cfg.bundleMaxBytes !== undefined && c.docsBytes >= cfg.bundleMaxBytes)
    );
  }

  /** Spool bytes of every bundle except the open one, plus `open`, against the cap. */
  spoolFull(cfg: PolicyConfig, journal: Journal | undefined, open: SpoolCommit): boolean {
    let bytes = open.docsBytes;
    for (const b of journal?.bundles ?? []) {
      if (b.state === 'deleted' || b.state === 'open') continue;
      bytes += b.commit.docsBytes + (b.size ?? 0);
    }
    return bytes >= cfg.spoolMaxBytes;
  }

  /**
   * Fetches one batch into the bundle's spool files and makes it durable. Nothing of a failed batch is
   * kept. Returns the fetch result and the bundle's new committed lengths (the caller journals them).
   */
  async fetchInto(ctx: StageContext, o: FetchInto): Promise<{ r: FetchResult; commit: SpoolCommit }> {
    const { bundle, cutoffMs } = o;
    return ctx.timed('fetch', async () => {
      const appender = await ctx.spool.openAppender(bundle.id, bundle.commit, cutoffMs);
      try {
        const r = await this.withAliasFallback(ctx.log, async () => {
          try {
            return await o.fetcher.fetchBatch(
              o.position,
              {
                append: (doc, meta) => appender.append(doc, meta),
                checkpoint: () => appender.checkpoint(),
                shouldStop: () =>
                  ctx.stopping() ||
                  this.bundleFull(ctx.cfg, appender.current) ||
                  this.spoolFull(ctx.cfg, ctx.journal, appender.current),
              },
              {
                target: o.target,
                cutoffMs,
                queryLimit: ctx.cfg.queryLimit,
                ...(ctx.cfg.changeGuardFields?.length
                  ? { changeGuardFields: ctx.cfg.changeGuardFields }
                  : {}),
                ...(o.limiter ? { pace: () => o.limiter!.take(1) } : {}),
                ...(o.onRoundTrip ? { onRoundTrip: o.onRoundTrip } : {}),
                supportedTypeAliases: this.supportedAliases,
              },
            );
          } catch (err) {
            await appender.reset(); // nothing of a failed batch is kept
            throw err;
          }
        });
        o.setStage('spool');
        const commit = await appender.finish();
        return { r, commit };
      } finally {
        await appender.close();
      }
    });
  }
}

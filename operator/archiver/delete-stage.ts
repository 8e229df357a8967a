// Delete stage: removes an uploaded bundle's documents from MongoDB (delete.ts, each chunk re-checking
// eligibility), with `_id`s from the spool's ids file or, for a bundle taken from the ledger without a
// spool copy, from the bundle object itself (bundle-ids.ts). When it is done the ledger entry goes, in
// the same write that adds the deleted and skipped counts. A bundle whose deletes may have been sent
// before (an earlier attempt here, or a worker that died) is recounted by what remains (delete.ts).
import type { Collection } from 'mongodb';
import { storedIdRecords } from './bundle-ids.js';
import { deleteBundleDocuments, targetOf } from './delete.js';
import type { JournalBundle } from './journal.js';
import { withoutEntry } from './ledger.js';
import type { RateLimiter } from './pacing.js';
import { readIdRecords } from './spool.js';
import { crashPoint, type StageContext } from './stage-context.js';

export interface DeleteTuning {
  /** Documents per deleteMany (default: queryLimit, within 1000…10000). */
  deleteChunkDocuments?: number;
  /** Bytes of `_id` records per deleteMany (default 4 MiB). */
  deleteChunkBytes?: number;
  /** Test hook: awaited after a bundle is verified in the store and before its documents are deleted. */
  beforeDelete?: (bundle: { key: string; documents: number }) => Promise<void>;
  /** Test hook: awaited when a delete chunk is about to be sent. */
  beforeDeleteIssue?: () => Promise<void>;
}

export interface DeleteHooks {
  onDeleted(info: { key: string; deleted: number; skipped: number }): void;
  /** Time spent waiting on the server (statistics). */
  onServerMs(ms: number): void;
}

export class DeleteStage {
  /** Bundles whose deletes may have been sent already: they are recounted. */
  private readonly attempted = new Set<string>();

  constructor(
    private readonly hooks: DeleteHooks,
    private readonly tuning: DeleteTuning = {},
  ) {}

  /** Bundles the ledger listed as uploaded when this worker took the policy over. */
  mayHaveStarted(ids: Iterable<string>): void {
    for (const id of ids) this.attempted.add(id);
  }

  /**
   * Deletes the bundle's documents; true when all are done and counted (the ledger entry is gone).
   * `coll` is the bundle's collection; `limiter` paces the chunks (maxDocumentsPerSecond).
   */
  async run(ctx: StageContext, b: JournalBundle, coll: Collection, limiter?: RateLimiter): Promise<boolean> {
    const e = b.ledger!;
    if (ctx.cfg.dryRun) {
      // Uploaded before the policy became a dry run: a dry run never deletes, so the entry just goes.
      await ctx.ledger.step((cur) => {
        const bundles = withoutEntry(cur, e.id);
        return bundles && { bundles };
      });
      b.state = 'deleted';
      await ctx.journal.save();
      ctx.log.info({ key: e.key, documents: e.documents }, 'dry run: documents archived, not deleted');
      return true;
    }
    return ctx.timed('delete', async () => {
      await this.tuning.beforeDelete?.({ key: e.key, documents: e.documents ?? 0 });
      // A second attempt (after an error, or of a bundle taken from the ledger) recounts: deletes of
      // the earlier one may have been applied without their answer being seen.
      const recount = this.attempted.has(b.id);
      this.attempted.add(b.id);
      const records = b.remote
        ? storedIdRecords(ctx.dest, e)
        : readIdRecords(ctx.spool.idsFile(b.id), 0, b.commit.idsBytes);
      const res = await deleteBundleDocuments(coll, targetOf(e), e.changeGuardFields, records, {
        // One delete per queryLimit documents ("documents per request", as the original defines it).
        chunkDocuments:
          this.tuning.deleteChunkDocuments ?? Math.min(10_000, Math.max(1000, ctx.cfg.queryLimit)),
        chunkBytes: this.tuning.deleteChunkBytes ?? 4 << 20,
        recount,
        beforeIssue: async () => {
          crashPoint('before-delete');
          await this.tuning.beforeDeleteIssue?.();
        },
        afterChunk: async () => crashPoint('mid-delete'),
        shouldStop: () => ctx.stopping(),
        // spec.throttle: no chunk starts while the database is under pressure.
        ...(limiter || ctx.throttle
          ? {
              beforeChunk: async (n: number) => {
                await ctx.throttle?.();
                await limiter?.take(n);
              },
            }
          : {}),
        onServerMs: (ms) => this.hooks.onServerMs(ms),
      });
      if (!res.complete) return false;
      // The entry goes with the counts of its deletes, in one write.
      await ctx.ledger.step((cur) => {
        const bundles = withoutEntry(cur, e.id);
        return bundles && { bundles, add: { documentsDeleted: res.deleted, documentsSkipped: res.skipped } };
      });
      b.state = 'deleted';
      await ctx.journal.save();
      if (res.skipped) {
        ctx.log.info(
          { key: e.key, skipped: res.skipped },
          'documents changed or no longer eligible since fetch were not deleted',
        );
      }
      ctx.log.info({ key: e.key, deleted: res.deleted, skipped: res.skipped }, 'archived documents deleted');
      this.hooks.onDeleted({ key: e.key, deleted: res.deleted, skipped: res.skipped });
      return true;
    });
  }
}

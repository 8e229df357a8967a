// Upload stage: records a sealed bundle in the ledger (its key, and what its delete will need), puts it
// — conditionally, never overwriting — and verifies it in the store, then advances the ledger entry to
// `uploaded` together with the counts. A bundle taken from the ledger without a spool copy (`remote`)
// is only verified: present and matching, it is counted; absent, it never reached the store and is
// dropped with what the spool fetched after it (those documents were never deleted).
import { Transform, type Readable } from 'node:stream';
import type { Destination } from '../storage/destination.js';
import { publishPosition } from './dry-run-position.js';
import type { JournalBundle } from './journal.js';
import { putEntry, withoutEntry, type LedgerBundle } from './ledger.js';
import { restartPass } from './recovery.js';
import { BlockedError, crashPoint, type StageContext } from './stage-context.js';
import { keyDate } from './time-range.js';
import { KeyConflictError, uploadOnce, verifyStored } from './upload.js';
import type { LastBundle } from './worker-api.js';

export interface UploadHooks {
  /** A bundle is verified in the store and counted. */
  onUploaded(bundle: LastBundle): void;
}

export class UploadStage {
  lastBundle?: LastBundle;
  lastUploadTime?: string;
  /** dryRun: when the last bundle was finished (a dry run's success). */
  lastDryRunDone?: string;

  constructor(private readonly hooks: UploadHooks) {}

  /** Records a sealed bundle in the ledger (its key, and what its delete will need) before its upload. */
  async record(ctx: StageContext, b: JournalBundle): Promise<void> {
    const dryRunPosition =
      ctx.cfg.dryRun && b.positionAfter ? publishPosition(ctx.fingerprint, b.positionAfter) : undefined;
    const e: LedgerBundle = {
      id: b.id,
      key: b.key!,
      state: 'uploading',
      documents: b.commit.docs,
      bytes: b.size!,
      sha256: b.sha256Base64!,
      database: b.target.database,
      collection: b.target.collection,
      archiveField: b.target.archiveField,
      archiveFieldFormat: b.target.archiveFieldFormat,
      cutoffMs: Math.floor(b.cutoffMaxMs ?? ctx.now() - ctx.cfg.ageLimitMs),
      ...(b.target.filterEJSON ? { filter: b.target.filterEJSON } : {}),
      ...(b.changeGuardFields?.length ? { changeGuardFields: [...b.changeGuardFields] } : {}),
      ...(b.commit.ageMinMs !== undefined
        ? { archiveFieldMin: keyDate(b.commit.ageMinMs).toISOString() }
        : {}),
      ...(b.commit.ageMaxMs !== undefined
        ? { archiveFieldMax: keyDate(b.commit.ageMaxMs).toISOString() }
        : {}),
      ...(dryRunPosition ? { positionAfter: dryRunPosition } : {}),
    };
    await ctx.ledger.step((cur) => {
      const bundles = putEntry(cur, e, undefined);
      return bundles && { bundles };
    });
    b.state = 'uploading';
    b.ledger = e;
    await ctx.journal.save();
  }

  private destinationForUpload(ctx: StageContext): Destination {
    const dest = ctx.dest;
    if (process.env.GOCHIVE_TEST_CRASH_AT !== 'mid-upload') return dest;
    // Test hook: die once half of the body has been read by the uploader.
    return Object.assign(Object.create(dest) as Destination, {
      putObject: (key: string, body: () => Readable, o: Parameters<Destination['putObject']>[2]) =>
        dest.putObject(
          key,
          () => {
            let seen = 0;
            const tap = new Transform({
              transform(chunk: Buffer, _e, cb) {
                seen += chunk.length;
                // Past the first multipart part when there is more than one, else halfway.
                const at =
                  o.contentLength > 8 * 2 ** 20
                    ? Math.max(8 * 2 ** 20 + 1, o.contentLength / 2)
                    : o.contentLength / 2;
                if (seen >= at) crashPoint('mid-upload');
                cb(null, chunk);
              },
            });
            return body().pipe(tap);
          },
          o,
        ),
    });
  }

  async upload(ctx: StageContext, b: JournalBundle): Promise<void> {
    const e = b.ledger!;
    try {
      if (b.remote) {
        // Another worker's upload: verified against what the ledger recorded, never uploaded from here.
        const found = await ctx.timed('verify', () =>
          verifyStored(ctx.dest, { key: e.key, size: e.bytes ?? 0, sha256Base64: e.sha256 }),
        );
        if (found === 'absent') return await this.dropNeverUploaded(ctx, b);
      } else {
        const res = await ctx.timed('upload', () => this.putBundle(ctx, b));
        if (res.alreadyPresent)
          ctx.log.info(
            { key: b.key },
            'bundle was already in the store (uploaded before a restart); verified, not uploaded again',
          );
      }
    } catch (err) {
      if (err instanceof KeyConflictError) throw new BlockedError('KeyConflict', err.message);
      throw err;
    }
    const uploadedAt = new Date(ctx.now()).toISOString();
    // Logged before the ledger step: a kill -9 between them leaves a logged upload the ledger does not
    // show yet (the next worker verifies it), never the reverse (the chaos checker dates uploads by it).
    ctx.log.info(
      {
        key: e.key,
        documents: e.documents,
        bytes: e.bytes,
        destination: ctx.dest.description,
        recovered: b.remote === true,
      },
      'bundle uploaded and verified',
    );
    const done: LedgerBundle = { ...e, state: 'uploaded' };
    await ctx.ledger.step((cur) => {
      const bundles = ctx.cfg.dryRun ? withoutEntry(cur, e.id) : putEntry(cur, done, 'uploading');
      return (
        bundles && {
          bundles,
          add: { bundlesUploaded: 1, documentsArchived: e.documents ?? 0, bytesUploaded: e.bytes ?? 0 },
          ...(ctx.cfg.dryRun && e.positionAfter ? { dryRunPosition: e.positionAfter } : {}),
        }
      );
    });
    b.state = ctx.cfg.dryRun ? 'deleted' : 'uploaded';
    b.ledger = done;
    await ctx.journal.save();
    this.lastUploadTime = uploadedAt;
    this.lastBundle = {
      key: e.key,
      documents: e.documents ?? 0,
      bytes: e.bytes ?? 0,
      ...(e.archiveFieldMin ? { archiveFieldMin: e.archiveFieldMin } : {}),
      ...(e.archiveFieldMax ? { archiveFieldMax: e.archiveFieldMax } : {}),
      uploadedAt,
    };
    if (ctx.cfg.dryRun) {
      this.lastDryRunDone = uploadedAt;
      ctx.log.info({ key: e.key, documents: e.documents }, 'dry run: documents archived, not deleted');
    }
    this.hooks.onUploaded({ ...this.lastBundle });
    crashPoint('after-upload');
  }

  /**
   * The conditional put of a local bundle file, verified. Not retried here: the destination retries
   * transient failures itself, and the worker's back-off retries the stage (a retry here would multiply both).
   */
  private putBundle(ctx: StageContext, b: JournalBundle): Promise<{ alreadyPresent: boolean }> {
    return uploadOnce(this.destinationForUpload(ctx), {
      key: b.key!,
      file: b.file!,
      size: b.size!,
      sha256Base64: b.sha256Base64!,
      metadata: {
        'gochive-policy': `${ctx.cfg.namespace}/${ctx.cfg.name}`,
        'gochive-bundle-id': b.id,
        'gochive-documents': String(b.commit.docs),
      },
    });
  }

  /** A ledger bundle that never reached the store: dropped, with what the spool fetched after it. */
  private async dropNeverUploaded(ctx: StageContext, b: JournalBundle): Promise<void> {
    const j = ctx.journal;
    await ctx.ledger.step((cur) => {
      const bundles = withoutEntry(cur, b.id);
      return bundles && { bundles };
    });
    const dropped = j.bundles.filter(
      (x) => x === b || x.state === 'open' || x.state === 'sealing' || x.state === 'sealed',
    );
    for (const x of dropped) {
      if (!x.remote) await ctx.spool.removeBundle(x.id);
      j.remove(x.id);
    }
    restartPass(ctx.journal);
    await j.save();
    ctx.log.info(
      { key: b.key, dropped: dropped.map((x) => `${x.id} (${x.state}, ${x.commit.docs} documents)`) },
      'a bundle the ledger lists never reached the store: dropped (its documents were never deleted and are fetched again)',
    );
  }
}

// `gochive restore`: brings archived documents back. Per bundle, in key order:
//   1. download to a temporary file while verifying it completely (verify-bundle.ts) — a corrupt bundle
//      is reported by key and skipped or stops the run (--on-corrupt), never half-applied;
//   2. read the local copy and insert in batches with ordered:false; `_id`s already present are skipped
//      and counted (the original's duplicate contract), so a rerun after an interruption, or a second
//      run, completes without duplicates;
//   3. record the key in the checkpoint file (if any), so a rerun skips finished bundles entirely.
// The target namespace (from --to-db/--to-collection, else the manifest) is checked against SPEC I9:
// admin/local/config and system.* are refused, whatever a flag or a (possibly forged) manifest says.
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  MongoBulkWriteError,
  MongoServerError,
  type Collection,
  type Document,
  type MongoClient,
} from 'mongodb';
import { protectedNamespaceProblem } from '../api/protected-namespaces.js';
import { BundleCorruptError, UnknownEntryError, openBundle } from '../bundle/reader.js';
import type { ArchiveFieldFormat } from '../archiver/config.js';
import type { Destination } from '../storage/destination.js';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { retry, type RetryPolicy } from '../util/retry.js';
import type { SourceSelection } from './args.js';
import { headMatches, needsManifestFilter, readHead, selectBundles, type BundleRef } from './catalog.js';
import {
  archiveTime,
  decodeExact,
  dedupKey,
  hasDeprecatedTypes,
  inRange,
  idKey,
  SeenIds,
} from './documents.js';
import { RateLimiter } from './rate.js';
import { verifyBundle, type VerifiedBundle } from './verify-bundle.js';

export interface RestoreOptions {
  dest: Destination;
  selection: SourceSelection;
  mongo: MongoClient;
  toDb?: string;
  toCollection?: string;
  dryRun?: boolean;
  maxDocsPerSecond?: number;
  /** Documents per insertMany (default 1000). */
  batchSize?: number;
  onCorrupt?: 'skip' | 'stop';
  /** Archive field of original-format bundles, which do not record it (default createdAt, a Date). */
  legacyArchiveField?: string;
  /** Insert documents holding BSON undefined/DBPointer as the driver converts them (null/DBRef). */
  convertDeprecated?: boolean;
  checkpointFile?: string;
  /** Original-format bundles: skip entries other than archive_<unix>.bson files instead of refusing the bundle. */
  allowUnknownEntries?: boolean;
  /** --dry-run: at most this many `_id`s are remembered to count repeats within the restore (default 5M). */
  dryRunSeenLimit?: number;
  tmpDir?: string;
  logger?: Logger;
  /** Redaction list for error messages (the MongoDB URI…). */
  secrets?: string[];
  onProgress?: (p: RestoreProgress) => void;
  /** Aborting stops after the batch in flight, cleans up, and throws RestoreStopped (rerun to resume). */
  signal?: AbortSignal;
}

export interface RestoreProgress {
  bytesDone: number;
  bytesTotal: number;
  documents: number;
  bundleKey?: string;
}

export interface RestoreSummary {
  dryRun: boolean;
  bundles: {
    selected: number;
    restored: number;
    corrupt: number;
    /** Bundles whose target namespace is protected (SPEC I9): never inserted. */
    refused: number;
    filteredOut: number;
    alreadyDone: number;
  };
  documents: {
    read: number;
    outOfRange: number;
    inserted: number;
    skippedExisting: number;
    failed: number;
    converted: number;
  };
  corrupt: { key: string; detail: string }[];
  refused: { key: string; detail: string }[];
  /** Entries skipped with allowUnknownEntries, per bundle. */
  unknownEntries: { key: string; entries: string[] }[];
  /** Dry run only: true when more `_id`s than dryRunSeenLimit passed, so repeats past it were not counted. */
  dryRunRepeatsCapped?: boolean;
  failures: { key: string; id?: string; message: string }[];
  targets: string[];
  elapsedMs: number;
}

/** The run stopped (corrupt bundle with --on-corrupt stop, or a bundle without a target namespace). */
export class RestoreStopped extends Error {
  constructor(
    message: string,
    public readonly summary: RestoreSummary,
  ) {
    super(message);
    this.name = 'RestoreStopped';
  }
}

const DUPLICATE_KEY = 11000;
const MAX_RECORDED_FAILURES = 50;

export async function restore(opts: RestoreOptions): Promise<RestoreSummary> {
  const started = Date.now();
  const sel = opts.selection;
  const summary: RestoreSummary = {
    dryRun: Boolean(opts.dryRun),
    bundles: { selected: 0, restored: 0, corrupt: 0, refused: 0, filteredOut: 0, alreadyDone: 0 },
    documents: { read: 0, outOfRange: 0, inserted: 0, skippedExisting: 0, failed: 0, converted: 0 },
    corrupt: [],
    refused: [],
    unknownEntries: [],
    failures: [],
    targets: [],
    elapsedMs: 0,
  };
  const flagProblem = protectedNamespaceProblem(opts.toDb ?? '', opts.toCollection ?? '');
  if (flagProblem) {
    throw new Error(
      `refusing to restore into ${opts.toDb ?? '<database of each bundle>'}.${opts.toCollection ?? '<collection of each bundle>'} (named by --to-db/--to-collection): ${flagProblem}`,
    );
  }
  // Dry run: a repeat of an _id seen earlier in this restore would be skipped by the real run.
  const seen = opts.dryRun ? new SeenIds(opts.dryRunSeenLimit) : undefined;
  const done = await loadCheckpoint(opts.checkpointFile);
  const { refs } = await selectBundles(opts.dest, sel);
  const todo = refs.filter((r) => {
    if (done.has(r.key)) {
      summary.bundles.alreadyDone++;
      return false;
    }
    return true;
  });
  summary.bundles.selected = refs.length;
  const bytesTotal = todo.reduce((a, r) => a + r.size, 0);
  let bytesBefore = 0;
  const limiter = opts.maxDocsPerSecond ? new RateLimiter(opts.maxDocsPerSecond) : undefined;
  const tmp = await mkdtemp(path.join(opts.tmpDir ?? tmpdir(), 'gochive-restore-'));
  const targets = new Set<string>();
  const progress = (bytesInBundle: number, key?: string): void =>
    opts.onProgress?.({
      bytesDone: bytesBefore + bytesInBundle,
      bytesTotal,
      documents: summary.documents.inserted + summary.documents.skippedExisting,
      ...(key ? { bundleKey: key } : {}),
    });
  const stopIfAborted = (): void => {
    if (!opts.signal?.aborted) return;
    summary.elapsedMs = Date.now() - started;
    summary.targets = [...targets];
    throw new RestoreStopped(
      'interrupted; run the same command again to finish (present _ids are skipped)',
      summary,
    );
  };
  // Bundle i+1 downloads and verifies while bundle i is inserted: the network and the database overlap.
  type Prepared =
    | { kind: 'filtered' }
    | { kind: 'corrupt'; err: BundleCorruptError }
    | { kind: 'ready'; local: string; verified: VerifiedBundle };
  const prepare = async (ref: BundleRef, i: number): Promise<Prepared> => {
    if (needsManifestFilter(sel) && ref.parsed?.kind !== 'legacy') {
      if (!headMatches(await readHead(opts.dest, ref), sel)) return { kind: 'filtered' };
    }
    const local = path.join(tmp, `bundle-${i}`);
    try {
      return {
        kind: 'ready',
        local,
        verified: await verifyBundle(opts.dest, ref, {
          copyTo: local,
          ...(opts.allowUnknownEntries ? { allowUnknownEntries: true } : {}),
        }),
      };
    } catch (err) {
      await rm(local, { force: true });
      if (err instanceof BundleCorruptError) return { kind: 'corrupt', err };
      throw err;
    }
  };
  let next: Promise<Prepared> | undefined;
  const prefetch = (i: number): void => {
    next = i < todo.length ? prepare(todo[i]!, i) : undefined;
    next?.catch(() => undefined); // awaited in order below; this only marks it handled meanwhile
  };
  try {
    prefetch(0);
    for (let i = 0; i < todo.length; i++) {
      const ref = todo[i]!;
      stopIfAborted();
      const cur = await next!;
      prefetch(i + 1);
      if (cur.kind === 'filtered') {
        summary.bundles.filteredOut++;
        bytesBefore += ref.size;
        continue;
      }
      if (cur.kind === 'corrupt') {
        summary.bundles.corrupt++;
        summary.corrupt.push({ key: ref.key, detail: cur.err.detail });
        if ((opts.onCorrupt ?? 'stop') === 'stop') {
          summary.elapsedMs = Date.now() - started;
          summary.targets = [...targets];
          const hint =
            cur.err instanceof UnknownEntryError
              ? '; --allow-unknown-entries restores it without those entries'
              : '';
          throw new RestoreStopped(
            `${cur.err.message}${hint}; stopped (use --on-corrupt skip to restore the other bundles)`,
            summary,
          );
        }
        bytesBefore += ref.size;
        continue;
      }
      const { local, verified } = cur;
      const m = verified.manifest;
      if (m && !headMatches({ format: verified.format, manifest: m }, sel)) {
        summary.bundles.filteredOut++;
        bytesBefore += ref.size;
        await rm(local, { force: true });
        continue;
      }
      const db = opts.toDb ?? m?.database ?? sel.database;
      const coll = opts.toCollection ?? m?.collection ?? sel.collection;
      if (!db || !coll) {
        summary.elapsedMs = Date.now() - started;
        throw new RestoreStopped(
          `bundle ${ref.key} is in the original tool's format, which does not record its database and collection: pass --to-db and --to-collection (or --database and --collection)`,
          summary,
        );
      }
      const manifestOf = `the manifest of bundle ${ref.key}`;
      const dbFrom = opts.toDb ? '--to-db' : m?.database ? manifestOf : '--database';
      const collFrom = opts.toCollection ? '--to-collection' : m?.collection ? manifestOf : '--collection';
      const problem = protectedNamespaceProblem(db, coll);
      if (problem) {
        const named =
          dbFrom === collFrom
            ? `named by ${dbFrom}`
            : dbFrom !== manifestOf && collFrom !== manifestOf
              ? `named by ${dbFrom} and ${collFrom}`
              : `database from ${dbFrom}, collection from ${collFrom}`;
        const detail = `refusing to restore into ${db}.${coll} (${named}): ${problem}`;
        summary.bundles.refused++;
        summary.refused.push({ key: ref.key, detail });
        await rm(local, { force: true });
        if ((opts.onCorrupt ?? 'stop') === 'stop') {
          summary.elapsedMs = Date.now() - started;
          summary.targets = [...targets];
          throw new RestoreStopped(
            `bundle ${ref.key}: ${detail}; stopped (use --on-corrupt skip to restore the other bundles)`,
            summary,
          );
        }
        bytesBefore += ref.size;
        continue;
      }
      if (verified.unknownEntries.length)
        summary.unknownEntries.push({ key: ref.key, entries: verified.unknownEntries });
      targets.add(`${db}.${coll}`);
      const field = m?.archiveField ?? opts.legacyArchiveField ?? 'createdAt';
      const format: ArchiveFieldFormat = m?.archiveFieldFormat ?? 'date';
      // Per-document range checks only where the bundle may reach outside the range.
      const needsRange =
        Boolean(sel.from || sel.to) &&
        !(
          m?.archiveFieldRange &&
          (!sel.from || Date.parse(m.archiveFieldRange.min) >= sel.from.getTime()) &&
          (!sel.to || Date.parse(m.archiveFieldRange.max) < sel.to.getTime())
        );
      await insertBundle(opts, summary, stopIfAborted, {
        key: ref.key,
        file: local,
        collection: opts.mongo.db(db).collection(coll),
        target: `${db}.${coll}`,
        seen,
        range: needsRange ? { field, format, from: sel.from, to: sel.to } : undefined,
        limiter,
        onBytes: (n) => progress((n * ref.size) / Math.max(1, verified.bytes), ref.key),
      });
      await rm(local, { force: true });
      summary.bundles.restored++;
      bytesBefore += ref.size;
      progress(0, ref.key);
      if (opts.checkpointFile && !opts.dryRun) await appendFile(opts.checkpointFile, `${ref.key}\n`);
    }
  } finally {
    await next?.catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
  summary.targets = [...targets];
  summary.elapsedMs = Date.now() - started;
  if (seen?.capped) summary.dryRunRepeatsCapped = true;
  return summary;
}

async function loadCheckpoint(file?: string): Promise<Set<string>> {
  if (!file) return new Set();
  try {
    return new Set((await readFile(file, 'utf8')).split('\n').filter(Boolean));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw err;
  }
}

interface InsertTarget {
  key: string;
  file: string;
  collection: Collection<Document>;
  /** `db.collection`, for the dry run's repeat tracking. */
  target: string;
  seen: SeenIds | undefined;
  range:
    { field: string; format: ArchiveFieldFormat; from?: Date | undefined; to?: Date | undefined } | undefined;
  limiter: RateLimiter | undefined;
  onBytes: (bytesRead: number) => void;
}

async function insertBundle(
  opts: RestoreOptions,
  summary: RestoreSummary,
  stopIfAborted: () => void,
  t: InsertTarget,
): Promise<void> {
  const batchSize = opts.batchSize ?? 1000;
  let read = 0;
  const stream = createReadStream(t.file, { highWaterMark: 1 << 20 });
  stream.on('data', (c) => {
    read += c.length;
    t.onBytes(read);
  });
  const bundle = await openBundle(stream, {
    key: t.key,
    ...(opts.allowUnknownEntries ? { allowUnknownEntries: true } : {}),
  });
  let batch: Document[] = [];
  // One insert in flight while the next batch is read and decoded.
  let inflight: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const docs = batch;
    batch = [];
    if (inflight) await inflight;
    if (t.limiter) await t.limiter.take(docs.length);
    inflight = t.seen
      ? countDryRun(t.collection, t.target, t.seen, docs, summary)
      : insertBatch(t.collection, docs, summary, t.key, opts.secrets);
    inflight.catch(() => undefined); // awaited by the next flush or below
  };
  try {
    for await (const raw of bundle.documents()) {
      summary.documents.read++;
      const doc = decodeExact(raw);
      if (t.range && !inRange(archiveTime(doc, t.range.field, t.range.format), t.range.from, t.range.to)) {
        summary.documents.outOfRange++;
        continue;
      }
      if (hasDeprecatedTypes(raw)) {
        if (!opts.convertDeprecated) {
          summary.documents.failed++;
          recordFailure(summary, {
            key: t.key,
            id: idKey(doc._id),
            message:
              'holds BSON undefined or DBPointer, which the MongoDB driver cannot write back exactly (use --convert-deprecated to insert them as null/DBRef)',
          });
          continue;
        }
        summary.documents.converted++;
      }
      batch.push(doc);
      if (batch.length >= batchSize) {
        await flush();
        stopIfAborted();
      }
    }
    await flush();
    if (inflight) await inflight;
  } finally {
    await inflight?.catch(() => undefined);
    bundle.close();
  }
}

function recordFailure(summary: RestoreSummary, f: { key: string; id?: string; message: string }): void {
  if (summary.failures.length < MAX_RECORDED_FAILURES) summary.failures.push(f);
}

const TRANSIENT_LABELS = ['RetryableWriteError', 'NetworkError', 'ResetPool'];

/** Up to 5 attempts of an insert batch on a transient failure (a write error per document is a result, not retried). */
const INSERT_RETRY: RetryPolicy = {
  attempts: 5,
  backoff: { baseMs: 400, maxMs: 3200, fullJitter: true },
  retryable: (err) =>
    !(err instanceof MongoBulkWriteError) &&
    err instanceof Error &&
    TRANSIENT_LABELS.some((l) => (err as MongoServerError).hasErrorLabel?.(l)),
};

async function insertBatch(
  coll: Collection<Document>,
  docs: Document[],
  summary: RestoreSummary,
  key: string,
  secrets?: string[],
): Promise<void> {
  try {
    // A dropped connection: the batch may be partly in; inserting it again only skips those (ordered:false).
    const r = await retry(() => coll.insertMany(docs, { ordered: false }), INSERT_RETRY);
    summary.documents.inserted += r.insertedCount;
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    summary.documents.inserted += err.result.insertedCount;
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    for (const we of writeErrors) {
      if (we.code === DUPLICATE_KEY) summary.documents.skippedExisting++;
      else {
        summary.documents.failed++;
        const doc = docs[we.index];
        recordFailure(summary, {
          key,
          ...(doc ? { id: idKey(doc._id) } : {}),
          message: errorMessage(we.errmsg ?? `code ${we.code}`, secrets),
        });
      }
    }
  }
}

/**
 * --dry-run: a document would be skipped when its `_id` is already in the target, or was already met
 * earlier in this restore (the original tool's bundles often hold a document several times; the real
 * run's insert of the repeat fails with a duplicate key and is skipped). Otherwise it would be inserted.
 */
async function countDryRun(
  coll: Collection<Document>,
  target: string,
  seen: SeenIds,
  docs: Document[],
  summary: RestoreSummary,
): Promise<void> {
  const found = await coll
    .find({ _id: { $in: docs.map((d) => d._id) } }, { projection: { _id: 1 } })
    .toArray();
  const existing = new Set(found.map((d) => dedupKey(d._id)));
  for (const d of docs) {
    if (seen.seenBefore(target, d._id) || existing.has(dedupKey(d._id))) summary.documents.skippedExisting++;
    else summary.documents.inserted++;
  }
}

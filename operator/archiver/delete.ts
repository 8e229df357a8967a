// Delete stage: removes a bundle's documents from MongoDB in chunks, one deleteMany per chunk, each
// re-checking eligibility at delete time (I2): the `_id`, the age cutoff used when the document was
// fetched, the policy filter, and — when changeGuardFields are set — every guard field still equal to
// its value at fetch time. A document that no longer qualifies is left alone and counted as skipped.
// `_id`s are read back from the spool's ids file, never held for a whole bundle in memory.
//
// Each clause also bounds the age field to the range the chunk's documents had at fetch time, and
// puts that range first: MongoDB can serve it from the age index as well as `_id`, and FerretDB (which
// scans for every delete) rejects most documents on the cheap range before the `$in` membership test.
// A document whose age value moved outside that range since fetch is skipped, which is conservative.
import { BSON, type Collection, type Document } from 'mongodb';
import type { ArchiveFieldFormat } from './config.js';
import { agePath, cutoffOperand, withFilter, type EligibilityTarget } from './eligibility.js';
import type { JournalBundle } from './journal.js';
import { decodeExact, rawKey, type RawValue } from './raw-bson.js';
import { readIdRecords, type IdRecord } from './spool.js';
import { dateRepresentable } from './time-range.js';

export interface DeleteChunkResult {
  /** Offset in the ids file after this chunk (the journal's deleteOffset). */
  end: number;
  deleted: number;
  skipped: number;
  /** With countGone: documents already absent before the chunk's delete (not counted as deleted). */
  gone: number;
}

export interface DeleteOptions {
  chunkDocuments: number;
  chunkBytes: number;
  /**
   * The first chunk's delete was sent by a run that crashed (it may have been applied): what is already
   * gone from it was deleted by this bundle.
   */
  resumed: boolean;
  /**
   * Count, in every chunk after a resumed first one, the documents already gone before the delete
   * (another replica archived and deleted them: the worker counts them as duplicates).
   */
  countGone?: boolean;
  /** Called after each acknowledged chunk (the worker journals progress here). */
  onChunk(result: DeleteChunkResult): Promise<void>;
  shouldStop(): boolean;
  /** Called before each chunk with its size (rate limiting). */
  beforeChunk?(documents: number): Promise<void>;
  /**
   * Called right before a chunk's delete is sent, with the chunk's end offset (the worker journals it:
   * after a crash, what is gone from a chunk never sent was not deleted by this bundle).
   */
  beforeIssue?(end: number): Promise<void>;
  /** Time spent waiting on the server, for statistics. */
  onServerMs?(ms: number): void;
}

export function targetOf(b: JournalBundle): EligibilityTarget {
  return {
    database: b.target.database,
    collection: b.target.collection,
    archiveField: b.target.archiveField,
    archiveFieldFormat: b.target.archiveFieldFormat,
    ...(b.target.filterEJSON
      ? { filter: BSON.EJSON.parse(b.target.filterEJSON, { relaxed: false }) as Document }
      : {}),
  };
}

/** Inclusive bounds around [minMs, maxMs] in the field's format, widened by one unit where float division may round. */
function ageBounds(
  format: ArchiveFieldFormat,
  minMs: number,
  maxMs: number,
): { $gte?: unknown; $lte?: unknown } | undefined {
  switch (format) {
    case 'date': {
      // A BSON date beyond what a JavaScript Date holds cannot be an operand: leave that side open
      // (the bound only narrows the scan; `_id` and the cutoff decide).
      const b: { $gte?: unknown; $lte?: unknown } = {};
      if (dateRepresentable(minMs)) b.$gte = new Date(minMs);
      if (dateRepresentable(maxMs)) b.$lte = new Date(maxMs);
      return b.$gte || b.$lte ? b : undefined;
    }
    case 'epochMillis':
      return { $gte: new BSON.Double(minMs - 1), $lte: new BSON.Double(maxMs + 1) };
    case 'epochSeconds':
      return { $gte: new BSON.Double(minMs / 1000 - 1), $lte: new BSON.Double(maxMs / 1000 + 1) };
    case 'objectId':
      return undefined; // the age is `_id` itself: the `$in` is exact already
  }
}

function exactId(v: RawValue): unknown {
  try {
    return decodeExact(v);
  } catch {
    return undefined;
  }
}

/** How many of the records' documents (those an `_id` can name exactly) are absent from MongoDB. */
async function countGone(coll: Collection, records: IdRecord[]): Promise<number> {
  const ids = records.map((r) => exactId(r.id)).filter((id) => id !== undefined);
  if (!ids.length) return 0;
  return ids.length - (await coll.countDocuments({ _id: { $in: ids } } as Document));
}

/** The deleteMany filter for one chunk of id records. */
export function chunkFilter(
  t: EligibilityTarget,
  guardFields: string[] | undefined,
  records: IdRecord[],
): Document {
  const p = agePath(t);
  // Group records that share a cutoff and guard values, so a chunk is a few `$in` clauses.
  const groups = new Map<
    string,
    { cutoffMs: number; guards?: Map<number, RawValue>; ids: unknown[]; min: number; max: number }
  >();
  for (const r of records) {
    let k = String(r.cutoffMs);
    if (guardFields?.length) {
      for (let i = 0; i < guardFields.length; i++) {
        const g = r.guards?.get(i);
        k += `|${g ? rawKey(g) : '-'}`;
      }
    }
    let grp = groups.get(k);
    if (!grp) {
      grp = {
        cutoffMs: r.cutoffMs,
        ...(r.guards ? { guards: r.guards } : {}),
        ids: [],
        min: r.ageMs,
        max: r.ageMs,
      };
      groups.set(k, grp);
    }
    // An `_id` that cannot be named exactly (a string that is not valid UTF-8) is left out — never
    // replaced by a lossy substitute that could match another document; it counts as skipped.
    const id = exactId(r.id);
    if (id !== undefined) grp.ids.push(id);
    grp.min = Math.min(grp.min, r.ageMs);
    grp.max = Math.max(grp.max, r.ageMs);
  }
  const clauses: Document[] = [];
  for (const grp of groups.values()) {
    const range = ageBounds(t.archiveFieldFormat, grp.min, grp.max);
    const and: Document[] = [
      ...(range ? [{ [p]: range }] : []),
      { [p]: { $lt: cutoffOperand(t.archiveFieldFormat, grp.cutoffMs) } },
      { _id: { $in: grp.ids } },
    ];
    if (p !== '_id') and.push({ [p]: { $not: { $type: 'array' } } });
    guardFields?.forEach((f, i) => {
      const g = grp.guards?.get(i);
      and.push(g ? { [f]: { $eq: decodeExact(g) } } : { [f]: { $exists: false } });
    });
    clauses.push({ $and: and });
  }
  return withFilter(t.filter, [clauses.length === 1 ? clauses[0]! : { $or: clauses }]);
}

/** Deletes the bundle's documents from `start` in its ids file. Returns totals for this call. */
export async function deleteBundleDocuments(
  coll: Collection,
  bundle: JournalBundle,
  idsFile: string,
  start: number,
  opts: DeleteOptions,
): Promise<{ deleted: number; skipped: number; complete: boolean }> {
  const t = targetOf(bundle);
  let deleted = 0;
  let skipped = 0;
  let first = opts.resumed;
  let chunk: IdRecord[] = [];
  let chunkBytes = 0;

  const flush = async (): Promise<void> => {
    if (!chunk.length) return;
    const records = chunk;
    chunk = [];
    chunkBytes = 0;
    let alreadyGone = 0;
    let gone = 0;
    await opts.beforeChunk?.(records.length);
    const t0 = performance.now();
    const counting = first || opts.countGone;
    if (counting) {
      // first: a crash may have hit after this chunk's delete was applied but before the journal said
      // so — what is gone was deleted by that run. Otherwise someone else removed it.
      const absent = await countGone(coll, records);
      if (first) alreadyGone = absent;
      else gone = absent;
    }
    first = false;
    if (opts.beforeIssue) {
      // Journal the chunk as sent only right after the server answered: a delete queued in the driver
      // while the server is unreachable is never sent, yet would read as sent after a kill -9.
      if (!counting) await coll.db.command({ ping: 1 });
      await opts.beforeIssue(records[records.length - 1]!.end);
    }
    const res = await coll.deleteMany(chunkFilter(t, bundle.changeGuardFields, records));
    opts.onServerMs?.(performance.now() - t0);
    const d = res.deletedCount + alreadyGone;
    const s = records.length - d - gone;
    deleted += d;
    skipped += s;
    await opts.onChunk({ end: records[records.length - 1]!.end, deleted: d, skipped: s, gone });
  };

  for await (const r of readIdRecords(idsFile, start, bundle.commit.idsBytes)) {
    chunk.push(r);
    chunkBytes += r.id.value.length + 32;
    if (chunk.length >= opts.chunkDocuments || chunkBytes >= opts.chunkBytes) {
      await flush();
      if (opts.shouldStop()) return { deleted, skipped, complete: false };
    }
  }
  await flush();
  return { deleted, skipped, complete: true };
}

/**
 * What the chunk [deleteOffset, deleteIssued) of `bundle` did, when its delete was sent by a worker that
 * was killed before journaling the answer — found out read-only. Documents of the chunk now absent were
 * deleted by it (the same reading as a worker resuming the chunk); present ones that its filter no
 * longer matches were skipped. 'not-applied' when nothing is gone and the filter still matches: the
 * delete never reached MongoDB, and the chunk counts as never sent.
 */
export async function settleSentChunk(
  coll: Collection,
  bundle: JournalBundle,
  idsFile: string,
): Promise<{ deleted: number; skipped: number } | 'not-applied'> {
  const records: IdRecord[] = [];
  for await (const r of readIdRecords(idsFile, bundle.deleteOffset ?? 0, bundle.deleteIssued ?? 0))
    records.push(r);
  const gone = await countGone(coll, records);
  if (gone === 0 && records.some((r) => exactId(r.id) !== undefined)) {
    const matching = await coll.countDocuments(
      chunkFilter(targetOf(bundle), bundle.changeGuardFields, records),
    );
    if (matching > 0) return 'not-applied';
  }
  return { deleted: gone, skipped: records.length - gone };
}

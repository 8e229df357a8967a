// Delete stage: removes a bundle's documents from MongoDB in chunks, one deleteMany per chunk, each
// re-checking eligibility at delete time (I2): the `_id`, the age cutoff used when the document was
// fetched, the policy filter, and — when changeGuardFields are set — every guard field still equal to
// its value at fetch time. A document that no longer qualifies is left alone and counted as skipped.
// `_id`s stream in from the spool's ids file, or — for a bundle taken over from the ledger — from the
// bundle object itself (bundle-ids.ts); they are never held for a whole bundle in memory.
//
// Counting: normally a chunk's deletedCount is what it deleted. When an earlier attempt may already
// have sent deletes for the bundle (a retry, or a bundle taken over from the ledger after a crash),
// each chunk instead counts which of its documents are still present after its delete: those were
// skipped, the rest are gone from MongoDB and counted as deleted — exact whoever sent the delete.
//
// Each clause also bounds the age field to the range the chunk's documents had at fetch time, and
// puts that range first: MongoDB can serve it from the age index as well as `_id`, and FerretDB (which
// scans for every delete) rejects most documents on the cheap range before the `$in` membership test.
// A document whose age value moved outside that range since fetch is skipped, which is conservative.
import { BSON, type Collection, type Document } from 'mongodb';
import type { ArchiveFieldFormat } from './config.js';
import { agePath, cutoffOperand, withFilter, type EligibilityTarget } from './eligibility.js';
import type { LedgerBundle } from './ledger.js';
import { decodeExact, rawKey, type RawValue } from './raw-bson.js';
import type { IdRecord } from './spool.js';
import { dateRepresentable } from './time-range.js';

export interface DeleteOptions {
  chunkDocuments: number;
  chunkBytes: number;
  /** An earlier attempt may have sent deletes for this bundle: count what remains after each chunk. */
  recount: boolean;
  shouldStop(): boolean;
  /** Called before each chunk with its size (rate limiting). */
  beforeChunk?(documents: number): Promise<void>;
  /** Called right before a chunk's delete is sent, and after it was answered (test crash points). */
  beforeIssue?(): Promise<void>;
  afterChunk?(): Promise<void>;
  /** Time spent waiting on the server, for statistics. */
  onServerMs?(ms: number): void;
}

/** The eligibility target a bundle was fetched with, from its ledger entry. */
export function targetOf(b: LedgerBundle): EligibilityTarget {
  return {
    database: b.database,
    collection: b.collection,
    archiveField: b.archiveField,
    archiveFieldFormat: b.archiveFieldFormat,
    ...(b.filter ? { filter: BSON.EJSON.parse(b.filter, { relaxed: false }) as Document } : {}),
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
    case 'epochNanos': {
      // Int64 operands, a millisecond wider than the (floored) ages; a side beyond Int64 stays open.
      const b: { $gte?: unknown; $lte?: unknown } = {};
      const lo = nanosOperand(Math.floor(minMs) - 1);
      const hi = nanosOperand(Math.ceil(maxMs) + 1);
      if (lo) b.$gte = lo;
      if (hi) b.$lte = hi;
      return b.$gte || b.$lte ? b : undefined;
    }
    case 'objectId':
      return undefined; // the age is `_id` itself: the `$in` is exact already
  }
}

const INT64_MAX = 2n ** 63n - 1n;

/** Epoch milliseconds as an Int64 of nanoseconds, or undefined beyond Int64. */
function nanosOperand(ms: number): BSON.Long | undefined {
  if (!Number.isFinite(ms)) return undefined;
  const ns = BigInt(ms) * 1_000_000n;
  return ns > INT64_MAX || ns < -INT64_MAX - 1n ? undefined : BSON.Long.fromBigInt(ns);
}

function exactId(v: RawValue): unknown {
  try {
    return decodeExact(v);
  } catch {
    return undefined;
  }
}

/** How many of the records' documents (those an `_id` can name exactly) are still in MongoDB. */
async function countPresent(coll: Collection, ids: unknown[]): Promise<number> {
  if (!ids.length) return 0;
  return coll.countDocuments({ _id: { $in: ids } } as Document);
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

/** Deletes the documents `records` names (one bundle's). Returns what it counted. */
export async function deleteBundleDocuments(
  coll: Collection,
  t: EligibilityTarget,
  guardFields: string[] | undefined,
  records: AsyncIterable<IdRecord>,
  opts: DeleteOptions,
): Promise<{ deleted: number; skipped: number; complete: boolean }> {
  let deleted = 0;
  let skipped = 0;
  let chunk: IdRecord[] = [];
  let chunkBytes = 0;

  /** False when the worker is stopping: the chunk was not sent. */
  const flush = async (): Promise<boolean> => {
    if (!chunk.length) return true;
    const records = chunk;
    chunk = [];
    chunkBytes = 0;
    await opts.beforeChunk?.(records.length);
    // A stop while waiting for pacing or the throttle: nothing more is sent (the bundle stays in the
    // ledger and is finished, recounted, by the next worker).
    if (opts.shouldStop()) return false;
    await opts.beforeIssue?.();
    const t0 = performance.now();
    const res = await coll.deleteMany(chunkFilter(t, guardFields, records));
    let d = res.deletedCount;
    if (opts.recount) {
      const ids = records.map((r) => exactId(r.id)).filter((id) => id !== undefined);
      d = ids.length - (await countPresent(coll, ids));
    }
    opts.onServerMs?.(performance.now() - t0);
    deleted += d;
    skipped += records.length - d;
    await opts.afterChunk?.();
    return true;
  };

  for await (const r of records) {
    chunk.push(r);
    chunkBytes += r.id.value.length + 32;
    if (chunk.length >= opts.chunkDocuments || chunkBytes >= opts.chunkBytes) {
      if (!(await flush()) || opts.shouldStop()) return { deleted, skipped, complete: false };
    }
  }
  if (!(await flush())) return { deleted, skipped, complete: false };
  return { deleted, skipped, complete: true };
}

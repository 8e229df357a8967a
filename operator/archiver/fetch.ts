// Fetch stage: reads the next batch of eligible documents as raw BSON and hands them to the spool.
//
// Keyset paging that never skips or doubles a document, whatever the `_id` types:
// - range mode: `age > lastAge AND age < cutoff`, sorted by the age field only (so a plain `{field: 1}`
//   index serves it without an in-memory sort), at most queryLimit documents. Documents of one age
//   value ("tie group") are kept only once the next value shows up, so a group cut by the batch limit
//   is dropped from the spool and fetched whole by the next query. A group that fills a whole batch
//   switches to tie mode.
// - tie mode: `age == V`, sorted by `_id`, paged with `_id > lastId OR _id of a later BSON type`. `$gt` is
//   type-bracketed in MongoDB ({_id: {$gt: 5}} never matches a string), and sorts order brackets by the
//   canonical type order, so the `$type` clause carries the paging across brackets.
// When the age field is `_id` itself (objectId format) values are unique and every document is a
// boundary. The position returned always describes exactly the documents checkpointed into the spool.
//
// Age windows: a server that sorts after an index scan (FerretDB 2 / DocumentDB) reads every remaining
// eligible document for each `limit` page, so a backlog costs pages × backlog. After the first page the
// range query gets an upper bound too (`age < lastAge + window`, never past the cutoff), the window sized
// from the age span the last full page covered, so a page reads about queryLimit documents. A window
// that is not full was read whole (its last tie group is complete); an empty one is widened at once.
// Only the query narrows: the position rules above are unchanged, so journals need nothing new.
import type { Collection, Document, FindCursor } from 'mongodb';
import {
  agePath,
  ageClauses,
  ageMillis,
  cutoffOperand,
  withFilter,
  type EligibilityTarget,
} from './eligibility.js';
import {
  bracketRank,
  buildRawDocument,
  decodeExact,
  getRawValue,
  TYPE_BRACKETS,
  T,
  type RawValue,
} from './raw-bson.js';
import { smallestValidAbove } from './utf8-bound.js';

export type FetchPosition =
  | { mode: 'range'; lastAge?: string } // base64 of the raw BSON document {v: <age value>}
  | { mode: 'tie'; age: string; lastId?: string };

export const START_POSITION: FetchPosition = { mode: 'range' };

export function encodeRaw(v: RawValue): string {
  return buildRawDocument([['v', v]]).toString('base64');
}

export function decodeRawOperand(s: string): unknown {
  const doc = Buffer.from(s, 'base64');
  // The doc is {v: value}: read back the element without promoting it (exact type preserved).
  const v = getRawValue(doc, 'v');
  if (!v) throw new Error('corrupt fetch position in the journal');
  return decodeExact(v);
}

export interface DocMeta {
  id: RawValue;
  ageMs: number;
  /** Raw values of changeGuardFields at fetch time (undefined = field absent). */
  guards?: (RawValue | undefined)[];
}

export interface FetchSink {
  /** Appends one document; not kept until checkpoint(). */
  append(doc: Uint8Array, meta: DocMeta): Promise<void>;
  /** Everything appended so far is kept. */
  checkpoint(): void;
  /** True when the fetch should end at the next boundary (bundle/spool limit or stop requested). */
  shouldStop(): boolean;
}

export interface FetchOptions {
  target: EligibilityTarget;
  cutoffMs: number;
  queryLimit: number;
  changeGuardFields?: string[];
  /** Called before each document; may wait (maxDocumentsPerSecond). */
  pace?: () => Promise<void> | void;
  /** Type aliases the server accepts in `$type` (FerretDB lacks some). */
  supportedTypeAliases?: ReadonlySet<string>;
  /** Time of each round trip to the server (find or getMore), ms. */
  onRoundTrip?: (ms: number) => void;
}

export interface FetchResult {
  position: FetchPosition;
  /** The query found no more eligible documents after this position. */
  reachedEnd: boolean;
  /** Documents received from the server (including ones dropped at a cut tie group). */
  received: number;
  /** Documents appended and checkpointed. */
  kept: number;
  /** Documents the server returned but whose age value could not be read (path through an array…). */
  unreadable: number;
  /** Time spent waiting for the server (ms). */
  serverMs: number;
}

/** Aliases for `_id` types sorting after the bracket of `type`. */
export function laterTypeAliases(type: number, supported?: ReadonlySet<string>): string[] {
  const rank = bracketRank(type);
  return TYPE_BRACKETS.filter((b) => b.rank > rank)
    .flatMap((b) => b.aliases)
    .filter((a) => !supported || supported.has(a));
}

export function rangeQuery(
  t: EligibilityTarget,
  cutoffMs: number,
  pos: { lastAge?: string },
  upperMs?: number,
): Document {
  const clauses = ageClauses(t, cutoffMs);
  if (pos.lastAge !== undefined) clauses.push({ [agePath(t)]: { $gt: decodeRawOperand(pos.lastAge) } });
  if (upperMs !== undefined)
    clauses.push({ [agePath(t)]: { $lt: cutoffOperand(t.archiveFieldFormat, upperMs) } });
  return withFilter(t.filter, clauses);
}

/** Age (ms) of a position's `lastAge`, undefined when there is none or it cannot be read. */
function positionAgeMs(t: EligibilityTarget, lastAge: string | undefined): number | undefined {
  if (lastAge === undefined) return undefined;
  return ageMillis(t.archiveFieldFormat, getRawValue(Buffer.from(lastAge, 'base64'), 'v'));
}

/** True when `ms` can be written as an operand of the format exactly (JS Date, Int64 nanos, ObjectId). */
function representable(t: EligibilityTarget, ms: number): boolean {
  switch (t.archiveFieldFormat) {
    case 'date':
      return Math.abs(ms) <= 8.64e15;
    case 'epochNanos':
      return Math.abs(ms) < 9.2e12;
    case 'objectId':
      return ms >= 0;
    default:
      return Number.isFinite(ms);
  }
}

/** How fast an empty window widens, and how much a window that was not full may grow at once. */
const WINDOW_GROWTH = 4;

export function tieQuery(
  t: EligibilityTarget,
  pos: { age: string; lastId?: string },
  supported?: ReadonlySet<string>,
): Document {
  const p = agePath(t);
  const clauses: Document[] = [{ [p]: decodeRawOperand(pos.age) }, { [p]: { $not: { $type: 'array' } } }];
  if (pos.lastId !== undefined) {
    const idDoc = Buffer.from(pos.lastId, 'base64');
    const idRaw = getRawValue(idDoc, 'v')!;
    const later = laterTypeAliases(idRaw.type, supported);
    const gt = idAfter(idRaw);
    const after = [...(gt ? [gt] : []), ...(later.length ? [{ _id: { $type: later } }] : [])];
    clauses.push(after.length === 1 ? after[0]! : after.length ? { $or: after } : { _id: { $in: [] } });
  }
  return withFilter(t.filter, clauses);
}

const TEXT_TYPES = new Set<number>([
  T.string,
  T.object,
  T.array,
  T.regex,
  T.dbPointer,
  T.code,
  T.symbol,
  T.codeWithScope,
]);

/** True when the value can be put into a query exactly (no string in it is invalid UTF-8). */
export function decodableExactly(v: RawValue): boolean {
  // Only these types hold strings; the rest (ObjectId, numbers, binary…) always decode.
  if (!TEXT_TYPES.has(v.type)) return true;
  try {
    decodeExact(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * `_id > v` within v's type bracket. A string that is not valid UTF-8 cannot be sent as it is (nor as a
 * lossy U+FFFD substitute): `$gte` the smallest valid string above its bytes is exact for every valid
 * string, and documents with invalid `_id`s are never archived anyway (see Fetcher.meta). Undefined
 * when nothing of the bracket can follow.
 */
function idAfter(v: RawValue): Document | undefined {
  try {
    return { _id: { $gt: decodeExact(v) } };
  } catch (err) {
    if (v.type !== T.string) throw err;
    const b = Buffer.from(v.value.buffer, v.value.byteOffset, v.value.length);
    const bound = smallestValidAbove(b.subarray(4, b.length - 1)); // int32 length, bytes, NUL
    return bound === undefined ? undefined : { _id: { $gte: bound } };
  }
}

/**
 * Documents per server reply: about 4 MB worth, so memory does not scale with queryLimit × document
 * size (I5). MongoDB caps a reply at 16 MB by itself; FerretDB does not, so this is what bounds it.
 * Until the document size is known, start small.
 */
function batchSizeFor(queryLimit: number, avgDocBytes: number | undefined): number {
  const byBytes = avgDocBytes ? Math.max(1, Math.floor((4 * 1024 * 1024) / avgDocBytes)) : 64;
  return Math.max(1, Math.min(queryLimit, byBytes));
}

/** Fetches documents after `position` into `sink`; see the file comment for the paging rules. */
export class Fetcher {
  private avgDocBytes: number | undefined;
  /** The age window (ms) for the next range page, learned per age field and format. */
  private window?: { key: string; ms?: number };

  constructor(private readonly coll: Collection) {}

  async fetchBatch(position: FetchPosition, sink: FetchSink, opts: FetchOptions): Promise<FetchResult> {
    return position.mode === 'tie'
      ? this.fetchTie(position, sink, opts)
      : this.fetchRange(position, sink, opts);
  }

  private cursor(filter: Document, sort: Document, opts: FetchOptions): TimedCursor {
    return new TimedCursor(
      this.coll.find(filter, {
        raw: true,
        sort,
        limit: opts.queryLimit,
        batchSize: batchSizeFor(opts.queryLimit, this.avgDocBytes),
      }),
      opts.onRoundTrip,
    );
  }

  /** Closes the cursor and learns the batch's average document size (for the next batch size). */
  private async done(c: TimedCursor): Promise<void> {
    await c.close();
    if (c.received > 0) this.avgDocBytes = c.bytes / c.received;
  }

  /** Range mode through age windows (see the file comment); empty windows are widened at once. */
  private async fetchRange(
    position: { mode: 'range'; lastAge?: string },
    sink: FetchSink,
    opts: FetchOptions,
  ): Promise<FetchResult> {
    const t = opts.target;
    const key = `${agePath(t)}|${t.archiveFieldFormat}`;
    if (this.window?.key !== key) this.window = { key };
    const w = this.window;
    const lowerMs = positionAgeMs(t, position.lastAge);
    let serverMs = 0;
    let received = 0;
    let unreadable = 0;
    for (;;) {
      let upperMs: number | undefined =
        lowerMs !== undefined && w.ms !== undefined ? lowerMs + w.ms : undefined;
      if (upperMs !== undefined && (upperMs >= opts.cutoffMs || !representable(t, upperMs)))
        upperMs = undefined;
      const page = await this.rangePage(position, sink, opts, upperMs);
      serverMs += page.r.serverMs;
      received += page.r.received;
      unreadable += page.r.unreadable;
      const r = { ...page.r, serverMs, received, unreadable };
      const full = page.r.received >= opts.queryLimit;
      if (full && page.lastMs !== undefined) {
        // The span a full page covered holds about queryLimit documents: the next window.
        const span = page.lastMs - (lowerMs ?? page.firstMs!);
        if (span > 0) w.ms = span;
      }
      if (upperMs === undefined) return r;
      if (!full) {
        // The window was read whole: widen it for the next page in proportion to what it held.
        const factor = page.r.received > 0 ? (0.8 * opts.queryLimit) / page.r.received : WINDOW_GROWTH;
        w.ms = (w.ms ?? 1) * Math.min(WINDOW_GROWTH, Math.max(1, factor));
      }
      // Below the cutoff, a window that is not full says nothing about the end of the pass.
      const moved = r.kept > 0 || JSON.stringify(r.position) !== JSON.stringify(position);
      if (moved || full || sink.shouldStop()) return { ...r, reachedEnd: false };
    }
  }

  private async rangePage(
    position: { mode: 'range'; lastAge?: string },
    sink: FetchSink,
    opts: FetchOptions,
    upperMs: number | undefined,
  ): Promise<{ r: FetchResult; firstMs?: number; lastMs?: number }> {
    const t = opts.target;
    const p = agePath(t);
    const unique = p === '_id';
    const cursor = this.cursor(rangeQuery(t, opts.cutoffMs, position, upperMs), { [p]: 1 }, opts);
    let firstMs: number | undefined;
    // Positions are encoded only when returned: nothing is allocated per document here.
    let checkpointRaw: RawValue | undefined;
    const checkpointPos = (): FetchPosition =>
      checkpointRaw ? { mode: 'range', lastAge: encodeRaw(checkpointRaw) } : position;
    let groupMs: number | undefined;
    let groupRaw: RawValue | undefined;
    let checkpointed = false;
    let kept = 0;
    let pendingKept = 0;
    let unreadable = 0;
    let stoppedEarly = false;
    try {
      for (;;) {
        const doc = await cursor.next();
        if (!doc) break;
        const meta = docMeta(doc, opts.target, opts.changeGuardFields);
        if (!meta) {
          unreadable++;
          continue;
        }
        if (groupMs !== undefined && (unique || meta.ageMs !== groupMs)) {
          // The previous tie group is complete: keep it.
          sink.checkpoint();
          checkpointRaw = groupRaw;
          checkpointed = true;
          kept += pendingKept;
          pendingKept = 0;
          if (sink.shouldStop()) {
            stoppedEarly = true;
            break;
          }
        }
        await opts.pace?.();
        firstMs ??= meta.ageMs;
        const ageRaw = unique ? meta.id : getRawValue(doc, p)!;
        await sink.append(doc, meta);
        pendingKept++;
        groupMs = meta.ageMs;
        groupRaw = ageRaw; // a view: keeps at most one reply buffer alive a little longer
      }
    } finally {
      await this.done(cursor);
    }
    const { received, serverMs } = cursor;
    const full = received >= opts.queryLimit;
    const page = (r: FetchResult): { r: FetchResult; firstMs?: number; lastMs?: number } => ({
      r,
      ...(firstMs !== undefined ? { firstMs } : {}),
      ...(groupMs !== undefined ? { lastMs: groupMs } : {}),
    });
    if (!stoppedEarly && groupMs !== undefined && (!full || unique)) {
      // The batch ended on its own (or values are unique): the last group is complete.
      sink.checkpoint();
      checkpointRaw = groupRaw;
      kept += pendingKept;
      return page({ position: checkpointPos(), reachedEnd: !full, received, kept, unreadable, serverMs });
    }
    if (!stoppedEarly && full && !checkpointed && groupRaw) {
      // One age value filled the whole batch: page through it by _id.
      return page({
        position: { mode: 'tie', age: encodeRaw(groupRaw) },
        reachedEnd: false,
        received,
        kept: 0,
        unreadable,
        serverMs,
      });
    }
    if (!stoppedEarly && full && groupMs === undefined) {
      // A full batch of documents whose age could not be read: paging cannot advance.
      throw new UnreadableAgeError(t.archiveField);
    }
    return page({
      position: checkpointPos(),
      reachedEnd: !full && !stoppedEarly && groupMs === undefined,
      received,
      kept,
      unreadable,
      serverMs,
    });
  }

  private async fetchTie(
    position: { mode: 'tie'; age: string; lastId?: string },
    sink: FetchSink,
    opts: FetchOptions,
  ): Promise<FetchResult> {
    const cursor = this.cursor(tieQuery(opts.target, position, opts.supportedTypeAliases), { _id: 1 }, opts);
    let lastId: RawValue | undefined;
    let kept = 0;
    let unreadable = 0;
    let stoppedEarly = false;
    try {
      for (;;) {
        if (sink.shouldStop()) {
          stoppedEarly = true;
          break;
        }
        const doc = await cursor.next();
        if (!doc) break;
        const meta = docMeta(doc, opts.target, opts.changeGuardFields);
        if (!meta) {
          unreadable++;
          // Page past it (it stays in MongoDB): a batch of nothing else must not stall the tie group.
          const id = getRawValue(doc, '_id');
          if (id && (id.type === T.string || decodableExactly(id))) lastId = id;
          continue;
        }
        await opts.pace?.();
        await sink.append(doc, meta);
        sink.checkpoint();
        kept++;
        lastId = meta.id;
      }
    } finally {
      await this.done(cursor);
    }
    const { received, serverMs } = cursor;
    if (!stoppedEarly && received < opts.queryLimit) {
      // The tie group is exhausted: continue after its value in range mode.
      return {
        position: { mode: 'range', lastAge: position.age },
        reachedEnd: false,
        received,
        kept,
        unreadable,
        serverMs,
      };
    }
    const pos: FetchPosition = lastId
      ? { mode: 'tie', age: position.age, lastId: encodeRaw(lastId) }
      : position;
    return { position: pos, reachedEnd: false, received, kept, unreadable, serverMs };
  }
}

/** A raw find cursor that times each wait for the server and counts documents and bytes. */
class TimedCursor {
  received = 0;
  bytes = 0;
  serverMs = 0;
  constructor(
    private readonly cursor: FindCursor,
    private readonly onRoundTrip?: (ms: number) => void,
  ) {}

  async next(): Promise<Uint8Array | null> {
    // With nothing buffered and a live (or not yet opened) server cursor, this next() is a find or
    // getMore on the wire; otherwise it is answered from the buffer and says nothing about the server.
    const c = this.cursor;
    const roundTrip = c.bufferedCount() === 0 && !c.closed && !(c.id?.isZero() ?? false);
    const t0 = performance.now();
    const doc = (await this.cursor.next()) as Uint8Array | null;
    const ms = performance.now() - t0;
    this.serverMs += ms;
    if (roundTrip) this.onRoundTrip?.(ms);
    if (doc) {
      this.received++;
      this.bytes += doc.length;
    }
    return doc;
  }

  close(): Promise<void> {
    return this.cursor.close().catch(() => undefined);
  }
}

export class UnreadableAgeError extends Error {
  constructor(field: string) {
    super(
      `a whole batch of documents matched the age query but gochive could not read '${field}' from them ` +
        `(the path crosses an array?); archiving cannot advance — narrow the policy's filter`,
    );
    this.name = 'UnreadableAgeError';
  }
}

/**
 * `_id`, age and guard values of a raw document — views into it, valid while `doc` is. Undefined when
 * the document cannot be archived (no `_id`, unreadable age, or an `_id` a delete cannot name exactly).
 */
export function docMeta(
  doc: Uint8Array,
  target: EligibilityTarget,
  changeGuardFields: string[] | undefined,
): DocMeta | undefined {
  const p = agePath(target);
  const id = getRawValue(doc, '_id');
  const ageRaw = p === '_id' ? id : getRawValue(doc, p);
  const ageMs = ageMillis(target.archiveFieldFormat, ageRaw);
  if (!id || ageMs === undefined) return undefined;
  // An `_id` holding a string that is not valid UTF-8 cannot be named exactly in the delete query:
  // the document is left in MongoDB (counted as unreadable) rather than archived and never deleted.
  if (!decodableExactly(id)) return undefined;
  const guards = changeGuardFields?.length ? changeGuardFields.map((f) => getRawValue(doc, f)) : undefined;
  return { id, ageMs, ...(guards ? { guards } : {}) };
}

// The smallest and largest `_id` of a bundle, for its manifest (`idRange`), so `gochive cat --id` can
// skip bundles that cannot hold an `_id` by reading only their manifests. Recorded only when every `_id`
// is of one of the common types in one comparison bracket (numbers, strings, ObjectIds or dates): that
// range is plainly meaningful and its order (restore/bson-order.ts, MongoDB's) is fixed. A bundle mixing
// brackets, or with other `_id` types, gets no range and is always read.
import { createReadStream } from 'node:fs';
import { BSON } from 'mongodb';
import { T } from '../bundle/bson-types.js';
import { bracketOf, compareBson } from '../bundle/bson-order.js';
import { decodeExact, getRawValue } from './raw-bson.js';

export interface IdRange {
  /** Canonical Extended JSON values, e.g. `{"$oid": "…"}`. */
  min: unknown;
  max: unknown;
}

const OID_BRACKET = bracketOf(new BSON.ObjectId());
const RANGED_BRACKETS = new Set([
  bracketOf(0),
  bracketOf(''),
  bracketOf(new BSON.ObjectId()),
  bracketOf(new Date(0)),
]);

/** Tracks the `_id` range of documents as they go by; `range()` is undefined once it is not meaningful. */
export class IdRangeTracker {
  private min: unknown;
  private max: unknown;
  private minOid?: Buffer;
  private maxOid?: Buffer;
  private bracket?: number;
  private broken = false;

  add(doc: Uint8Array): void {
    if (this.broken) return;
    try {
      this.addId(doc);
    } catch {
      this.broken = true; // an `_id` we cannot read only costs the range, never the bundle
    }
  }

  /** The document at `buf[off…]` (framed by the caller); the usual ObjectId `_id` is read in place. */
  addAt(buf: Buffer, off: number, len: number): void {
    if (this.broken) return;
    // Fast path: an ObjectId `_id` as the first element, as servers store it — compared without a copy.
    if (
      buf[off + 4] === T.objectId &&
      buf[off + 5] === 0x5f &&
      buf[off + 6] === 0x69 &&
      buf[off + 7] === 0x64 &&
      buf[off + 8] === 0 &&
      len >= 21
    ) {
      if (this.bracket !== undefined && this.bracket !== OID_BRACKET) return void (this.broken = true);
      this.bracket = OID_BRACKET;
      const s = off + 9;
      if (!this.minOid) this.minOid = Buffer.from(buf.subarray(s, s + 12));
      else if (buf.compare(this.minOid, 0, 12, s, s + 12) < 0) buf.copy(this.minOid, 0, s, s + 12);
      if (!this.maxOid) this.maxOid = Buffer.from(buf.subarray(s, s + 12));
      else if (buf.compare(this.maxOid, 0, 12, s, s + 12) > 0) buf.copy(this.maxOid, 0, s, s + 12);
      return;
    }
    this.add(buf.subarray(off, off + len));
  }

  private addId(doc: Uint8Array): void {
    // Fast path: an ObjectId `_id` as the first element, as servers store it.
    if (doc[4] === T.objectId && doc[5] === 0x5f && doc[6] === 0x69 && doc[7] === 0x64 && doc[8] === 0)
      return this.addObjectId(doc.subarray(9, 21));
    const raw = getRawValue(doc, '_id');
    if (!raw) return void (this.broken = true);
    if (raw.type === T.objectId) return this.addObjectId(raw.value);
    const v = decodeExact(raw);
    const b = bracketOf(v);
    if (!RANGED_BRACKETS.has(b) || (this.bracket !== undefined && this.bracket !== b))
      return void (this.broken = true);
    this.bracket = b;
    if (this.min === undefined || compareBson(v, this.min) < 0) this.min = v;
    if (this.max === undefined || compareBson(v, this.max) > 0) this.max = v;
  }

  // ObjectIds (the usual `_id`) compare as their 12 bytes: no decoding, and a copy only for a new bound.
  private addObjectId(id: Uint8Array): void {
    if (this.bracket !== undefined && this.bracket !== OID_BRACKET) return void (this.broken = true);
    this.bracket = OID_BRACKET;
    if (!this.minOid || Buffer.compare(id, this.minOid) < 0) this.minOid = Buffer.from(id);
    if (!this.maxOid || Buffer.compare(id, this.maxOid) > 0) this.maxOid = Buffer.from(id);
  }

  range(): IdRange | undefined {
    if (this.broken) return undefined;
    const min = this.minOid ? new BSON.ObjectId(this.minOid) : this.min;
    const max = this.maxOid ? new BSON.ObjectId(this.maxOid) : this.max;
    if (min === undefined || max === undefined) return undefined;
    return { min: canonical(min), max: canonical(max) };
  }
}

function canonical(v: unknown): unknown {
  return (BSON.EJSON.serialize({ v } as BSON.Document, { relaxed: false }) as { v: unknown }).v;
}

/**
 * Cuts spool chunks (concatenated BSON, framed and counted by summarizeSpoolFiles, which feeds it in the
 * same pass) into documents for an IdRangeTracker. Documents are cut out synchronously: a generator
 * step per document would cost more than the rest of the pass. A framing it cannot follow only costs
 * the range (the seal's own checks report the spool).
 */
export class SpoolIdScanner {
  private readonly tracker = new IdRangeTracker();
  private pending: Buffer | undefined;
  private broken = false;

  update(chunk: Buffer): void {
    if (this.broken) return;
    let off = 0;
    if (this.pending) {
      // Finish the document cut at the end of the previous chunk, copying only its own bytes.
      const p = this.pending;
      const head = p.length >= 4 ? p : Buffer.concat([p, chunk.subarray(0, 4 - p.length)]);
      if (head.length < 4) return void (this.pending = head);
      const len = head.readInt32LE(0);
      if (len < 5) return void (this.broken = true);
      const need = len - p.length;
      if (chunk.length < need) return void (this.pending = Buffer.concat([p, chunk]));
      const doc = Buffer.concat([p, chunk.subarray(0, need)]);
      this.tracker.addAt(doc, 0, len);
      this.pending = undefined;
      off = need;
    }
    while (chunk.length - off >= 4) {
      const len = chunk.readInt32LE(off);
      if (len < 5) return void (this.broken = true);
      if (chunk.length - off < len) break;
      this.tracker.addAt(chunk, off, len);
      off += len;
    }
    if (off < chunk.length) this.pending = chunk.subarray(off);
  }

  /** Whether the chunks so far end inside a document. */
  get cut(): boolean {
    return this.pending !== undefined;
  }

  range(): IdRange | undefined {
    return this.broken || this.pending ? undefined : this.tracker.range();
  }
}

/** The `_id` range of the documents in spool files (a pass of its own; the seal uses SpoolIdScanner). */
export async function spoolIdRange(files: string[]): Promise<IdRange | undefined> {
  const scan = new SpoolIdScanner();
  for (const file of files) {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>)
      scan.update(chunk);
    if (scan.cut) return undefined; // a file must hold whole documents
  }
  return scan.range();
}

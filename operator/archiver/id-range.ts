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
 * The `_id` range of the documents in spool files (concatenated BSON, already framed and counted by
 * summarizeSpoolFiles). Documents are cut out of each chunk synchronously: a generator step per
 * document would cost more than the rest of the pass.
 */
export async function spoolIdRange(files: string[]): Promise<IdRange | undefined> {
  const t = new IdRangeTracker();
  for (const file of files) {
    let pending: Buffer | undefined;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readInt32LE(off);
        if (len < 5) return undefined; // not BSON framing: no range (the seal's own checks report it)
        if (buf.length - off < len) break;
        t.add(buf.subarray(off, off + len));
        off += len;
      }
      pending = off < buf.length ? buf.subarray(off) : undefined;
    }
    if (pending) return undefined;
  }
  return t.range();
}

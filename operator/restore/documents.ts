// Per-document helpers for restore and cat: decoding without losing types, reading the archive field as
// a time, and spotting the deprecated BSON types the MongoDB driver cannot write back.
import { BSON, type Document } from 'mongodb';
import type { ArchiveFieldFormat } from '../archiver/config.js';
import { floorDiv } from '../archiver/raw-bson.js';

/** Decodes keeping every numeric/regex/binary type as its BSON class, so re-encoding is exact. */
export function decodeExact(raw: Uint8Array): Document {
  return BSON.deserialize(raw, { promoteValues: false, promoteBuffers: false, bsonRegExp: true });
}

/** Canonical Extended JSON (like bsondump) of one raw document. */
export function toCanonicalEJSON(raw: Uint8Array): string {
  return BSON.EJSON.stringify(decodeExact(raw), { relaxed: false });
}

function getPath(doc: Document, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof BSON.Int32 || v instanceof BSON.Double) return v.value;
  if (v instanceof BSON.Long) return v.toNumber();
  if (v instanceof BSON.Decimal128) return Number(v.toString());
  return undefined;
}

/** The archive-field time of a decoded document, or undefined if absent or of the wrong type. */
export function archiveTime(doc: Document, field: string, format: ArchiveFieldFormat): Date | undefined {
  if (format === 'objectId') {
    const id = doc._id;
    return id instanceof BSON.ObjectId ? id.getTimestamp() : undefined;
  }
  const v = getPath(doc, field);
  if (format === 'date') return v instanceof Date ? v : undefined;
  if (format === 'epochNanos' && v instanceof BSON.Long) {
    const ms = Number(floorDiv(v.toBigInt(), 1_000_000n)); // exact: a double cannot hold the nanoseconds
    return Math.abs(ms) <= 8.64e15 ? new Date(ms) : undefined;
  }
  const n = numberOf(v);
  if (n === undefined || !Number.isFinite(n)) return undefined;
  return new Date(format === 'epochSeconds' ? n * 1000 : format === 'epochNanos' ? n / 1e6 : n);
}

export function inRange(t: Date | undefined, from?: Date, to?: Date): boolean {
  if (!from && !to) return true;
  if (!t) return false;
  const ms = t.getTime();
  return (!from || ms >= from.getTime()) && (!to || ms < to.getTime());
}

/**
 * Whether a raw document holds BSON `undefined` (0x06) or DBPointer (0x0C) anywhere. The driver decodes
 * them to null / DBRef and would write those instead, so such documents cannot be restored byte-exact
 * through it.
 */
export function hasDeprecatedTypes(raw: Uint8Array): boolean {
  return scan(raw, 0, raw.length);
}

function cstringEnd(b: Uint8Array, i: number): number {
  while (b[i] !== 0) i++;
  return i + 1;
}

function i32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function scan(b: Uint8Array, start: number, _end: number): boolean {
  const len = i32(b, start);
  const stop = start + len - 1;
  let i = start + 4;
  while (i < stop) {
    const type = b[i]!;
    i = cstringEnd(b, i + 1);
    switch (type) {
      case 0x06:
      case 0x0c:
        return true;
      case 0x01:
      case 0x09:
      case 0x11:
      case 0x12:
        i += 8;
        break;
      case 0x02:
      case 0x0d:
      case 0x0e:
        i += 4 + i32(b, i);
        break;
      case 0x03:
      case 0x04:
        if (scan(b, i, i + i32(b, i))) return true;
        i += i32(b, i);
        break;
      case 0x05:
        i += 5 + i32(b, i);
        break;
      case 0x07:
        i += 12;
        break;
      case 0x08:
        i += 1;
        break;
      case 0x0a:
      case 0xff:
      case 0x7f:
        break;
      case 0x0b:
        i = cstringEnd(b, cstringEnd(b, i));
        break;
      case 0x0f: {
        const total = i32(b, i);
        const codeLen = i32(b, i + 4);
        if (scan(b, i + 8 + codeLen, 0)) return true;
        i += total;
        break;
      }
      case 0x10:
        i += 4;
        break;
      case 0x13:
        i += 16;
        break;
      default:
        return false; // malformed; verify reports it
    }
  }
  return false;
}

/** Parses `--id`: Extended JSON (`{"$oid":"…"}`, `{"$numberLong":"5"}`, `"text"`, `42`) or a bare string. */
export function parseIdFilter(text: string): unknown {
  try {
    return BSON.EJSON.parse(text, { relaxed: false });
  } catch {
    return text;
  }
}

/** Canonical EJSON of an _id value, for equality across types. */
export function idKey(id: unknown): string {
  return BSON.EJSON.stringify({ v: id } as Document, { relaxed: false });
}

/**
 * `_id` key for duplicate detection: like idKey, except numbers compare by value, as in MongoDB's _id
 * index (Int32 1, Int64 1 and Double 1.0 are the same _id there).
 */
export function dedupKey(id: unknown): string {
  // Short keys for the common _id types (the dry run holds millions of them); the prefixes keep types apart.
  if (id instanceof BSON.ObjectId) return `o:${id.toHexString()}`;
  if (typeof id === 'string') return `s:${id}`;
  if (typeof id === 'number') return `n:${id}`;
  if (id instanceof BSON.Int32 || id instanceof BSON.Double) return `n:${id.value}`;
  if (id instanceof BSON.Long) {
    const n = id.toNumber();
    return `n:${Number.isSafeInteger(n) ? n : id.toString()}`;
  }
  return idKey(id);
}

/**
 * The `_id`s a dry run has already counted, per target namespace, so a repeat later in the same restore
 * counts as skipped, as the real run's duplicate-key error makes it. Holds at most `limit` keys (memory
 * grows with the documents restored, not with bundle size); past that, repeats are no longer recognised
 * and `capped` says the counts are an estimate.
 */
export class SeenIds {
  private readonly byTarget = new Map<string, Set<string>>();
  private count = 0;
  capped = false;

  constructor(private readonly limit = 5_000_000) {}

  /** True when `id` was already seen for `target`; otherwise records it (while under the limit). */
  seenBefore(target: string, id: unknown): boolean {
    const key = dedupKey(id);
    let set = this.byTarget.get(target);
    if (set?.has(key)) return true;
    if (this.count >= this.limit) {
      this.capped = true;
      return false;
    }
    if (!set) this.byTarget.set(target, (set = new Set()));
    set.add(key);
    this.count++;
    return false;
  }
}

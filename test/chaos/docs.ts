// The documents the writer inserts and how it changes them, plus the checker's own (independent) rule
// for whether a document is eligible. Documents mix `_id` types and carry every BSON type FerretDB can
// store; the archive field is sometimes missing or of a wrong type (never eligible, never deleted).
import { createHash } from 'node:crypto';
import { BSON, type Document } from 'mongodb';
import {
  DAY_MS,
  NEW_MAX_DAYS,
  OLD_MAX_DAYS,
  OLD_MIN_DAYS,
  STATUSES,
  filterOf,
  type FilterKind,
  type PolicyPlan,
} from './plan.js';
import type { Rng } from './rng.js';

export type AgeClass = 'old' | 'new' | 'bad';

const DESERIALIZE = {
  promoteValues: false,
  promoteLongs: false,
  promoteBuffers: false,
  bsonRegExp: true,
} as const;

/** Canonical content hash: canonical Extended JSON of the document decoded without promotion. */
export function hashBson(raw: Uint8Array): string {
  const doc = BSON.deserialize(raw, DESERIALIZE);
  return createHash('sha256')
    .update(BSON.EJSON.stringify(doc, { relaxed: false }))
    .digest('base64')
    .slice(0, 22);
}

export function decode(raw: Uint8Array): Document {
  return BSON.deserialize(raw, DESERIALIZE);
}

/** The ledger's key for an `_id`: its canonical Extended JSON. */
export function idKey(id: unknown): string {
  return BSON.EJSON.stringify({ v: id }, { relaxed: false }).slice(5, -1);
}

function oldTime(rng: Rng, now: number): number {
  return now - Math.round(rng.float(OLD_MIN_DAYS, OLD_MAX_DAYS) * DAY_MS);
}
function newTime(rng: Rng, now: number): number {
  // Mostly recent; some in the future (clock skew of producers).
  return rng.chance(0.1)
    ? now + Math.round(rng.float(0, 2) * DAY_MS)
    : now - Math.round(rng.float(0, NEW_MAX_DAYS) * DAY_MS);
}

/** An ObjectId whose embedded time is `ms` and whose other 8 bytes are random (unique). */
function objectIdAt(ms: number, rng: Rng): BSON.ObjectId {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(Math.floor(ms / 1000) >>> 0, 0);
  rng.bytes(8).copy(b, 4);
  return new BSON.ObjectId(b);
}

let seq = 0;

/** A non-ObjectId-format `_id` of a random type. */
function mixedId(rng: Rng, n: number): unknown {
  const k = rng.weighted({ oid: 50, str: 15, int: 8, long: 8, dbl: 5, uuid: 6, obj: 6, date: 2 });
  switch (k) {
    case 'oid':
      return new BSON.ObjectId();
    case 'str':
      return rng.chance(0.2) ? `문서-${n}-ü` : `d-${n}`;
    case 'int':
      return new BSON.Int32(n);
    case 'long':
      return BSON.Long.fromNumber(4_000_000_000 + n);
    case 'dbl':
      return new BSON.Double(n + 0.25);
    case 'uuid':
      return new BSON.UUID();
    case 'obj':
      return { k: `key-${n}`, n: new BSON.Int32(n % 1000) };
    default:
      return new Date(1_500_000_000_000 + n);
  }
}

/** The archive-field value of a document of `cls` in `format` (undefined = field absent). */
function ageValue(p: PolicyPlan, cls: AgeClass, rng: Rng, now: number): unknown {
  if (cls === 'bad') {
    switch (p.format) {
      case 'date':
        return rng.pick<unknown>([
          undefined,
          null,
          '2020-01-01T00:00:00Z',
          new BSON.Int32(1_600_000_000),
          [new Date(now - 200 * DAY_MS)],
          { at: new Date(0) },
          true,
        ]);
      case 'epochSeconds':
      case 'epochMillis':
        return rng.pick<unknown>([
          undefined,
          null,
          '1600000000',
          new Date(now - 200 * DAY_MS),
          [new BSON.Int32(5)],
          new BSON.ObjectId(),
        ]);
      default:
        return undefined;
    }
  }
  const ms = cls === 'old' ? oldTime(rng, now) : newTime(rng, now);
  switch (p.format) {
    case 'date':
      return new Date(ms);
    case 'epochSeconds': {
      const s = ms / 1000;
      return rng.pick([
        () => new BSON.Int32(Math.floor(s)),
        () => BSON.Long.fromNumber(Math.floor(s)),
        () => new BSON.Double(s),
      ])();
    }
    case 'epochMillis':
      return rng.chance(0.6) ? BSON.Long.fromNumber(ms) : new BSON.Double(ms + 0.5);
    default:
      return ms; // objectId: used for the _id, not a field
  }
}

function setPath(doc: Document, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = doc;
  for (const k of parts.slice(0, -1)) {
    o[k] ??= {};
    o = o[k] as Document;
  }
  if (value === undefined) delete o[parts[parts.length - 1]!];
  else o[parts[parts.length - 1]!] = value;
}

function payload(rng: Rng, n: number, now: number): Document {
  const p: Document = {
    s: rng.pick(['plain', 'héllo wörld', '한국어 문서', 'emoji 😀🚀', 'quote " and \\ backslash', '']),
    i: new BSON.Int32(rng.int(-2_000_000_000, 2_000_000_000)),
    l: BSON.Long.fromString(String(rng.int(0, 2 ** 31)) + String(rng.int(100_000_000, 999_999_999))),
    d: new BSON.Double(rng.float(-1e6, 1e6)),
    b: rng.chance(0.5),
    dt: new Date(now - rng.int(0, 1000) * DAY_MS),
    nul: null,
    oid: new BSON.ObjectId(),
    bin: new BSON.Binary(rng.bytes(rng.int(0, 48)), 0),
    uuid: new BSON.UUID(),
    md5: new BSON.Binary(rng.bytes(16), 5),
    user: new BSON.Binary(rng.bytes(5), 128),
    re: new BSON.BSONRegExp('^ab+c$', rng.pick(['', 'i', 'ims'])),
    ts: new BSON.Timestamp({ t: rng.int(1, 2 ** 31), i: rng.int(0, 1000) }),
    o: {
      a: new BSON.Int32(n % 97),
      nested: { deep: { deeper: 'x', list: [new BSON.Int32(1), 'two', { three: new BSON.Double(3.5) }] } },
    },
    a: [new BSON.Int32(1), 'x', { y: new BSON.Int32(2) }, new Date(now), null, true],
    e: [],
    eo: {},
  };
  // A few large documents, so bundles and spool caps see size, not just counts.
  if (rng.chance(0.01)) p.blob = new BSON.Binary(rng.bytes(rng.int(20_000, 200_000)), 0);
  if (rng.chance(0.02)) p.longText = 'lorem ipsum '.repeat(rng.int(100, 3000));
  return p;
}

export interface NewDoc {
  id: unknown;
  key: string;
  raw: Buffer;
  hash: string;
  cls: AgeClass;
  facts: Facts;
}

export function serialize(doc: Document): Buffer {
  return Buffer.from(BSON.serialize(doc));
}

/** A new document for policy `p`'s collection. */
export function makeDoc(p: PolicyPlan, cls: AgeClass, rng: Rng, now: number): NewDoc {
  const n = ++seq;
  let id: unknown;
  if (p.format === 'objectId') {
    id =
      cls === 'bad'
        ? rng.pick([() => `s-${n}`, () => new BSON.Int32(n), () => new BSON.UUID()])()
        : objectIdAt(ageValue(p, cls, rng, now) as number, rng);
  } else {
    id = mixedId(rng, n);
  }
  const doc: Document = { _id: id };
  if (p.format !== 'objectId') setPath(doc, p.archiveField, ageValue(p, cls, rng, now));
  if (p.archiveField.startsWith('meta.')) {
    const meta = doc.meta;
    if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) (meta as Document).src = 'chaos';
    else doc.meta = { src: 'chaos' };
  }
  doc.status = p.filterable ? rng.weighted({ done: 60, open: 25, closed: 15 }) : rng.pick(STATUSES);
  doc.rev = new BSON.Int32(0);
  doc.seq = BSON.Long.fromNumber(n);
  doc.payload = payload(rng, n, now);
  const raw = serialize(doc);
  return { id, key: idKey(id), raw, hash: hashBson(raw), cls, facts: factsOf(p, decode(raw)) };
}

export type UpdateKind = 'refresh' | 'expire' | 'status' | 'touch';

export interface Update {
  kind: UpdateKind;
  facts: Facts;
  /** The $set of the update (absolute values, so a retry is idempotent). */
  set: Document;
  /** The whole document after the update. */
  raw: Buffer;
  hash: string;
}

/** A change to an existing document. Every change bumps `rev` (the change-guard field). */
export function makeUpdate(p: PolicyPlan, current: Buffer, rng: Rng, now: number): Update {
  const doc = BSON.deserialize(current, DESERIALIZE);
  const kinds: UpdateKind[] =
    p.format === 'objectId' ? ['status', 'touch'] : ['refresh', 'expire', 'status', 'touch'];
  const kind = rng.pick(kinds);
  const rev = ((doc.rev as BSON.Int32 | undefined)?.value ?? 0) + 1;
  const set: Document = { rev: new BSON.Int32(rev) };
  if (kind === 'refresh') set[p.archiveField] = ageValue(p, 'new', rng, now);
  else if (kind === 'expire') set[p.archiveField] = ageValue(p, 'old', rng, now);
  else if (kind === 'status') set.status = rng.pick(STATUSES.filter((s) => s !== doc.status));
  else set['payload.s'] = `touched ${rev} ${rng.int(0, 1e6)}`;
  for (const [k, v] of Object.entries(set)) setPath(doc, k, v);
  const raw = serialize(doc);
  return { kind, set, raw, hash: hashBson(raw), facts: factsOf(p, decode(raw)) };
}

// ------------------------------------------------------------------------------------------------
// Eligibility, decided by the checker from the document content alone (independent of the engine).

function getPath(doc: Document, dotted: string): unknown {
  let v: unknown = doc;
  for (const k of dotted.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Document)[k];
  }
  return v;
}

function numberOf(v: unknown): number | undefined {
  if (v instanceof BSON.Int32 || v instanceof BSON.Double) return v.value;
  if (v instanceof BSON.Long) return v.toNumber();
  if (typeof v === 'number') return v;
  return undefined;
}

/** The document's age instant (ms) under the plan's format, or undefined if it can never be archived. */
export function ageMsOf(p: PolicyPlan, doc: Document): number | undefined {
  switch (p.format) {
    case 'objectId':
      return doc._id instanceof BSON.ObjectId ? doc._id.getTimestamp().getTime() : undefined;
    case 'date': {
      const v = getPath(doc, p.archiveField);
      return v instanceof Date ? v.getTime() : undefined;
    }
    case 'epochSeconds': {
      const n = numberOf(getPath(doc, p.archiveField));
      return n === undefined ? undefined : n * 1000;
    }
    case 'epochMillis':
      return numberOf(getPath(doc, p.archiveField));
  }
}

/** What eligibility depends on, extracted once per document. */
export interface Facts {
  /** Age instant in ms; undefined when the archive field is missing or of a wrong type. */
  age: number | undefined;
  status: unknown;
  /** The archive field holds an array (never archived; the engine does not count these as ineligible). */
  array?: boolean;
}

export function factsOf(p: PolicyPlan, doc: Document): Facts {
  const f: Facts = { age: ageMsOf(p, doc), status: doc.status };
  if (p.format !== 'objectId' && Array.isArray(getPath(doc, p.archiveField))) f.array = true;
  return f;
}

export function filterMatches(kind: FilterKind, status: unknown): boolean {
  const f = filterOf(kind);
  if (!f) return true;
  const want = f.status;
  if (typeof want === 'string') return status === want;
  return (want as { $in: string[] }).$in.includes(status as string);
}

/** Eligible for deletion under one spec version at `atMs`. */
export function eligible(
  f: Facts,
  v: { ageLimitDays: number; filterKind: FilterKind; dryRun: boolean },
  atMs: number,
): boolean {
  if (v.dryRun) return false;
  return (
    f.age !== undefined && f.age < atMs - v.ageLimitDays * DAY_MS && filterMatches(v.filterKind, f.status)
  );
}

// What "due for archiving" means for one policy, as MongoDB queries: the cutoff (now − ageLimit) in the
// archive field's own format, the eligibility predicate (also re-checked at delete time, I2), and the
// predicate for documents that can never be archived (field missing or of the wrong type) which are
// only counted. Arrays in the archive field are excluded on purpose: `$lt` matches an array when any
// element matches and sorts use its smallest element, which would make keyset paging ambiguous.
import { BSON, type Document } from 'mongodb';
import type { ArchiveFieldFormat } from './config.js';
import {
  rawDateMillis,
  rawNanosMillis,
  rawNumber,
  rawObjectIdSeconds,
  isNumberType,
  T,
  type RawValue,
} from './raw-bson.js';

/** The parts of a policy that define which documents qualify (stored with each bundle for its delete). */
export interface EligibilityTarget {
  database: string;
  collection: string;
  archiveField: string;
  archiveFieldFormat: ArchiveFieldFormat;
  filter?: Document;
}

/** The document path that carries the age: `_id` for the objectId format. */
export function agePath(t: Pick<EligibilityTarget, 'archiveField' | 'archiveFieldFormat'>): string {
  return t.archiveFieldFormat === 'objectId' ? '_id' : t.archiveField;
}

/** Cutoff instant → the query operand in the field's format. */
export function cutoffOperand(format: ArchiveFieldFormat, cutoffMs: number): unknown {
  switch (format) {
    case 'date':
      return new Date(cutoffMs);
    case 'epochSeconds':
      return new BSON.Double(cutoffMs / 1000);
    case 'epochMillis':
      return new BSON.Double(cutoffMs);
    case 'epochNanos':
      // An Int64, exact (a double is not, at ~1.7e18); floored, so nothing not yet due is ever below it.
      return BSON.Long.fromBigInt(BigInt(Math.floor(cutoffMs)) * 1_000_000n);
    case 'objectId':
      // ObjectIds made in the cutoff second or later sort at or above this one.
      return BSON.ObjectId.createFromTime(Math.floor(cutoffMs / 1000));
  }
}

/** `$type` aliases of the values a format accepts. */
export function acceptedTypeAliases(format: ArchiveFieldFormat): string[] {
  switch (format) {
    case 'date':
      return ['date'];
    case 'epochSeconds':
    case 'epochMillis':
    case 'epochNanos': // Int64 is the format's type; other numbers mean the same instant, as for the others
      return ['double', 'int', 'long', 'decimal'];
    case 'objectId':
      return ['objectId'];
  }
}

/** The archive-field value of a raw element as epoch milliseconds, or undefined if its type is wrong. */
export function ageMillis(format: ArchiveFieldFormat, v: RawValue | undefined): number | undefined {
  if (!v) return undefined;
  let ms: number | undefined;
  switch (format) {
    case 'date':
      ms = rawDateMillis(v);
      break;
    case 'epochSeconds':
      ms = isNumberType(v.type) ? rawNumber(v)! * 1000 : undefined;
      break;
    case 'epochMillis':
      ms = isNumberType(v.type) ? rawNumber(v) : undefined;
      break;
    case 'epochNanos':
      ms = rawNanosMillis(v);
      break;
    case 'objectId':
      ms = v.type === T.objectId ? rawObjectIdSeconds(v)! * 1000 : undefined;
      break;
  }
  return ms !== undefined && Number.isFinite(ms) ? ms : undefined;
}

/**
 * A policy filter as MongoDB should see it: Extended JSON wrappers written in YAML/JSON (`{"$date": …}`,
 * `{"$oid": …}`) become BSON values, and values that already are BSON keep their exact types.
 */
export function normalizeFilter(filter: Document | undefined): Document | undefined {
  if (!filter || Object.keys(filter).length === 0) return undefined;
  return BSON.EJSON.parse(BSON.EJSON.stringify(filter, { relaxed: false }), { relaxed: false }) as Document;
}

function withFilter(filter: Document | undefined, clauses: Document[]): Document {
  const all = filter && Object.keys(filter).length > 0 ? [filter, ...clauses] : clauses;
  return all.length === 1 ? all[0]! : { $and: all };
}

/** Clauses every eligible document satisfies for a given cutoff (not including `filter`). */
export function ageClauses(t: EligibilityTarget, cutoffMs: number): Document[] {
  const p = agePath(t);
  const clauses: Document[] = [{ [p]: { $lt: cutoffOperand(t.archiveFieldFormat, cutoffMs) } }];
  if (p !== '_id') clauses.push({ [p]: { $not: { $type: 'array' } } });
  return clauses;
}

/** Every document due for archiving at `cutoffMs`. */
export function eligibleQuery(t: EligibilityTarget, cutoffMs: number): Document {
  return withFilter(t.filter, ageClauses(t, cutoffMs));
}

/**
 * Documents the filter selects but that can never be archived: archive field missing or of the wrong
 * type. On MongoDB an index on the field serves this (non-matching types are separate key ranges), so
 * the count stays cheap. Array values are excluded from archiving too but not counted here: finding
 * them would need a full scan.
 */
export function ineligibleQuery(
  t: EligibilityTarget,
  typeAliases = acceptedTypeAliases(t.archiveFieldFormat),
): Document {
  return withFilter(t.filter, [{ [agePath(t)]: { $not: { $type: typeAliases } } }]);
}

export { withFilter };

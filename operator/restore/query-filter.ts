// `gochive cat --filter`: a MongoDB query filter, given as Extended JSON, applied to archived documents.
// Matching is sift's (a maintained MongoDB-query matcher); what sift does the JavaScript way is swapped
// for MongoDB's BSON semantics (bundle/bson-order.ts): equality and $gt/$gte/$lt/$lte/$in/$nin compare
// Int32/Int64/Double/Decimal128 by value, ObjectIds by their bytes, dates as dates, strings by code
// point, and only within a type bracket (a date never matches an ISO string). The filter is checked
// before any bundle is read: an operator outside the supported set is a usage error, never a filter that
// silently matches nothing.
import siftModule from 'sift';
import type * as SiftApi from 'sift';
import { BSON, type Document } from 'mongodb';
import { bracketOf, bsonEquals, compareBson } from '../bundle/bson-order.js';
import { UsageError } from './args.js';

// sift is CommonJS: Node's ESM loader exposes its default export only, which carries the named ones.
const sift = siftModule as unknown as typeof SiftApi & typeof siftModule;

type Tester = (v: unknown) => boolean;
type SiftOptions = Parameters<typeof SiftApi.createEqualsOperation>[2];

export const SUPPORTED_OPERATORS = [
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$exists',
  '$type',
  '$regex',
  '$options',
  '$not',
  '$elemMatch',
  '$all',
  '$size',
  '$mod',
  '$and',
  '$or',
  '$nor',
  '$comment',
] as const;

const UNSUPPORTED_HINTS: Record<string, string> = {
  $where: 'JavaScript is not run on archived documents',
  $expr: 'aggregation expressions are not supported',
  $function: 'JavaScript is not run on archived documents',
  $text: 'there is no text index over an archive',
  $jsonSchema: 'schema validation queries are not supported',
  $near: 'geospatial queries are not supported',
  $nearSphere: 'geospatial queries are not supported',
  $geoWithin: 'geospatial queries are not supported',
  $geoIntersects: 'geospatial queries are not supported',
};

export interface CompiledFilter {
  test(doc: Document): boolean;
  /**
   * Values the filter restricts `_id` to (a top-level `_id: v`, `{$eq: v}` or `{$in: [...]}`, also inside
   * a top-level $and), so bundles whose manifest `_id` range holds none of them need not be read.
   */
  ids?: unknown[];
}

/** Parses and checks `--filter` text (canonical or relaxed Extended JSON); throws UsageError when unusable. */
export function compileFilter(text: string): CompiledFilter {
  let query: unknown;
  try {
    query = BSON.EJSON.parse(text, { relaxed: false });
  } catch (err) {
    throw new UsageError(`--filter is not valid Extended JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(query))
    throw new UsageError('--filter must be a JSON object such as \'{"status": "paid"}\'');
  const rewritten = queryDocument(query, 'the top level');
  let tester: (doc: Document) => boolean;
  try {
    tester = sift.default(rewritten as SiftApi.Query<Document>, { operations: OPERATIONS as never }) as (
      d: Document,
    ) => boolean;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--filter: ${(err as Error).message}`);
  }
  const ids = idCandidates(query);
  return { test: tester, ...(ids ? { ids } : {}) };
}

// ---- Checking the filter and rewriting it into the shape sift evaluates with BSON semantics ----

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

const isOperatorObject = (v: unknown): v is Record<string, unknown> =>
  isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));

function refuse(op: string, where: string): never {
  const why = UNSUPPORTED_HINTS[op];
  throw new UsageError(
    `--filter: ${why ? `${op} is not supported (${why})` : `unknown or unsupported operator ${op}`} at ${where}; supported: ${SUPPORTED_OPERATORS.join(' ')}`,
  );
}

/** A query document: field conditions and $and/$or/$nor. */
function queryDocument(q: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(q)) {
    if (k === '$and' || k === '$or' || k === '$nor') {
      if (!Array.isArray(v) || v.length === 0 || !v.every(isPlainObject))
        throw new UsageError(`--filter: ${k} at ${where} needs a non-empty array of query documents`);
      out[k] = v.map((sub, i) => queryDocument(sub, `${where}.${k}[${i}]`));
    } else if (k === '$comment') {
      continue; // MongoDB ignores it too
    } else if (k.startsWith('$')) {
      refuse(k, where);
    } else {
      out[k] = fieldCondition(v, `${k}`);
    }
  }
  return out;
}

/** What a field is matched against: an operator document, or a value (equality, or a regex). */
function fieldCondition(v: unknown, where: string): unknown {
  if (isOperatorObject(v)) return operators(v, where);
  if (isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$'))) {
    const op = Object.keys(v).find((k) => k.startsWith('$'))!;
    throw new UsageError(
      `--filter: ${where} mixes operators (${op}) and field names; use one or the other (or $and)`,
    );
  }
  // A bare regex matches strings (`{name: /^a/}`); `{$eq: /^a/}` only an equal stored regex, as in MongoDB.
  return v instanceof BSON.BSONRegExp ? { $regex: v } : { $eq: v };
}

function operators(o: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [op, v] of Object.entries(o)) {
    const at = `${where}.${op}`;
    switch (op) {
      case '$eq':
      case '$ne':
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        out[op] = v;
        break;
      case '$in':
      case '$nin':
        if (!Array.isArray(v)) throw new UsageError(`--filter: ${at} needs an array`);
        out[op] = v;
        break;
      case '$all':
        if (!Array.isArray(v)) throw new UsageError(`--filter: ${at} needs an array`);
        out[op] = v.map((e) =>
          isPlainObject(e) && Object.keys(e).length === 1 && '$elemMatch' in e
            ? { $elemMatch: elemMatch(e.$elemMatch, `${at}.$elemMatch`) }
            : e instanceof BSON.BSONRegExp
              ? { $regex: e }
              : { $eq: e },
        );
        break;
      case '$exists':
        out[op] = truthy(v);
        break;
      case '$type':
        out[op] = typeTester(v, at);
        break;
      case '$regex':
        if (typeof v !== 'string' && !(v instanceof BSON.BSONRegExp))
          throw new UsageError(`--filter: ${at} needs a pattern string`);
        out[op] = v;
        break;
      case '$options':
        if (!('$regex' in o)) throw new UsageError(`--filter: ${at} needs $regex beside it`);
        if (typeof v !== 'string') throw new UsageError(`--filter: ${at} needs a string`);
        out[op] = v;
        break;
      case '$not':
        if (v instanceof BSON.BSONRegExp) out[op] = { $regex: v };
        else if (isOperatorObject(v)) out[op] = operators(v, at);
        else throw new UsageError(`--filter: ${at} needs a regular expression or an operator document`);
        break;
      case '$elemMatch':
        out[op] = elemMatch(v, at);
        break;
      case '$size': {
        const n = integerOf(v);
        if (n === undefined || n < 0) throw new UsageError(`--filter: ${at} needs a non-negative integer`);
        out[op] = n;
        break;
      }
      case '$mod': {
        const [d, r] = Array.isArray(v) && v.length === 2 ? v.map(integerOf) : [];
        if (d === undefined || r === undefined || d === 0)
          throw new UsageError(`--filter: ${at} needs [divisor, remainder] with a non-zero divisor`);
        out[op] = [d, r];
        break;
      }
      default:
        refuse(op, where);
    }
  }
  return out;
}

function elemMatch(v: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw new UsageError(`--filter: ${where} needs a document`);
  // `{$gte: 80}` matches the elements themselves; `{x: 1}` (or $and/$or/$nor) matches fields of them.
  const logical = Object.keys(v).some((k) => k === '$and' || k === '$or' || k === '$nor');
  return isOperatorObject(v) && !logical ? operators(v, where) : queryDocument(v, where);
}

function truthy(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'object' && bracketOf(v) === bracketOf(0)) return compareBson(v, 0) !== 0;
  return Boolean(v);
}

function integerOf(v: unknown): number | undefined {
  if (bracketOf(v) !== bracketOf(0) || v === null || v === undefined) return undefined;
  const n =
    typeof v === 'number'
      ? v
      : v instanceof BSON.Long
        ? v.toNumber()
        : Number((v as { toString(): string }).toString());
  return Number.isFinite(n) ? Math.trunc(n) : undefined;
}

// ---- $type: BSON type names and numbers, as MongoDB has them ----

const TYPE_ALIASES: Record<string, number> = {
  double: 1,
  string: 2,
  object: 3,
  array: 4,
  binData: 5,
  undefined: 6,
  objectId: 7,
  bool: 8,
  date: 9,
  null: 10,
  regex: 11,
  dbPointer: 12,
  javascript: 13,
  symbol: 14,
  javascriptWithScope: 15,
  int: 16,
  timestamp: 17,
  long: 18,
  decimal: 19,
  minKey: -1,
  maxKey: 127,
};

function bsonTypeNumber(v: unknown): number | undefined {
  if (v === null) return 10;
  if (v === undefined) return undefined;
  if (typeof v === 'string') return 2;
  if (typeof v === 'boolean') return 8;
  if (typeof v === 'number') return 1;
  if (Array.isArray(v)) return 4;
  if (v instanceof Date) return 9;
  const t = (v as { _bsontype?: string })._bsontype;
  switch (t) {
    case 'Double':
      return 1;
    case 'Int32':
      return 16;
    case 'Long':
      return 18;
    case 'Timestamp':
      return 17;
    case 'Decimal128':
      return 19;
    case 'ObjectId':
      return 7;
    case 'Binary':
      return 5;
    case 'BSONRegExp':
      return 11;
    case 'BSONSymbol':
      return 14;
    case 'Code':
      return (v as BSON.Code).scope ? 15 : 13;
    case 'MinKey':
      return -1;
    case 'MaxKey':
      return 127;
    case 'DBRef':
      return 3;
    case undefined:
      return typeof v === 'object' ? 3 : undefined;
    default:
      return undefined;
  }
}

function typeTester(v: unknown, where: string): Tester {
  const wanted = (Array.isArray(v) ? v : [v]).map((t): number | 'number' => {
    if (t === 'number') return 'number';
    if (typeof t === 'string' && t in TYPE_ALIASES) return TYPE_ALIASES[t]!;
    const n = integerOf(t);
    if (n !== undefined && Object.values(TYPE_ALIASES).includes(n)) return n;
    throw new UsageError(
      `--filter: ${where}: unknown BSON type ${JSON.stringify(BSON.EJSON.serialize({ t }).t)}`,
    );
  });
  return (b) => {
    const n = bsonTypeNumber(b);
    return n !== undefined && wanted.some((w) => (w === 'number' ? [1, 16, 18, 19].includes(n) : w === n));
  };
}

// ---- Operations handed to sift: its own evaluation order and array walking, BSON comparisons ----

function regexOf(pattern: string, options: string): RegExp {
  const bad = [...options].filter((c) => !'imsu'.includes(c));
  if (bad.length)
    throw new UsageError(
      `--filter: regex option(s) '${bad.join('')}' not supported (i, m, s and u are; x is not)`,
    );
  try {
    return new RegExp(pattern, options);
  } catch (err) {
    throw new UsageError(`--filter: ${(err as Error).message}`);
  }
}

function regexTester(re: RegExp, source: BSON.BSONRegExp | undefined): Tester {
  return (b) => {
    if (typeof b === 'string') return re.test(b);
    if (b instanceof BSON.BSONSymbol) return re.test(b.value);
    // A stored regex matches a regex query only when it is the same regex, as in MongoDB.
    return Boolean(source) && b instanceof BSON.BSONRegExp && bsonEquals(b, source);
  };
}

/** `$eq`/`$ne`: BSON equality (a regex operand equals only the same stored regex). */
function equalsTester(q: unknown): Tester {
  return (b) => bsonEquals(q, b);
}

/** An `$in`/`$nin` element: a regex matches strings, anything else compares as BSON. */
function inTester(q: unknown): Tester {
  if (q instanceof BSON.BSONRegExp) return regexTester(regexOf(q.pattern, q.options), q);
  return equalsTester(q);
}

/** `$gt`-style test: only values of the operand's type bracket; null operands match null or missing. */
function rangeTester(q: unknown, accept: (c: number) => boolean): Tester {
  const bracket = bracketOf(q);
  if (q === null || q === undefined) return (b) => accept(0) && (b === null || b === undefined);
  return (b) => b !== undefined && bracketOf(b) === bracket && accept(compareBson(b, q));
}

type OperationCreator = (params: unknown, owner: unknown, options: SiftOptions, name: string) => unknown;

const equalsOp =
  (make: (params: unknown, owner: Record<string, unknown>) => Tester): OperationCreator =>
  (params, owner, options) =>
    sift.createEqualsOperation(make(params, owner as Record<string, unknown>), owner, options);

const OPERATIONS: Record<string, OperationCreator> = {
  $eq: equalsOp((q) => equalsTester(q)),
  $gt: equalsOp((q) => rangeTester(q, (c) => c > 0)),
  $gte: equalsOp((q) => rangeTester(q, (c) => c >= 0)),
  $lt: equalsOp((q) => rangeTester(q, (c) => c < 0)),
  $lte: equalsOp((q) => rangeTester(q, (c) => c <= 0)),
  $ne: (q, owner, options, name) => sift.$ne(equalsTester(q), owner as never, options, name),
  $in: (q, owner, options, name) => sift.$in((q as unknown[]).map(inTester), owner as never, options, name),
  $nin: (q, owner, options, name) => sift.$nin((q as unknown[]).map(inTester), owner as never, options, name),
  $regex: equalsOp((q, owner) => {
    if (q instanceof BSON.BSONRegExp) return regexTester(regexOf(q.pattern, q.options), q);
    const options = typeof owner.$options === 'string' ? owner.$options : '';
    return regexTester(regexOf(q as string, options), undefined);
  }),
  $type: equalsOp((q) => q as Tester),
  $mod: equalsOp((q) => {
    const [d, r] = (q as number[]).map(BigInt) as [bigint, bigint];
    return (b) => {
      if (b === null || b === undefined || bracketOf(b) !== bracketOf(0)) return false;
      const n = integerOf(b);
      if (n === undefined) return false;
      const whole = b instanceof BSON.Long ? b.toBigInt() : BigInt(n);
      return whole % d === r; // truncating, sign of the dividend, as MongoDB
    };
  }),
  $where: () => {
    throw new UsageError('--filter: $where is not supported');
  },
};

// ---- `_id` values the filter pins, for pruning bundles by their manifest `_id` range ----

function idCandidates(q: Record<string, unknown>): unknown[] | undefined {
  const direct = idValues(q._id);
  if (direct) return direct;
  if (Array.isArray(q.$and)) {
    for (const sub of q.$and) {
      const found = isPlainObject(sub) ? idCandidates(sub) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

function idValues(cond: unknown): unknown[] | undefined {
  if (cond === undefined) return undefined;
  const plain = (v: unknown): boolean =>
    !(v instanceof BSON.BSONRegExp) && !isPlainObject(v) && !Array.isArray(v);
  if (!isOperatorObject(cond)) return plain(cond) ? [cond] : undefined;
  if ('$eq' in cond && plain(cond.$eq)) return [cond.$eq];
  if (Array.isArray(cond.$in) && cond.$in.every(plain)) return cond.$in;
  return undefined;
}

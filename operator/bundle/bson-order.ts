// MongoDB's comparison of BSON values (the order of sort and of $gt/$lt/$eq), for decoded values as
// decodeExact returns them (Int32, Double, Long, Decimal128 as classes). Values of different type
// brackets never compare equal and `$gt`-style operators only compare within a bracket; the bracket
// order itself is MongoDB's (numbers < strings < documents < arrays < binary < ObjectId < booleans <
// dates < timestamps < regexes). Numbers compare by exact value across Int32/Int64/Double/Decimal128
// (a JS `<` on Long or Decimal128 objects, or on doubles past 2^53, gets that wrong); strings by code
// point, which is UTF-8 byte order, MongoDB's default (simple) collation — not JS's UTF-16 order.
import { BSON } from 'mongodb';

/** MongoDB's type bracket of a value (`undefined`, a missing field, sorts with null). */
export function bracketOf(v: unknown): number {
  if (v === null || v === undefined) return 2;
  if (v instanceof BSON.MinKey) return 1;
  if (v instanceof BSON.MaxKey) return 100;
  if (typeof v === 'number' || v instanceof BSON.Int32 || v instanceof BSON.Double) return 3;
  if (v instanceof BSON.Timestamp) return 11; // before Long: Timestamp is a subclass of it
  if (v instanceof BSON.Long || v instanceof BSON.Decimal128 || typeof v === 'bigint') return 3;
  if (typeof v === 'string' || v instanceof BSON.BSONSymbol) return 4;
  if (Array.isArray(v)) return 6;
  if (v instanceof BSON.Binary || v instanceof Uint8Array) return 7;
  if (v instanceof BSON.ObjectId) return 8;
  if (typeof v === 'boolean') return 9;
  if (v instanceof Date) return 10;
  if (v instanceof BSON.BSONRegExp || v instanceof RegExp) return 12;
  if (v instanceof BSON.DBRef) return 5; // stored as a document {$ref, $id}
  if (v instanceof BSON.Code) return 13;
  if (typeof v === 'object' && (v as { _bsontype?: unknown })._bsontype === undefined) return 5;
  return 14; // anything else (unknown classes): its own bracket, compared by Extended JSON
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in MongoDB's order. */
export function compareBson(a: unknown, b: unknown): number {
  const ba = bracketOf(a);
  const bb = bracketOf(b);
  if (ba !== bb) return ba - bb;
  switch (ba) {
    case 1:
    case 2:
    case 100:
      return 0;
    case 3:
      return compareNumbers(a, b);
    case 4:
      return compareStrings(stringOf(a), stringOf(b));
    case 5:
      return compareDocuments(documentOf(a), documentOf(b));
    case 6:
      return compareArrays(a as unknown[], b as unknown[]);
    case 7:
      return compareBinary(a as BSON.Binary | Uint8Array, b as BSON.Binary | Uint8Array);
    case 8:
      return compareBytes((a as BSON.ObjectId).id, (b as BSON.ObjectId).id);
    case 9:
      return Number(a) - Number(b);
    case 10:
      return sign((a as Date).getTime() - (b as Date).getTime());
    case 11: {
      const ta = a as BSON.Timestamp;
      const tb = b as BSON.Timestamp;
      return sign(ta.t - tb.t) || sign(ta.i - tb.i);
    }
    case 12: {
      const [pa, fa] = regexParts(a);
      const [pb, fb] = regexParts(b);
      return compareStrings(pa, pb) || compareStrings(fa, fb);
    }
    case 13:
      return compareStrings((a as BSON.Code).code, (b as BSON.Code).code);
    default:
      return compareStrings(ejson(a), ejson(b));
  }
}

/** Equality as `$eq` sees it: same bracket and same value (Int32 5 equals Double 5.0 and Long 5). */
export function bsonEquals(a: unknown, b: unknown): boolean {
  return compareBson(a, b) === 0;
}

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function ejson(v: unknown): string {
  return BSON.EJSON.stringify({ v } as BSON.Document, { relaxed: false });
}

function stringOf(v: unknown): string {
  return typeof v === 'string' ? v : (v as BSON.BSONSymbol).value;
}

function documentOf(v: unknown): Record<string, unknown> {
  if (v instanceof BSON.DBRef) return v.toJSON() as unknown as Record<string, unknown>;
  return v as Record<string, unknown>;
}

function regexParts(v: unknown): [string, string] {
  if (v instanceof RegExp) return [v.source, v.flags];
  const r = v as BSON.BSONRegExp;
  return [r.pattern, r.options];
}

/**
 * Code point order (= UTF-8 byte order). UTF-16 code units sort surrogates (U+D800-DFFF, the halves of
 * characters past U+FFFF) before U+E000-FFFF; moving them above fixes the order at the first difference.
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000;
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

function compareDocuments(a: Record<string, unknown>, b: Record<string, unknown>): number {
  // Element by element, in stored order: the value's bracket, then the name, then the value.
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    const va = a[ka[i]!];
    const vb = b[kb[i]!];
    const c = bracketOf(va) - bracketOf(vb) || compareStrings(ka[i]!, kb[i]!) || compareBson(va, vb);
    if (c) return c;
  }
  return ka.length - kb.length;
}

function compareArrays(a: unknown[], b: unknown[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareBson(a[i], b[i]);
    if (c) return c;
  }
  return a.length - b.length;
}

function compareBinary(a: BSON.Binary | Uint8Array, b: BSON.Binary | Uint8Array): number {
  const [da, sa] = a instanceof BSON.Binary ? [a.buffer.subarray(0, a.position), a.sub_type] : [a, 0];
  const [db, sb] = b instanceof BSON.Binary ? [b.buffer.subarray(0, b.position), b.sub_type] : [b, 0];
  return da.length - db.length || sa - sb || compareBytes(da, db);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return sign(Buffer.compare(a, b));
}

// Numbers: a fast path for doubles, exact rationals (num/den, den > 0) when a Long or Decimal128 is in play.
type Exact = { num: bigint; den: bigint } | 'nan' | 'inf' | '-inf';

function compareNumbers(a: unknown, b: unknown): number {
  const fa = plainDouble(a);
  const fb = plainDouble(b);
  if (fa !== undefined && fb !== undefined) return compareDoubles(fa, fb);
  return compareExact(exactOf(a), exactOf(b));
}

function plainDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof BSON.Int32 || v instanceof BSON.Double) return v.value;
  return undefined;
}

/** NaN sorts before every other number and equals itself, as in MongoDB. */
function compareDoubles(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
  if (Number.isNaN(b)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const RANK = { nan: 0, '-inf': 1, finite: 2, inf: 3 } as const;

function compareExact(a: Exact, b: Exact): number {
  const ra = typeof a === 'string' ? RANK[a] : RANK.finite;
  const rb = typeof b === 'string' ? RANK[b] : RANK.finite;
  if (ra !== rb || typeof a === 'string' || typeof b === 'string') return ra - rb;
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

function exactOf(v: unknown): Exact {
  if (typeof v === 'bigint') return { num: v, den: 1n };
  if (v instanceof BSON.Long) return { num: v.toBigInt(), den: 1n };
  if (v instanceof BSON.Decimal128) return exactDecimal(v.toString());
  return exactDouble(plainDouble(v)!);
}

function exactDouble(d: number): Exact {
  if (Number.isNaN(d)) return 'nan';
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (Number.isInteger(d)) return { num: BigInt(d), den: 1n };
  // A finite double is mantissa × 2^exponent: read both from its bits.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  if (exp !== 0) mantissa |= 1n << 52n;
  const shift = (exp === 0 ? 1 : exp) - 1075; // negative for every non-integer
  return { num: negative ? -mantissa : mantissa, den: 1n << BigInt(-shift) };
}

function exactDecimal(text: string): Exact {
  if (/nan/i.test(text)) return 'nan';
  if (/inf/i.test(text)) return text.startsWith('-') ? '-inf' : 'inf';
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:E([+-]?\d+))?$/i.exec(text);
  if (!m) return 'nan';
  const digits = `${m[2] ?? ''}${m[3] ?? ''}` || '0';
  const exponent = Number(m[4] ?? 0) - (m[3]?.length ?? 0);
  let num = BigInt(digits);
  if (m[1] === '-') num = -num;
  return exponent >= 0
    ? { num: num * 10n ** BigInt(exponent), den: 1n }
    : { num, den: 10n ** BigInt(-exponent) };
}

// Reading single fields out of raw BSON documents without decoding them. The fetcher receives every
// document as the exact bytes the server sent (cursor option `raw: true`) and spools those bytes
// untouched (byte-exact round trip); it only needs `_id`, the archive field and the guard fields, which
// are located here by walking the element list. Values are kept as raw element bytes where their exact
// BSON type matters (`_id`: an int32 5 and an int64 5 must be deleted as what they are).
import { BSON, type Document } from 'mongodb';
import { T, valueLayout } from '../bundle/bson-types.js';

export { T };

/** One element's type and its value bytes (a view into the document, not a copy). */
export interface RawValue {
  type: number;
  value: Uint8Array;
}

export class RawBsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RawBsonError';
  }
}

function int32At(b: Uint8Array, off: number): number {
  if (off + 4 > b.length) throw new RawBsonError(`truncated BSON at byte ${off}`);
  return b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
}

function cstringEnd(b: Uint8Array, off: number, limit: number): number {
  for (let i = off; i < limit; i++) if (b[i] === 0) return i;
  throw new RawBsonError(`unterminated element name at byte ${off}`);
}

/** Size of an element's value starting at `off`. */
function valueSize(b: Uint8Array, type: number, off: number, limit: number): number {
  const layout = valueLayout(type);
  if (!layout) throw new RawBsonError(`unknown BSON element type 0x${type.toString(16)} at byte ${off}`);
  if (layout === 'cstrings') {
    const e1 = cstringEnd(b, off, limit);
    const e2 = cstringEnd(b, e1 + 1, limit);
    return e2 + 1 - off;
  }
  const size = 'fixed' in layout ? layout.fixed : layout.extra + int32At(b, off);
  // A negative length would walk backwards (and could loop for ever).
  if (size < 0) throw new RawBsonError(`negative length at byte ${off}`);
  return size;
}

/**
 * Walks the top-level elements of `doc` (a document or array body), every length checked against the
 * document's, until `visit` returns true. `visit` gets the element's type, where its name starts and
 * ends (NUL), and where its value starts and how long it is.
 */
function walkElements(
  doc: Uint8Array,
  visit: (
    type: number,
    nameStart: number,
    nameEnd: number,
    valueStart: number,
    size: number,
  ) => boolean | void,
): void {
  const total = int32At(doc, 0);
  if (total > doc.length || total < 5)
    throw new RawBsonError(`document length ${total} does not match ${doc.length} bytes`);
  const end = total - 1;
  let off = 4;
  while (off < end) {
    const type = doc[off]!;
    const nameEnd = cstringEnd(doc, off + 1, end);
    const vStart = nameEnd + 1;
    const size = valueSize(doc, type, vStart, end);
    if (vStart + size > end)
      throw new RawBsonError(`element '${utf8(doc, off + 1, nameEnd)}' overruns its document at byte ${off}`);
    if (visit(type, off + 1, nameEnd, vStart, size) === true) return;
    off = vStart + size;
  }
}

function utf8(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

/** Calls `visit` for each top-level element of `doc` (a document or array body) until it returns true. */
export function forEachElement(doc: Uint8Array, visit: (name: string, v: RawValue) => boolean | void): void {
  walkElements(doc, (type, nameStart, nameEnd, vStart, size) =>
    visit(utf8(doc, nameStart, nameEnd), { type, value: doc.subarray(vStart, vStart + size) }),
  );
}

/** The element named `name` (UTF-8 bytes) at the top level of `doc`, compared byte-wise (no strings made). */
function findElement(doc: Uint8Array, name: Uint8Array): RawValue | undefined {
  let found: RawValue | undefined;
  walkElements(doc, (type, nameStart, nameEnd, vStart, size) => {
    if (nameEnd - nameStart !== name.length) return false;
    for (let k = 0; k < name.length; k++) if (doc[nameStart + k] !== name[k]) return false;
    found = { type, value: doc.subarray(vStart, vStart + size) };
    return true;
  });
  return found;
}

const pathCache = new Map<string, Uint8Array[]>();

function pathBytes(path: string | readonly string[]): Uint8Array[] {
  const key = typeof path === 'string' ? path : path.join('.');
  let parts = pathCache.get(key);
  if (!parts) {
    parts = (typeof path === 'string' ? path.split('.') : path).map((p) => Buffer.from(p, 'utf8'));
    if (pathCache.size < 1024) pathCache.set(key, parts);
  }
  return parts;
}

/** The value at a dotted path (`a.b.c`, through embedded documents only), or undefined if absent. */
export function getRawValue(doc: Uint8Array, path: string | readonly string[]): RawValue | undefined {
  const parts = pathBytes(path);
  let current: Uint8Array = doc;
  for (let i = 0; i < parts.length; i++) {
    const found = findElement(current, parts[i]!);
    if (!found) return undefined;
    if (i === parts.length - 1) return found;
    if (found.type !== T.object) return undefined;
    current = found.value;
  }
  return undefined;
}

/** Builds the raw bytes of a document from named raw values (in order). */
export function buildRawDocument(fields: ReadonlyArray<[string, RawValue]>): Buffer {
  let size = 5;
  const names = fields.map(([n]) => Buffer.from(n, 'utf8'));
  fields.forEach(([, v], i) => (size += 2 + names[i]!.length + v.value.length));
  const out = Buffer.allocUnsafe(size);
  out.writeInt32LE(size, 0);
  let off = 4;
  fields.forEach(([, v], i) => {
    out[off++] = v.type;
    names[i]!.copy(out, off);
    off += names[i]!.length;
    out[off++] = 0;
    out.set(v.value, off);
    off += v.value.length;
  });
  out[off] = 0;
  return out;
}

/** Decodes one raw value keeping its exact BSON type (Int32, Long, Double… wrappers), for re-use in queries. */
export function decodeExact(v: RawValue): unknown {
  const doc = buildRawDocument([['v', v]]);
  return BSON.deserialize(doc, {
    promoteValues: false,
    promoteLongs: false,
    promoteBuffers: false,
    bsonRegExp: true,
  }).v;
}

/** Decodes a whole raw document keeping exact types. */
export function decodeDocumentExact(doc: Uint8Array): Document {
  return BSON.deserialize(doc, {
    promoteValues: false,
    promoteLongs: false,
    promoteBuffers: false,
    bsonRegExp: true,
  });
}

export function isNumberType(type: number): boolean {
  return type === T.double || type === T.int32 || type === T.int64 || type === T.decimal128;
}

/** A number element as a JS number (int64 beyond 2^53 loses precision; fine for time values). */
export function rawNumber(v: RawValue): number | undefined {
  const b = Buffer.from(v.value.buffer, v.value.byteOffset, v.value.length);
  switch (v.type) {
    case T.double:
      return b.readDoubleLE(0);
    case T.int32:
      return b.readInt32LE(0);
    case T.int64:
      return Number(b.readBigInt64LE(0));
    case T.decimal128:
      return Number(new BSON.Decimal128(Buffer.from(b)).toString());
    default:
      return undefined;
  }
}

/**
 * A number of epoch nanoseconds as epoch milliseconds: an Int64 exactly (floored, as a double could not
 * hold it), any other number divided.
 */
export function rawNanosMillis(v: RawValue): number | undefined {
  if (v.type === T.int64) {
    const ns = Buffer.from(v.value.buffer, v.value.byteOffset, 8).readBigInt64LE(0);
    return Number(floorDiv(ns, 1_000_000n));
  }
  const n = rawNumber(v);
  return n === undefined ? undefined : n / 1e6;
}

/** a / b rounded towards −∞ (BigInt division truncates towards 0). */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** A date element as epoch milliseconds. */
export function rawDateMillis(v: RawValue): number | undefined {
  if (v.type !== T.date) return undefined;
  return Number(Buffer.from(v.value.buffer, v.value.byteOffset, 8).readBigInt64LE(0));
}

/** Seconds embedded in an ObjectId element. */
export function rawObjectIdSeconds(v: RawValue): number | undefined {
  if (v.type !== T.objectId) return undefined;
  return Buffer.from(v.value.buffer, v.value.byteOffset, 4).readUInt32BE(0);
}

/** Hex key of raw bytes (type + value), for grouping equal values without decoding. */
export function rawKey(v: RawValue): string {
  return (
    v.type.toString(16).padStart(2, '0') +
    Buffer.from(v.value.buffer, v.value.byteOffset, v.value.length).toString('hex')
  );
}

/** A copy of a raw value that no longer references the (possibly pooled) source buffer. */
export function copyRaw(v: RawValue): RawValue {
  return { type: v.type, value: Buffer.from(v.value) };
}

/**
 * MongoDB's canonical type order (BSON comparison brackets). `$gt`/`$lt` only match values in the
 * bracket of their operand, and sorts order brackets by this rank. Each bracket lists its `$type` aliases.
 */
export const TYPE_BRACKETS: ReadonlyArray<{ rank: number; codes: number[]; aliases: string[] }> = [
  { rank: 0, codes: [T.minKey], aliases: ['minKey'] },
  { rank: 1, codes: [T.undefined, T.null], aliases: ['undefined', 'null'] },
  {
    rank: 2,
    codes: [T.double, T.int32, T.int64, T.decimal128],
    aliases: ['double', 'int', 'long', 'decimal'],
  },
  { rank: 3, codes: [T.string, T.symbol], aliases: ['string', 'symbol'] },
  { rank: 4, codes: [T.object], aliases: ['object'] },
  { rank: 5, codes: [T.array], aliases: ['array'] },
  { rank: 6, codes: [T.binary], aliases: ['binData'] },
  { rank: 7, codes: [T.objectId], aliases: ['objectId'] },
  { rank: 8, codes: [T.bool], aliases: ['bool'] },
  { rank: 9, codes: [T.date], aliases: ['date'] },
  { rank: 10, codes: [T.timestamp], aliases: ['timestamp'] },
  { rank: 11, codes: [T.regex], aliases: ['regex'] },
  { rank: 12, codes: [T.dbPointer], aliases: ['dbPointer'] },
  { rank: 13, codes: [T.code], aliases: ['javascript'] },
  { rank: 14, codes: [T.codeWithScope], aliases: ['javascriptWithScope'] },
  { rank: 15, codes: [T.maxKey], aliases: ['maxKey'] },
];

export function bracketRank(type: number): number {
  const b = TYPE_BRACKETS.find((x) => x.codes.includes(type));
  if (!b) throw new RawBsonError(`unknown BSON type 0x${type.toString(16)}`);
  return b.rank;
}

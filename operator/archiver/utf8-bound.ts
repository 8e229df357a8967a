// Strings that are not valid UTF-8 (old data, drivers of other languages) cannot be put into a query:
// the BSON library refuses to decode them and would, with validation off, substitute U+FFFD — a query
// operand that could match a *different* document. Such an `_id` is never archived (the fetch leaves the
// document in place and counts it); paging past one uses the smallest valid string above its bytes.
// MongoDB compares strings byte-wise (simple binary comparison) and UTF-8 byte order is code-point
// order, so for every valid string X: X > bytes  ⇔  X >= smallestValidAbove(bytes).

/** Byte length of the valid UTF-8 character starting at `i`, or 0 when none starts there. */
function charLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean =>
    i + j < b.length && b[i + j]! >= lo && b[i + j]! <= hi;
  if (c <= 0x7f) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Byte length of the longest prefix of `b` made of whole valid UTF-8 characters. */
export function validUtf8PrefixLength(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const n = charLength(b, i);
    if (!n) break;
    i += n;
  }
  return i;
}

export function isValidUtf8(b: Uint8Array): boolean {
  return validUtf8PrefixLength(b) === b.length;
}

const MAX_INDEX = 0x10ffff - 0x800; // code points without the surrogate range
const codePointAt = (k: number): number => (k < 0xd800 ? k : k + 0x800);
const encode = (cp: number): Buffer => Buffer.from(String.fromCodePoint(cp), 'utf8');

/**
 * The smallest valid UTF-8 string whose bytes sort after `b` (byte-wise, as MongoDB compares strings),
 * or undefined when no valid string does.
 */
export function smallestValidAbove(b: Uint8Array): string | undefined {
  const i = validUtf8PrefixLength(b);
  const prefix = Buffer.from(b.subarray(0, i)).toString('utf8');
  if (i === b.length) return `${prefix}\u0000`; // valid already: its immediate successor
  const rest = Buffer.from(b.subarray(i));
  // The first character after the valid prefix: the smallest code point whose encoding sorts after the
  // invalid tail (no encoding equals a prefix of it, so the comparison is decided there).
  if (Buffer.compare(encode(codePointAt(MAX_INDEX)), rest) > 0) {
    let lo = 0;
    let hi = MAX_INDEX;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(encode(codePointAt(mid)), rest) > 0) hi = mid;
      else lo = mid + 1;
    }
    return prefix + String.fromCodePoint(codePointAt(lo));
  }
  // Nothing valid continues the prefix past these bytes: step the prefix itself to its successor.
  const cps = Array.from(prefix, (ch) => ch.codePointAt(0)!);
  while (cps.length) {
    let next = cps.pop()! + 1;
    if (next === 0xd800) next = 0xe000;
    if (next <= 0x10ffff) return String.fromCodePoint(...cps, next);
  }
  return undefined;
}

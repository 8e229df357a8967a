import { isValidUtf8, smallestValidAbove, validUtf8PrefixLength } from './utf8-bound.js';

const b = (...x: number[]): Buffer => Buffer.from(x);
const cmp = (s: string, bytes: Buffer): number => Buffer.compare(Buffer.from(s, 'utf8'), bytes);

describe('utf8-bound', () => {
  test('valid prefix lengths follow the strict UTF-8 table', () => {
    expect(validUtf8PrefixLength(Buffer.from('abé€😀', 'utf8'))).toBe(Buffer.byteLength('abé€😀'));
    expect(validUtf8PrefixLength(b(0x61, 0xc0, 0x80))).toBe(1); // overlong
    expect(validUtf8PrefixLength(b(0xed, 0xa0, 0x80))).toBe(0); // surrogate
    expect(validUtf8PrefixLength(b(0xf4, 0x90, 0x80, 0x80))).toBe(0); // > U+10FFFF
    expect(validUtf8PrefixLength(b(0x61, 0xe2, 0x82))).toBe(1); // truncated
    expect(isValidUtf8(b(0xff))).toBe(false);
  });

  test.each([
    ['stray high bytes', b(0x69, 0x64, 0x2d, 0xff, 0xfe, 0xc3, 0x28), 'id.'],
    ['broken 2-byte sequence', b(0x61, 0xc3, 0x28), 'a\u00c0'],
    ['truncated 3-byte sequence', b(0x61, 0xe2, 0x82), 'a\u2080'],
    ['lone continuation byte', b(0x61, 0x80), 'a\u0080'],
    ['surrogate encoding', b(0x61, 0xed, 0xa0, 0x80), 'a\ue000'],
    ['only 0xff', b(0xff), undefined],
  ])('%s: the smallest valid string above the bytes', (_n, bytes, want) => {
    const s = smallestValidAbove(bytes);
    expect(s).toBe(want);
    if (s !== undefined) expect(cmp(s, bytes)).toBeGreaterThan(0);
  });

  test('exhaustive over short byte strings: no valid string lies between the bytes and the bound', () => {
    // Every 1–2 byte sequence, against every valid string of up to 2 characters from a small alphabet.
    const alphabet = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc3, 0xff, 0x7ff, 0x800, 0xfffd, 0x10000, 0x10ffff];
    const strings = [''];
    for (const a of alphabet) {
      strings.push(String.fromCodePoint(a));
      for (const c of alphabet) strings.push(String.fromCodePoint(a, c));
    }
    for (let x = 0; x < 256; x++) {
      for (let y = -1; y < 256; y += 17) {
        const bytes = y < 0 ? b(x) : b(x, y);
        const bound = smallestValidAbove(bytes);
        for (const s of strings) {
          const above = cmp(s, bytes) > 0;
          const atOrAboveBound = bound !== undefined && cmp(s, Buffer.from(bound, 'utf8')) >= 0;
          if (above !== atOrAboveBound)
            throw new Error(`bytes ${bytes.toString('hex')}: '${s}' misplaced (bound ${bound})`);
        }
      }
    }
  });
});

import { BSON } from 'mongodb';
import { forEachElement, getRawValue, RawBsonError, T } from './raw-bson.js';

/** A document with one string element `a` whose length prefix is `len` (however impossible). */
function stringElement(len: number): Uint8Array {
  const body = Buffer.concat([
    Buffer.from([T.string]),
    Buffer.from('a\0'),
    Buffer.from(new Int32Array([len]).buffer),
    Buffer.from('xyz\0'),
  ]);
  const doc = Buffer.alloc(4 + body.length + 1);
  doc.writeInt32LE(doc.length, 0);
  body.copy(doc, 4);
  return doc;
}

describe('raw BSON walker', () => {
  test('reads the elements of a well-formed document', () => {
    const doc = BSON.serialize({ a: 'xyz', n: 5 });
    const seen: string[] = [];
    forEachElement(doc, (name) => void seen.push(name));
    expect(seen).toEqual(['a', 'n']);
    expect(getRawValue(doc, 'n')?.type).toBe(T.int32);
  });

  test('a negative length prefix is refused, not walked backwards (it could loop for ever)', () => {
    // -7: the value's size (4 + len) is -3, which would put the next element back where this one starts.
    for (const len of [-7, -5]) {
      const doc = stringElement(len);
      let visits = 0;
      const walk = (): void => forEachElement(doc, () => ++visits > 100);
      expect(walk).toThrow(RawBsonError);
      expect(walk).toThrow(/negative length/);
      expect(visits).toBe(0);
      expect(() => getRawValue(doc, 'missing')).toThrow(/negative length/);
    }
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import type { BundleManifest } from '../bundle/manifest.js';
import { mayHoldIds } from '../restore/id-prune.js';
import { IdRangeTracker, SpoolIdScanner, spoolIdRange } from './id-range.js';
import { buildRawDocument, T } from './raw-bson.js';

const raw = (id: unknown): Uint8Array => BSON.serialize({ _id: id, x: 1 });
const rangeOf = (ids: unknown[]) => {
  const t = new IdRangeTracker();
  ids.forEach((id) => t.add(raw(id)));
  return t.range();
};

describe('bundle _id range', () => {
  test('ObjectIds by their bytes, numbers by value across types, strings by code point', () => {
    expect(
      rangeOf([
        new BSON.ObjectId('65a1b2c3d4e5f60718293a4b'),
        new BSON.ObjectId('0000000000000000000000ff'),
        new BSON.ObjectId('65a1b2c3d4e5f60718293a4c'),
      ]),
    ).toEqual({ min: { $oid: '0000000000000000000000ff' }, max: { $oid: '65a1b2c3d4e5f60718293a4c' } });
    expect(rangeOf([new BSON.Int32(10), BSON.Long.fromNumber(-2), new BSON.Double(2.5)])).toEqual({
      min: { $numberLong: '-2' },
      max: { $numberInt: '10' },
    });
    expect(rangeOf(['\uFB01', '\u{1F600}', 'a'])).toEqual({ min: 'a', max: '\u{1F600}' });
  });

  test('no range for mixed brackets, other types, or a document without _id', () => {
    expect(rangeOf([1, 'a'])).toBeUndefined();
    expect(rangeOf([new BSON.ObjectId(), 1])).toBeUndefined();
    expect(rangeOf([{ a: 1 }])).toBeUndefined();
    const t = new IdRangeTracker();
    t.add(BSON.serialize({ x: 1 }));
    expect(t.range()).toBeUndefined();
  });

  test('an _id that cannot be decoded (invalid UTF-8) drops the range instead of failing the seal', () => {
    const t = new IdRangeTracker();
    t.add(raw('a'));
    const bad = Buffer.from([2, 0, 0, 0, 0xff, 0]); // string of length 2: 0xff, NUL
    t.add(buildRawDocument([['_id', { type: T.string, value: bad }]]));
    expect(t.range()).toBeUndefined();
  });

  test('spoolIdRange reads documents cut across 1 MiB read chunks, in both files', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gochive-idrange-'));
    try {
      // 3,001-byte documents never align with the chunk size; the _id is not the first field.
      const docs = (from: number) =>
        Array.from({ length: 700 }, (_, i) =>
          Buffer.from(BSON.serialize({ pad: 'x'.repeat(2970), _id: new BSON.Int32(from + i) })),
        );
      writeFileSync(path.join(dir, 'a.bson'), Buffer.concat(docs(-300)));
      writeFileSync(path.join(dir, 'b.bson'), Buffer.concat(docs(5000)));
      expect(await spoolIdRange([path.join(dir, 'a.bson'), path.join(dir, 'b.bson')])).toEqual({
        min: { $numberInt: '-300' },
        max: { $numberInt: '5699' },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("SpoolIdScanner: chunks cut at every offset, inside a length header too, give the tracker's range", () => {
    const ids = [
      new BSON.ObjectId('65a1b2c3d4e5f60718293a4b'),
      new BSON.ObjectId('0000000000000000000000ff'),
      new BSON.ObjectId('ffffffffffffffffffffff00'),
      new BSON.ObjectId('65a1b2c3d4e5f60718293a4c'),
    ];
    const bytes = Buffer.concat(ids.map((id) => Buffer.from(raw(id))));
    const want = rangeOf(ids);
    expect(want).toEqual({
      min: { $oid: '0000000000000000000000ff' },
      max: { $oid: 'ffffffffffffffffffffff00' },
    });
    for (let a = 0; a <= bytes.length; a++) {
      for (const b of [a, a + 1, a + 2, a + 3, a + 40]) {
        if (b > bytes.length) continue;
        const scan = new SpoolIdScanner();
        scan.update(bytes.subarray(0, a));
        scan.update(bytes.subarray(a, b));
        scan.update(bytes.subarray(b));
        expect(scan.cut).toBe(false);
        expect(scan.range()).toEqual(want);
      }
    }
    // Ending inside a document, or a framing it cannot follow, costs the range.
    const cut = new SpoolIdScanner();
    cut.update(bytes.subarray(0, bytes.length - 1));
    expect(cut.range()).toBeUndefined();
    const bad = new SpoolIdScanner();
    bad.update(Buffer.from([1, 0, 0, 0, 0]));
    expect(bad.range()).toBeUndefined();
  });

  test('mayHoldIds: a value inside the range, by MongoDB order; no range means maybe', () => {
    const m = { idRange: rangeOf([new BSON.Int32(10), new BSON.Int32(20)]) } as BundleManifest;
    expect(mayHoldIds(m, [[BSON.Long.fromNumber(15)]])).toBe(true);
    expect(mayHoldIds(m, [[new BSON.Double(20)]])).toBe(true);
    expect(mayHoldIds(m, [[21, 'x']])).toBe(false);
    expect(mayHoldIds(m, [[15], [30]])).toBe(false); // every set must be possible
    expect(mayHoldIds({} as BundleManifest, [[30]])).toBe(true);
    expect(mayHoldIds(undefined, [[30]])).toBe(true);
  });
});

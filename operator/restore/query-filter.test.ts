// The --filter adapter over sift: MongoDB's answers for BSON values, including the cases where sift's
// plain JavaScript comparison (or a naive one) gives a different answer.
import { BSON, type Document } from 'mongodb';
import { bsonEquals, compareBson, compareStrings } from '../bundle/bson-order.js';
import { UsageError } from './args.js';
import { compileFilter } from './query-filter.js';
import { decodeExact } from './documents.js';

const oid = (hex: string): BSON.ObjectId => new BSON.ObjectId(hex);
const A = '65a1b2c3d4e5f60718293a4b';
const B = '65a1b2c3d4e5f60718293a4c';
const C = '0000000000000000000000ff'; // smaller as bytes, larger as hex text would not tell

// Decoded as cat decodes them: through BSON bytes, every number keeps its class.
const docs: Document[] = [
  {
    _id: oid(A),
    n: BSON.Long.fromString('9007199254740993'),
    i: new BSON.Int32(5),
    dec: BSON.Decimal128.fromString('5.000'),
    at: new Date('2024-01-02T00:00:00Z'),
    s: 'abc',
    emoji: '\u{1F600}',
    tags: ['x', 'y'],
    items: [
      { sku: 'a', q: new BSON.Int32(2) },
      { sku: 'b', q: new BSON.Int32(7) },
    ],
    sub: { k: 'v', deep: { z: BSON.Long.fromNumber(3) } },
  },
  {
    _id: oid(B),
    n: new BSON.Double(9007199254740992),
    i: new BSON.Double(5.5),
    dec: BSON.Decimal128.fromString('5.5'),
    at: '2024-01-03T00:00:00Z',
    s: 'ABD',
    emoji: '\uFB01',
    tags: [],
    sub: null,
  },
  { _id: oid(C), i: BSON.Long.fromNumber(-3), s: 'zz', items: [{ sku: 'a', q: new BSON.Int32(9) }] },
].map((d) => decodeExact(BSON.serialize(d)));

/** Indexes of the documents the filter selects. */
const match = (filter: string): number[] => {
  const f = compileFilter(filter);
  return docs.flatMap((d, i) => (f.test(d) ? [i] : []));
};

describe('cat --filter over BSON types', () => {
  test('numbers compare by value across Int32, Int64, Double and Decimal128', () => {
    expect(match('{"i": 5}')).toEqual([0]);
    expect(match('{"i": {"$numberLong": "5"}}')).toEqual([0]);
    expect(match('{"i": {"$numberDecimal": "5.0"}}')).toEqual([0]);
    expect(match('{"dec": 5}')).toEqual([0]);
    expect(match('{"dec": {"$gt": {"$numberLong": "5"}}}')).toEqual([1]);
    expect(match('{"i": {"$gte": 5}}')).toEqual([0, 1]);
    expect(match('{"i": {"$lt": 0}}')).toEqual([2]);
    // 2^53 + 1 as an Int64 is above the double 2^53: as JS numbers both are 9007199254740992.
    expect(match('{"n": {"$gt": {"$numberLong": "9007199254740992"}}}')).toEqual([0]);
    expect(match('{"n": {"$numberLong": "9007199254740992"}}')).toEqual([1]);
    expect(match('{"i": {"$in": [{"$numberLong": "5"}, 99]}}')).toEqual([0]);
  });

  test('ObjectIds: equality and order by their bytes', () => {
    expect(match(`{"_id": {"$oid": "${A}"}}`)).toEqual([0]);
    expect(match(`{"_id": {"$gt": {"$oid": "${A}"}}}`)).toEqual([1]);
    expect(match(`{"_id": {"$lt": {"$oid": "${A}"}}}`)).toEqual([2]);
    // The hex string is a string, not an ObjectId: MongoDB matches nothing (sift alone would say equal).
    expect(match(`{"_id": "${A}"}`)).toEqual([]);
    expect(match(`{"_id": {"$gt": "0"}}`)).toEqual([]);
  });

  test('dates: ranges of dates; an ISO string is a string, not a date', () => {
    expect(
      match('{"at": {"$gte": {"$date": "2024-01-01T00:00:00Z"}, "$lt": {"$date": "2024-02-01T00:00:00Z"}}}'),
    ).toEqual([0]);
    expect(match('{"at": {"$gte": {"$date": {"$numberLong": "1704067200000"}}}}')).toEqual([0]);
    expect(match('{"at": {"$gte": "2024-01-01"}}')).toEqual([1]);
    expect(match('{"at": {"$type": "date"}}')).toEqual([0]);
  });

  test('strings compare by code point (UTF-8 order), not UTF-16 units', () => {
    // U+1F600 is a surrogate pair in UTF-16 (0xD83D…), which JS sorts below U+FB01.
    expect('\u{1F600}' < '\uFB01').toBe(true);
    expect(match('{"emoji": {"$gt": "\uFB01"}}')).toEqual([0]);
    expect(compareStrings('\u{1F600}', '\uFB01')).toBeGreaterThan(0);
    expect(match('{"s": {"$gt": "abc"}}')).toEqual([2]);
  });

  test('nested fields, arrays, $elemMatch, $all, $size', () => {
    expect(match('{"sub.k": "v"}')).toEqual([0]);
    expect(match('{"sub.deep.z": 3}')).toEqual([0]);
    expect(match('{"sub": {"k": "v", "deep": {"z": 3}}}')).toEqual([0]);
    expect(match('{"sub": {"deep": {"z": 3}, "k": "v"}}')).toEqual([]); // field order matters, as in MongoDB
    expect(match('{"tags": "x"}')).toEqual([0]);
    expect(match('{"tags": ["x", "y"]}')).toEqual([0]);
    expect(match('{"tags": {"$in": ["y", "q"]}}')).toEqual([0]);
    expect(match('{"tags": {"$all": ["y", "x"]}}')).toEqual([0]);
    expect(match('{"tags": {"$size": 0}}')).toEqual([1]);
    expect(match('{"items.q": {"$gt": 5}}')).toEqual([0, 2]);
    expect(match('{"items": {"$elemMatch": {"sku": "a", "q": {"$gt": 5}}}}')).toEqual([2]);
    expect(match('{"items.q": {"$elemMatch": {"$gt": 5}}}')).toEqual([]); // q is not an array
    expect(match('{"items.sku": "a", "items.q": {"$gt": 5}}')).toEqual([0, 2]); // not one element
  });

  test('$exists, null, $ne/$nin on missing fields', () => {
    expect(match('{"sub": {"$exists": true}}')).toEqual([0, 1]);
    expect(match('{"sub": {"$exists": false}}')).toEqual([2]);
    expect(match('{"sub": null}')).toEqual([1, 2]); // null or missing
    expect(match('{"sub": {"$ne": null}}')).toEqual([0]);
    expect(match('{"n": {"$exists": {"$numberInt": "1"}}}')).toEqual([0, 1]);
    expect(match('{"s": {"$nin": ["abc", "zz"]}}')).toEqual([1]);
  });

  test('$regex in every spelling, $not, and the logical operators', () => {
    expect(match('{"s": {"$regex": "^ab", "$options": "i"}}')).toEqual([0, 1]);
    expect(match('{"s": {"$regularExpression": {"pattern": "^ab", "options": ""}}}')).toEqual([0]);
    expect(match('{"s": {"$not": {"$regex": "^ab"}}}')).toEqual([1, 2]);
    expect(match('{"s": {"$in": [{"$regex": "^z"}, "ABD"]}}')).toEqual([1, 2]);
    expect(match('{"s": {"$eq": {"$regex": "^z"}}}')).toEqual([]); // $eq: only an equal stored regex
    expect(match('{"tags": {"$all": [{"$regex": "^x"}, "y"]}}')).toEqual([0]);
    expect(match('{"tags": {"$elemMatch": {"$eq": "y"}}}')).toEqual([0]);
    expect(match('{"tags": {"$ne": "x"}}')).toEqual([1, 2]); // no element may equal it
    expect(match('{"items.sku": {"$in": ["b"]}}')).toEqual([0]);
    expect(match('{"items.1.q": 7}')).toEqual([0]);
    expect(match('{"i": {"$not": {"$gt": 5}}}')).toEqual([0, 2]);
    expect(match('{"$or": [{"s": "abc"}, {"i": {"$lt": 0}}]}')).toEqual([0, 2]);
    expect(match('{"$and": [{"i": {"$gt": 0}}, {"i": {"$lt": 5.5}}]}')).toEqual([0]);
    expect(match('{"$nor": [{"s": "abc"}, {"s": "zz"}]}')).toEqual([1]);
    expect(match('{"i": {"$type": "long"}}')).toEqual([2]);
    expect(match('{"i": {"$type": ["int", "double"]}}')).toEqual([0, 1]);
    expect(match('{"i": {"$mod": [2, -1]}}')).toEqual([2]); // sign of the dividend, as in MongoDB
    expect(match('{"$comment": "why", "s": "zz"}')).toEqual([2]);
  });

  test('unsupported or unknown operators are refused up front, naming them', () => {
    const refused = (f: string): string => {
      try {
        compileFilter(f);
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
      }
      throw new Error(`${f} was accepted`);
    };
    expect(refused('{"$where": "this.a > 1"}')).toMatch(/\$where is not supported/);
    expect(refused('{"$expr": {"$gt": ["$a", 1]}}')).toMatch(/\$expr is not supported/);
    expect(refused('{"$text": {"$search": "x"}}')).toMatch(/\$text is not supported/);
    expect(refused('{"loc": {"$geoWithin": {"$center": [[0, 0], 1]}}}')).toMatch(
      /\$geoWithin is not supported/,
    );
    expect(refused('{"a": {"$foo": 1}}')).toMatch(/unknown or unsupported operator \$foo at a/);
    expect(refused('{"a": {"$gt": 1, "b": 2}}')).toMatch(/mixes operators/);
    expect(refused('{"$or": []}')).toMatch(/non-empty array/);
    expect(refused('{"a": {"$regex": "x", "$options": "x"}}')).toMatch(/option\(s\) 'x'/);
    expect(refused('{"a": {"$type": "nope"}}')).toMatch(/unknown BSON type/);
    expect(refused('[1]')).toMatch(/JSON object/);
    expect(refused('{"a": ')).toMatch(/not valid Extended JSON/);
  });

  test('the _id values a filter pins, for pruning bundles', () => {
    expect(compileFilter(`{"_id": {"$oid": "${A}"}}`).ids).toEqual([oid(A)]);
    expect(compileFilter('{"_id": {"$in": [1, 2]}, "s": "x"}').ids).toEqual([
      new BSON.Int32(1),
      new BSON.Int32(2),
    ]);
    expect(compileFilter('{"$and": [{"s": "x"}, {"_id": {"$eq": "k"}}]}').ids).toEqual(['k']);
    expect(compileFilter('{"_id": {"$gt": 1}}').ids).toBeUndefined();
    expect(compileFilter('{"$or": [{"_id": 1}, {"s": "x"}]}').ids).toBeUndefined();
    expect(compileFilter('{"_id": {"$regex": "^a"}}').ids).toBeUndefined();
  });
});

describe('BSON order', () => {
  test('brackets in MongoDB order, numbers exact, NaN lowest', () => {
    const ordered = [
      new BSON.MinKey(),
      null,
      new BSON.Double(NaN),
      -Infinity,
      BSON.Decimal128.fromString('-1E+400'),
      new BSON.Int32(-1),
      BSON.Decimal128.fromString('0.1'),
      0.30000000000000004,
      BSON.Long.fromString('9007199254740993'),
      Infinity,
      '',
      'a',
      {},
      [],
      new BSON.Binary(Buffer.from('x')),
      oid(C),
      oid(A),
      false,
      true,
      new Date(0),
      new BSON.Timestamp({ t: 1, i: 1 }),
      new BSON.BSONRegExp('a', ''),
      new BSON.MaxKey(),
    ];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect([i, Math.sign(compareBson(ordered[i], ordered[i + 1]))]).toEqual([i, -1]);
    }
    expect(bsonEquals(new BSON.Double(NaN), BSON.Decimal128.fromString('NaN'))).toBe(true);
    expect(bsonEquals(0.1, BSON.Decimal128.fromString('0.1'))).toBe(false); // the double is not 1/10
    expect(bsonEquals(0.5, BSON.Decimal128.fromString('0.50'))).toBe(true);
  });
});

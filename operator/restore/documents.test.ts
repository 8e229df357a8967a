import { BSON } from 'mongodb';
import { everyTypeDocuments } from '../bundle/test-docs.js';
import { parseTime, sourceFromFlags, UsageError } from './args.js';
import {
  archiveTime,
  decodeExact,
  dedupKey,
  SeenIds,
  hasDeprecatedTypes,
  idKey,
  inRange,
  parseIdFilter,
  toCanonicalEJSON,
} from './documents.js';
import { RateLimiter } from './rate.js';

describe('restore document handling', () => {
  test('decodeExact re-encodes every BSON type byte-exact (what the driver sends), except the deprecated two', () => {
    const docs = everyTypeDocuments();
    for (const raw of docs) {
      const again = Buffer.from(
        BSON.serialize(decodeExact(raw), { checkKeys: false, ignoreUndefined: false }),
      );
      if (hasDeprecatedTypes(raw)) expect(again.equals(raw)).toBe(false);
      else expect(again.equals(raw)).toBe(true);
    }
    expect(docs.filter(hasDeprecatedTypes).length).toBe(1);
  });

  test('hasDeprecatedTypes finds undefined and DBPointer inside nested documents and arrays', () => {
    // { a: [ { u: undefined } ] } built by hand
    const inner = Buffer.from([8, 0, 0, 0, 0x06, 0x75, 0x00, 0x00]);
    const arr = Buffer.concat([
      Buffer.from([4 + 1 + 2 + inner.length + 1, 0, 0, 0, 0x03, 0x30, 0x00]),
      inner,
      Buffer.from([0]),
    ]);
    const outer = Buffer.concat([
      Buffer.from([4 + 1 + 2 + arr.length + 1, 0, 0, 0, 0x04, 0x61, 0x00]),
      arr,
      Buffer.from([0]),
    ]);
    expect(hasDeprecatedTypes(outer)).toBe(true);
    expect(
      hasDeprecatedTypes(Buffer.from(BSON.serialize({ a: [{ u: null }], c: new BSON.Code('x', { s: 1 }) }))),
    ).toBe(false);
  });

  test('canonical Extended JSON keeps number types apart', () => {
    const raw = Buffer.from(
      BSON.serialize({
        i: new BSON.Int32(1),
        d: new BSON.Double(1),
        l: BSON.Long.fromNumber(1),
        z: new BSON.Double(-0),
      }),
    );
    expect(toCanonicalEJSON(raw)).toBe(
      '{"i":{"$numberInt":"1"},"d":{"$numberDouble":"1.0"},"l":{"$numberLong":"1"},"z":{"$numberDouble":"-0.0"}}',
    );
  });

  test('archive-field time in every format', () => {
    const at = new Date('2024-05-06T07:08:09.000Z');
    const oid = BSON.ObjectId.createFromTime(at.getTime() / 1000);
    const doc = decodeExact(
      BSON.serialize({
        _id: oid,
        d: at,
        s: BSON.Long.fromNumber(at.getTime() / 1000),
        ms: new BSON.Double(at.getTime()),
        ns: BSON.Long.fromBigInt(BigInt(at.getTime()) * 1_000_000n + 999_999n),
        n: { d: at },
        str: at.toISOString(),
      }),
    );
    expect(archiveTime(doc, 'd', 'date')).toEqual(at);
    expect(archiveTime(doc, 'n.d', 'date')).toEqual(at);
    expect(archiveTime(doc, 's', 'epochSeconds')).toEqual(at);
    expect(archiveTime(doc, 'ms', 'epochMillis')).toEqual(at);
    expect(archiveTime(doc, 'ns', 'epochNanos')).toEqual(at); // floored, exact
    expect(archiveTime(doc, '_id', 'objectId')).toEqual(at);
    expect(archiveTime(doc, 'str', 'date')).toBeUndefined();
    expect(inRange(at, new Date(at.getTime()), new Date(at.getTime() + 1))).toBe(true);
    expect(inRange(at, undefined, at)).toBe(false);
    expect(inRange(undefined, at)).toBe(false);
  });

  test('--id forms', () => {
    expect(idKey(parseIdFilter('{"$oid":"65a1b2c3d4e5f60718293a4b"}'))).toBe(
      idKey(new BSON.ObjectId('65a1b2c3d4e5f60718293a4b')),
    );
    expect(idKey(parseIdFilter('42'))).toBe(idKey(new BSON.Int32(42)));
    expect(parseIdFilter('plain-text')).toBe('plain-text');
  });

  test('--from/--to and --bucket parsing', () => {
    const now = new Date('2024-06-01T00:00:00Z');
    expect(parseTime('2024-01-31', '--from')).toEqual(new Date('2024-01-31T00:00:00Z'));
    expect(parseTime('2024-01-31T12:00:00', '--from')).toEqual(new Date('2024-01-31T12:00:00Z'));
    expect(parseTime('2024-01-31T12:00:00+02:00', '--from')).toEqual(new Date('2024-01-31T10:00:00Z'));
    expect(parseTime('2d', '--from', now)).toEqual(new Date('2024-05-30T00:00:00Z'));
    expect(() => parseTime('yesterday', '--from')).toThrow(/--from "yesterday" is not a time/);
    expect(sourceFromFlags({ bucket: 'levit-archive/incubator/log/' }, {})).toMatchObject({
      destination: { kind: 's3', bucket: 'levit-archive', prefix: 'incubator/log/' },
      prefix: 'incubator/log/',
    });
    expect(
      sourceFromFlags(
        { bucket: 's3://b-1/x', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', 'path-style': true },
        {},
      ).destination,
    ).toEqual({
      kind: 's3',
      bucket: 'b-1',
      prefix: 'x/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    expect(sourceFromFlags({ bucket: 'file:///srv/archive' }, {}).destination).toEqual({
      kind: 'file',
      root: '/srv/archive',
      prefix: '',
    });
    expect(() => sourceFromFlags({}, {})).toThrow(UsageError);
    expect(() => sourceFromFlags({ bucket: 'b-1', from: '2024-02-01', to: '2024-01-01' }, {})).toThrow(
      /range is empty/,
    );
    expect(() => sourceFromFlags({ bucket: 'b-1', endpoint: 'ftp://x' }, {})).toThrow(/not an http/);
  });

  test('the rate limiter holds the average rate', async () => {
    const lim = new RateLimiter(200);
    const started = Date.now();
    for (let i = 0; i < 5; i++) await lim.take(20); // 100 units at 200/s: the last waits ~400 ms
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
  });

  test('dedupKey: numbers compare by value, as in the _id index; other types by canonical EJSON', () => {
    const { Int32, Long, Double, ObjectId } = BSON;
    expect(dedupKey(new Int32(1))).toBe(dedupKey(Long.fromNumber(1)));
    expect(dedupKey(new Double(1))).toBe(dedupKey(new Int32(1)));
    expect(dedupKey(1)).toBe(dedupKey(new Int32(1)));
    expect(dedupKey(Long.fromString('9007199254740993'))).not.toBe(dedupKey(new Double(9007199254740992)));
    expect(dedupKey('1')).not.toBe(dedupKey(new Int32(1)));
    const oid = '65a1b2c3d4e5f60718293a4b';
    expect(dedupKey(new ObjectId(oid))).toBe(dedupKey(new ObjectId(oid)));
    expect(dedupKey(new ObjectId(oid))).not.toBe(dedupKey(oid));
    expect(dedupKey({ a: 1 })).not.toBe(dedupKey({ a: 2 }));
  });

  test('SeenIds: repeats per target, bounded by its limit', () => {
    const seen = new SeenIds(3);
    expect(seen.seenBefore('db.a', 's-1')).toBe(false);
    expect(seen.seenBefore('db.a', 's-1')).toBe(true);
    expect(seen.seenBefore('db.b', 's-1')).toBe(false); // another collection: not a repeat
    expect(seen.seenBefore('db.a', new BSON.Int32(7))).toBe(false);
    expect(seen.seenBefore('db.a', BSON.Long.fromNumber(7))).toBe(true);
    expect(seen.capped).toBe(false);
    expect(seen.seenBefore('db.a', 's-2')).toBe(false); // over the limit: not recorded
    expect(seen.capped).toBe(true);
    expect(seen.seenBefore('db.a', 's-2')).toBe(false);
    expect(seen.seenBefore('db.a', 's-1')).toBe(true); // what was recorded is still known
  });
});

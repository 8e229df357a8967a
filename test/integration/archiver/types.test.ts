// Every BSON type FerretDB can store goes MongoDB → gochive → S3 byte-identical. (Types FerretDB
// cannot store — Decimal128, MinKey/MaxKey, NaN/±Infinity, -0.0, nested arrays, JavaScript code,
// symbols, DBRef/`$` keys, dotted keys — are proven through the spool, bundle writer and reader in
// operator/archiver/spool.test.ts.)
import { BSON, type Document } from 'mongodb';
import {
  DAY,
  idKey,
  insertAll,
  policy,
  readBundles,
  runOnce,
  sandbox,
  snapshotRaw,
  type Sandbox,
} from './helpers.js';

describe('archiver: BSON types through the server', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox('arch_types');
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  test('documents with every storable type are archived byte-identical', async () => {
    const createdAt = new Date(Date.now() - 120 * DAY);
    const values: Record<string, unknown> = {
      double: 3.141592653589793,
      doubleTiny: 5e-324,
      int32: new BSON.Int32(-2147483648),
      int64: BSON.Long.fromString('-9223372036854775808'),
      int64Max: BSON.Long.fromString('9223372036854775807'),
      string: 'héllo wörld — 한국어 😀',
      emptyString: '',
      object: { a: { b: { c: [1, 'two', { three: 3 }] } } },
      emptyObject: {},
      array: [1, 'x', { y: 2 }, null, true],
      emptyArray: [],
      binGeneric: new BSON.Binary(Buffer.from([0, 1, 2, 255]), 0),
      binFunction: new BSON.Binary(Buffer.from('fn'), 1),
      binUuid: new BSON.Binary(Buffer.alloc(16, 0xab), 4),
      binMd5: new BSON.Binary(Buffer.alloc(16, 0xcd), 5),
      binUser: new BSON.Binary(Buffer.from('custom'), 128),
      objectId: new BSON.ObjectId('65a1b2c3d4e5f60718293a4b'),
      boolTrue: true,
      boolFalse: false,
      date: new Date('1969-07-20T20:17:40.123Z'),
      dateEpoch: new Date(0),
      null: null,
      regex: new BSON.BSONRegExp('^a.*b$', 'imsx'),
      timestamp: new BSON.Timestamp({ t: 1700000000, i: 42 }),
      bigString: 'z'.repeat(200_000),
    };
    const docs: Document[] = Object.entries(values).map(([name, v], i) => ({
      _id: `t-${i}-${name}`,
      createdAt,
      name,
      v,
    }));
    // One document holding all of them at once, in insertion order.
    docs.push({ _id: 'all', createdAt, ...values });
    await insertAll(sb.db, 'types', docs);
    await sb.db.collection('types').createIndex({ createdAt: 1 });
    const before = await snapshotRaw(sb.db, 'types');
    // What FerretDB returns is what was sent (otherwise the test would prove nothing about gochive).
    for (const d of docs) {
      expect(before.get(idKey(d))).toEqual(Buffer.from(BSON.serialize(d)));
    }

    const { worker, errors } = await runOnce(
      policy(sb, { collection: 'types', queryLimit: 7 }, 'types'),
      sb.spoolRoot,
    );
    expect(errors).toEqual([]);
    expect(worker.snapshot().totals.documentsDeleted).toBe(docs.length);
    const archived = new Map<string, Buffer>();
    for (const b of await readBundles(sb.s3, sb.bucket, 'archive/'))
      for (const d of b.docs) archived.set(idKey(d), d);
    expect(archived.size).toBe(docs.length);
    for (const [id, raw] of before) expect(archived.get(id)).toEqual(raw);
  });
});

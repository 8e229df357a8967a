// Documents covering every BSON type (SPEC §4), as raw bytes, shared by unit and integration tests.
import { BSON } from 'mongodb';

const {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
} = BSON;

/** Builds a raw document from raw elements (type byte, name, value bytes) — for types bson won't emit. */
export function rawDocument(elements: { type: number; name: string; value: Buffer }[]): Buffer {
  const body = Buffer.concat(
    elements.flatMap((e) => [Buffer.from([e.type]), Buffer.from(`${e.name}\0`), e.value]),
  );
  const head = Buffer.alloc(4);
  head.writeInt32LE(4 + body.length + 1);
  return Buffer.concat([head, body, Buffer.from([0])]);
}

function int64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

function bsonString(s: string): Buffer {
  const b = Buffer.from(`${s}\0`);
  const len = Buffer.alloc(4);
  len.writeInt32LE(b.length);
  return Buffer.concat([len, b]);
}

/** Every BSON type, including ones FerretDB cannot store (prove those through writer/reader only). */
export function everyTypeDocuments(): Buffer[] {
  const serialize = (d: BSON.Document): Buffer =>
    Buffer.from(BSON.serialize(d, { checkKeys: false, ignoreUndefined: false }));
  const docs: Buffer[] = [];
  docs.push(
    serialize({
      _id: new ObjectId('65a1b2c3d4e5f60718293a4b'),
      createdAt: new Date('2024-01-02T03:04:05.678Z'),
      dec: Decimal128.fromString('1234567890.123456789012345678901234'),
      decNeg: Decimal128.fromString('-0E-6176'),
      decNaN: Decimal128.fromString('NaN'),
      long: Long.fromString('-9223372036854775808'),
      longMax: Long.fromString('9223372036854775807'),
      int: new Int32(-2147483648),
      dbl: new Double(3.141592653589793),
      negZero: new Double(-0),
      nan: new Double(NaN),
      inf: new Double(Infinity),
      ninf: new Double(-Infinity),
      bin0: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      bin4: new UUID('0f8fad5b-d9cb-469f-a165-70867728950e').toBinary(),
      bin5: new Binary(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), 5),
      bin80: new Binary(Buffer.from('user defined'), 0x80),
      nested: [[1, [2, [3, { deep: [new Int32(4), 'x'] }]]], []],
      ts: new Timestamp({ t: 1700000000, i: 7 }),
      min: new MinKey(),
      max: new MaxKey(),
      ref: new DBRef('other', new ObjectId('65a1b2c3d4e5f60718293a4c'), 'otherdb', { extra: 1 }),
      re: new BSONRegExp('^a.*b$', 'imsux'),
      code: new Code('function () { return 1; }'),
      codeScope: new Code('function () { return x; }', { x: new Int32(1) }),
      nul: null,
      sym: new BSONSymbol('sym'),
      bool: true,
      str: 'héllo wörld \u{1F600}',
      'dotted.key': 1,
      $dollar: 'leading',
      emptyDoc: {},
    }),
  );
  // The deprecated types bson will not write: undefined (0x06) and DBPointer (0x0C).
  docs.push(
    rawDocument([
      { type: 0x07, name: '_id', value: Buffer.from('65a1b2c3d4e5f60718293a4d', 'hex') },
      { type: 0x09, name: 'createdAt', value: int64(Date.parse('2024-01-02T12:00:00Z')) },
      { type: 0x06, name: 'undef', value: Buffer.alloc(0) },
      {
        type: 0x0c,
        name: 'dbptr',
        value: Buffer.concat([bsonString('coll'), Buffer.from('65a1b2c3d4e5f60718293a4e', 'hex')]),
      },
    ]),
  );
  // Mixed _id types.
  for (const id of [
    'string-id',
    new Int32(42),
    Long.fromNumber(43),
    new UUID().toBinary(),
    { a: 1, b: 'two' },
  ]) {
    docs.push(serialize({ _id: id, createdAt: new Date('2024-01-03T00:00:00Z'), v: 1 }));
  }
  return docs;
}

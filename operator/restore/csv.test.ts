import { BSON } from 'mongodb';
import { UsageError } from './args.js';
import { cellText, csvField, csvLine, csvRow, parseFields } from './csv.js';
import { decodeExact } from './documents.js';

describe('cat -o csv', () => {
  const doc = decodeExact(
    BSON.serialize({
      _id: new BSON.ObjectId('65a1b2c3d4e5f60718293a4b'),
      at: new Date('2024-01-02T03:04:05.006Z'),
      big: BSON.Long.fromString('9007199254740993'),
      i: new BSON.Int32(7),
      d: new BSON.Double(1.5),
      whole: new BSON.Double(1e21),
      dec: BSON.Decimal128.fromString('12.30'),
      ok: true,
      note: 'says "hi", then\nleaves',
      cust: { name: 'Ada', address: { city: 'Zürich' } },
      items: [{ sku: 'a', q: new BSON.Int32(2) }],
      nothing: null,
    }),
  );

  test('a header row, then one row per document; dotted paths, array indexes, missing and null empty', () => {
    const fields = parseFields('_id, cust.address.city,items.0.sku,items.sku,nothing,absent');
    expect(csvLine(fields)).toBe('_id,cust.address.city,items.0.sku,items.sku,nothing,absent\r\n');
    expect(csvRow(doc, fields)).toBe('65a1b2c3d4e5f60718293a4b,Zürich,a,,,\r\n');
  });

  test('values render as documented: ISO dates, hex ObjectIds, plain numbers, relaxed EJSON for the rest', () => {
    const cells = parseFields('at,big,i,d,whole,dec,ok,cust,items').map((f) =>
      cellText(f.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], doc)),
    );
    expect(cells).toEqual([
      '2024-01-02T03:04:05.006Z',
      '9007199254740993', // exact: a JS number would print ...992
      '7',
      '1.5',
      '1000000000000000000000',
      '12.30',
      'true',
      '{"name":"Ada","address":{"city":"Zürich"}}',
      '[{"sku":"a","q":2}]',
    ]);
    expect(cellText(new BSON.Double(1e20))).toBe('100000000000000000000');
    expect(cellText(new BSON.Double(-1.25e-7))).toBe('-0.000000125');
    expect(cellText(new BSON.Double(NaN))).toBe('NaN');
    expect(cellText(BSON.Decimal128.fromString('1.5E+3'))).toBe('1500');
    expect(cellText(BSON.Decimal128.fromString('-12E-5'))).toBe('-0.00012');
    expect(cellText(BSON.Decimal128.fromString('Infinity'))).toBe('Infinity');
    expect(cellText(new BSON.Binary(Buffer.from('hi')))).toBe('{"$binary":{"base64":"aGk=","subType":"00"}}');
  });

  test('RFC 4180 quoting: commas, quotes, CR and LF only', () => {
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "x"')).toBe('"say ""x"""');
    expect(csvField('two\r\nlines')).toBe('"two\r\nlines"');
    expect(csvRow(doc, ['note', 'cust'])).toBe(
      '"says ""hi"", then\nleaves","{""name"":""Ada"",""address"":{""city"":""Zürich""}}"\r\n',
    );
  });

  test('--fields needs names', () => {
    expect(() => parseFields('a,,b')).toThrow(UsageError);
    expect(() => parseFields('a.')).toThrow(UsageError);
  });
});

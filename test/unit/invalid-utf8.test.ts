// Invalid UTF-8 inside BSON strings. Real MongoDB stores such bytes as they come (drivers in other
// languages, or old data, can write them); FerretDB replaces them with U+FFFD on insert, so the server
// tests cannot put them in front of the engine (test/integration/badinput/documents.test.ts shows that).
// These tests feed the raw bytes to the engine's own pieces instead:
//  - a document whose other fields or key names hold invalid UTF-8 is read, bundled and read back
//    byte-exact (the engine never decodes what it only carries);
//  - a document whose `_id` is such a string must not halt the policy, and must never be deleted or paged
//    past through a lossy substitute (U+FFFD) that could match a *different* document.
import { mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { getRawValue, T } from '../../operator/archiver/raw-bson.js';
import { ageMillis, type EligibilityTarget } from '../../operator/archiver/eligibility.js';
import { chunkFilter } from '../../operator/archiver/delete.js';
import { encodeRaw, tieQuery } from '../../operator/archiver/fetch.js';
import { PayloadHasher, writeBundleFile } from '../../operator/bundle/writer.js';
import { openBundle } from '../../operator/bundle/reader.js';

const INVALID = Buffer.from([0xff, 0xfe, 0xc3, 0x28]); // not UTF-8: stray bytes and a broken 2-byte sequence

/** Serializes `doc`, then overwrites every occurrence of the 4-byte marker "@@@@" with INVALID. */
function withInvalidUtf8(doc: BSON.Document): Buffer {
  const b = Buffer.from(BSON.serialize(doc));
  let i = b.indexOf('@@@@');
  if (i < 0) throw new Error('no marker');
  while (i >= 0) {
    INVALID.copy(b, i);
    i = b.indexOf('@@@@', i + 4);
  }
  return b;
}

const createdAt = new Date('2020-01-02T03:04:05.000Z');
const target: EligibilityTarget = {
  database: 'db',
  collection: 'events',
  archiveField: 'createdAt',
  archiveFieldFormat: 'date',
};

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'gochive-utf8-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('invalid UTF-8 the engine only carries', () => {
  const doc = withInvalidUtf8({
    _id: new BSON.ObjectId(),
    note: 'x@@@@y',
    '@@@@key': 1,
    nested: { s: '@@@@' },
    createdAt,
  });

  test('the BSON library itself refuses to decode it (so nothing may decode it on the way)', () => {
    expect(() => BSON.deserialize(doc)).toThrow(/UTF-8/);
  });

  test('the archive field is found and aged without decoding the rest', () => {
    const v = getRawValue(doc, 'createdAt');
    expect(v?.type).toBe(T.date);
    expect(ageMillis('date', v)).toBe(createdAt.getTime());
  });

  test('bundle writer and reader carry it byte-exact', async () => {
    const spool = path.join(dir, 'docs.bson');
    writeFileSync(spool, doc);
    const h = new PayloadHasher();
    h.addDocument(doc);
    const file = path.join(dir, 'b.tar.gz');
    await writeBundleFile(
      {
        manifest: {
          bundleId: 'utf8',
          policy: { name: 'p', namespace: 'ns' },
          database: 'db',
          collection: 'events',
          archiveField: 'createdAt',
          archiveFieldFormat: 'date',
          cutoff: '2024-01-01T00:00:00.000Z',
          archiveFieldRange: { min: createdAt.toISOString(), max: createdAt.toISOString() },
        },
        payload: { segments: [spool], ...h.summary() },
        compression: { codec: 'gzip', level: 6 },
      },
      file,
    );
    const b = await openBundle(createReadStream(file), { key: 'k' });
    const back: Buffer[] = [];
    for await (const d of b.documents()) back.push(Buffer.from(d));
    expect(back).toHaveLength(1);
    expect(back[0]!.equals(doc)).toBe(true);
  });
});

// Known gap (fails until fixed): the delete filter and the keyset paging decode `_id` with the BSON
// library, which throws on invalid UTF-8 — the delete (or the next fetch) then fails on every retry and
// the policy stops archiving for good; the bundle holding the document is uploaded but never deleted.
// Decoding with UTF-8 validation off would be worse: U+FFFD stands in for the bad bytes and the filter
// could match, and delete, another document whose `_id` is that substitute. Acceptable fixes: match the
// exact bytes, or leave such a document out (counted, in MongoDB) — never a substitute.
describe('a string _id that is not valid UTF-8', () => {
  const raw = withInvalidUtf8({ _id: 'id-@@@@', createdAt });
  const id = getRawValue(raw, '_id')!;
  const substitute = Buffer.from(BSON.serialize({ v: 'id-\ufffd\ufffd\ufffd(' })).subarray(4, -1);
  const substituteString = Buffer.from('id-\ufffd', 'utf8');

  test('delete: chunkFilter neither throws nor targets a lossy substitute', () => {
    const records = [{ id, cutoffMs: Date.parse('2024-01-01'), ageMs: createdAt.getTime(), end: 1 }];
    let filter: BSON.Document | undefined;
    expect(() => (filter = chunkFilter(target, undefined, records))).not.toThrow();
    const bytes = Buffer.from(BSON.serialize(filter!));
    expect(bytes.includes(substitute)).toBe(false);
    expect(bytes.includes(substituteString)).toBe(false);
  });

  test('fetch: the keyset paging query after it neither throws nor uses a lossy substitute', () => {
    let q: BSON.Document | undefined;
    const age = encodeRaw(getRawValue(raw, 'createdAt')!);
    expect(() => (q = tieQuery(target, { age, lastId: encodeRaw(id) }))).not.toThrow();
    const bytes = Buffer.from(BSON.serialize(q!));
    expect(bytes.includes(substituteString)).toBe(false);
  });
});

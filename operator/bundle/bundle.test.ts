import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import { openBundle, readBundleHead, BundleCorruptError, UnknownEntryError } from './reader.js';
import { PayloadHasher, summarizeSpoolFiles, writeBundleFile, type BundleInput } from './writer.js';
import { writeLegacyBundleFile } from './legacy-fixture.js';
import { everyTypeDocuments } from './test-docs.js';
import { parseManifest } from './manifest.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'gochive-bundle-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function input(
  segments: string[],
  summary: { bytes: number; sha256Hex: string; documents: number },
  codec: 'gzip' | 'none' = 'gzip',
): BundleInput {
  return {
    manifest: {
      bundleId: 'abc123',
      policy: { name: 'p', namespace: 'ns' },
      database: 'db1',
      collection: 'events',
      archiveField: 'createdAt',
      archiveFieldFormat: 'date',
      cutoff: '2024-02-01T00:00:00.000Z',
      archiveFieldRange: { min: '2024-01-02T03:04:05.678Z', max: '2024-01-03T00:00:00.000Z' },
    },
    payload: { segments, ...summary },
    indexes: [
      { v: 2, key: { _id: 1 }, name: '_id_' },
      { v: 2, key: { createdAt: 1 }, name: 'createdAt_1' },
    ],
    compression: { codec, level: 6 },
  };
}

async function readAll(file: string, opts = {}): Promise<{ docs: Buffer[]; format: string }> {
  const b = await openBundle(createReadStream(file), { key: 'k', ...opts });
  const docs: Buffer[] = [];
  for await (const d of b.documents()) docs.push(Buffer.from(d));
  return { docs, format: b.format };
}

async function spool(
  docs: Buffer[],
  segments = 2,
): Promise<{ files: string[]; summary: { bytes: number; sha256Hex: string; documents: number } }> {
  const hasher = new PayloadHasher();
  const files: string[] = [];
  const per = Math.ceil(docs.length / segments);
  for (let s = 0; s < segments; s++) {
    const part = docs.slice(s * per, (s + 1) * per);
    part.forEach((d) => hasher.addDocument(d));
    const f = path.join(dir, `seg${s}.bson`);
    writeFileSync(f, Buffer.concat(part));
    files.push(f);
  }
  return { files, summary: hasher.summary() };
}

describe('bundle writer and reader', () => {
  test.each(['gzip', 'none'] as const)('every BSON type round-trips byte-exact (%s)', async (codec) => {
    const docs = everyTypeDocuments();
    const { files, summary } = await spool(docs);
    expect(await summarizeSpoolFiles(files)).toEqual(summary);
    const out = path.join(dir, 'b.tar' + (codec === 'gzip' ? '.gz' : ''));
    const res = await writeBundleFile(input(files, summary, codec), out);
    const bytes = readFileSync(out);
    expect(res.bytes).toBe(bytes.length);
    expect(res.manifest.documentCount).toBe(docs.length);
    const { docs: back, format } = await readAll(out, { validateDocuments: true });
    expect(format).toBe('gochive');
    expect(back.length).toBe(docs.length);
    back.forEach((d, i) => expect(d.equals(docs[i]!)).toBe(true));
    // -0.0 and NaN survive as the same bits.
    const first = BSON.deserialize(back[0]!, { promoteValues: false });
    expect(Object.is((first.negZero as BSON.Double).value, -0)).toBe(true);
    const head = await readBundleHead(createReadStream(out));
    expect(head.manifest?.files[0]).toMatchObject({
      path: 'db1/events.bson',
      documents: docs.length,
      sha256: summary.sha256Hex,
    });
  });

  test('the gzip stream is the one-shot gzip of its tar, whatever the read and buffer sizes', async () => {
    // ~10 MB over many 1 MiB reads: the chunking that keeps the thread pool busy changes no byte.
    const docs = Array.from({ length: 10_000 }, (_, i) =>
      Buffer.from(BSON.serialize({ _id: i, text: `event ${i} `.repeat(90) })),
    );
    const { files, summary } = await spool(docs, 3);
    const out = path.join(dir, 'b.tar.gz');
    await writeBundleFile(input(files, summary, 'gzip'), out);
    const gz = readFileSync(out);
    expect(gz.length).toBeLessThan(summary.bytes / 4);
    expect(gzipSync(gunzipSync(gz), { level: 6 }).equals(gz)).toBe(true);
  });

  test('manifest comes first and metadata.json is in mongodump shape', async () => {
    const docs = everyTypeDocuments();
    const { files, summary } = await spool(docs, 1);
    const out = path.join(dir, 'b.tar');
    await writeBundleFile(input(files, summary, 'none'), out);
    const tarBytes = readFileSync(out);
    expect(tarBytes.subarray(0, 13).toString()).toBe('manifest.json');
    const text = tarBytes.toString('latin1');
    expect(text).toContain('"collectionName":"events"');
    expect(text).toContain('{"indexes":[{"v":{"$numberInt":"2"}');
    const m = parseManifest(
      tarBytes.subarray(512, 512 + Number.parseInt(tarBytes.subarray(124, 135).toString(), 8)).toString(),
    );
    expect(m.formatVersion).toBe(1);
  });

  test('a wrong declared hash, count or size is refused and leaves no bundle file', async () => {
    const docs = everyTypeDocuments();
    const { files, summary } = await spool(docs);
    const out = path.join(dir, 'b.tar.gz');
    await expect(
      writeBundleFile(input(files, { ...summary, sha256Hex: '0'.repeat(64) }), out),
    ).rejects.toThrow(/hash to/);
    await expect(writeBundleFile(input(files, { ...summary, documents: 1 }), out)).rejects.toThrow(
      /documents/,
    );
    await expect(
      writeBundleFile(input(files, { ...summary, bytes: summary.bytes - 1 }), out),
    ).rejects.toThrow(/bytes/);
    await expect(
      writeBundleFile(input(files, { ...summary, bytes: summary.bytes + 1 }), out),
    ).rejects.toThrow(/bytes/);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
  });

  test('original-format bundles: each element of docs, byte-exact', async () => {
    const docs = everyTypeDocuments();
    const out = path.join(dir, 'archive_20240101_000000.tar.gz');
    await writeLegacyBundleFile(
      [
        { unix: 1700000000, docs: docs.slice(0, 3) },
        { unix: 1700000065, docs: docs.slice(3) },
      ],
      out,
    );
    const { docs: back, format } = await readAll(out, { validateDocuments: true });
    expect(format).toBe('legacy');
    expect(back.length).toBe(docs.length);
    back.forEach((d, i) => expect(d.equals(docs[i]!)).toBe(true));
  });

  test.each([
    ['a stray file', { name: '../../x', body: Buffer.from('payload') }, "'../../x'"],
    [
      'an archive_<unix>.bson outside the bundle',
      { name: '../archive_1700000100.bson', body: Buffer.from('x') },
      "'../archive_1700000100.bson'",
    ],
    [
      'a symlink',
      { name: 'archive_1700000200.bson', type: 'symlink' as const, linkname: '/etc/passwd' },
      "'archive_1700000200.bson (symlink)'",
    ],
  ])(
    'original-format bundles: %s is refused unless allowUnknownEntries, then skipped and reported',
    async (_, extra, shown) => {
      const docs = everyTypeDocuments();
      const out = path.join(dir, 'archive_20240101_000001.tar.gz');
      await writeLegacyBundleFile([{ unix: 1700000000, docs }], out, { extraEntries: [extra] });
      const err = await readAll(out).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnknownEntryError);
      expect(err).toBeInstanceOf(BundleCorruptError);
      expect((err as Error).message).toContain(`unknown entry ${shown}`);
      const seen: string[] = [];
      const { docs: back } = await readAll(out, {
        allowUnknownEntries: true,
        onUnknownEntry: (n: string) => seen.push(n),
      });
      expect(back.length).toBe(docs.length);
      expect(seen).toEqual([shown.slice(1, -1)]);
    },
  );

  test('a flipped byte and a truncated object are detected', async () => {
    const docs = Array.from({ length: 3000 }, (_, i) =>
      Buffer.from(BSON.serialize({ _id: i, pad: 'x'.repeat(100 + (i % 50)) })),
    );
    const { files, summary } = await spool(docs);
    for (const codec of ['gzip', 'none'] as const) {
      const out = path.join(dir, `c.${codec}`);
      await writeBundleFile(input(files, summary, codec), out);
      const good = readFileSync(out);
      const flipped = Buffer.from(good);
      const at = Math.floor(good.length * 0.6);
      flipped[at] = flipped[at]! ^ 0x01;
      const truncated = good.subarray(0, Math.floor(good.length * 0.7));
      for (const bad of [flipped, truncated]) {
        const err = await (async () => {
          try {
            const b = await openBundle(Readable.from([bad]), { key: 'bad-key' });
            for await (const _ of b.documents()) void _;
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(err).toBeInstanceOf(BundleCorruptError);
        expect((err as Error).message).toContain('bad-key');
      }
    }
  });

  test('source errors are reported as themselves, not as corruption', async () => {
    const src = new Readable({ read() {} });
    src.push(Buffer.from([0x1f, 0x8b, 8, 0]));
    setTimeout(() => src.destroy(new Error('socket hang up')), 10);
    await expect(
      (async () => {
        const b = await openBundle(src);
        for await (const _ of b.documents()) void _;
      })(),
    ).rejects.toThrow('socket hang up');
  });
});

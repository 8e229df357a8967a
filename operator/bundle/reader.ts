// Reads a bundle as a stream: manifest first, then the raw BSON documents one by one (never a whole file
// in memory), verifying each payload file's SHA-256, size and document count as the bytes go by.
// Also reads the original tool's bundles: tar(.gz) of `archive_<unix>.bson` entries, each one BSON
// document `{docs: [...]}`; their documents are sliced out of the raw bytes, so they are byte-exact.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { BSON } from 'mongodb';
import { extract as tarExtract } from 'tar-stream';
import { BsonFramingError, ChunkReader, readDocument } from './bson-stream.js';
import { valueLayout } from './bson-types.js';
import { MANIFEST_ENTRY, ManifestError, bsonPath, parseManifest, type BundleManifest } from './manifest.js';

export class BundleCorruptError extends Error {
  constructor(
    /** What failed, e.g. `sha256 of mydb/c.bson is … but the manifest says …`. */
    public readonly detail: string,
    public readonly key?: string,
  ) {
    super(key ? `bundle ${key} is corrupt: ${detail}` : `bundle is corrupt: ${detail}`);
    this.name = 'BundleCorruptError';
  }
}

/** An entry an original-format bundle should not hold (the original wrote only archive_<unix>.bson files). */
export class UnknownEntryError extends BundleCorruptError {
  constructor(
    public readonly entry: string,
    key?: string,
  ) {
    super(`unknown entry '${entry}': original-format bundles hold only archive_<unix>.bson files`, key);
    this.name = 'UnknownEntryError';
  }
}

export type BundleFormat = 'gochive' | 'legacy';

export interface ReadOptions {
  /** Object key, for error messages. */
  key?: string;
  /** Fully parse every document (verify's "BSON is well formed"); framing is always checked. */
  validateDocuments?: boolean;
  /**
   * Original-format bundles: skip entries other than archive_<unix>.bson files (reporting each to
   * onUnknownEntry) instead of failing with UnknownEntryError.
   */
  allowUnknownEntries?: boolean;
  onUnknownEntry?: (name: string) => void;
}

export interface FileCheck {
  path: string;
  bytes: number;
  sha256: string;
  documents?: number;
}

export interface ReadSummary {
  documents: number;
  files: FileCheck[];
}

export interface OpenedBundle {
  format: BundleFormat;
  /** Present for gochive bundles. */
  manifest?: BundleManifest;
  /** The documents as raw BSON; single use. Throws BundleCorruptError when a check fails. */
  documents(): AsyncGenerator<Buffer, ReadSummary>;
  /** Abandons the read (destroys the source). */
  close(): void;
}

const LEGACY_ENTRY = /(^|\/)archive_\d+\.bson$/;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

type TarEntry = AsyncIterable<Buffer> & {
  header: { name: string; size: number; type: string | null };
  resume(): void;
};

/** A regular file named archive_<unix>.bson, optionally in a directory; no `..` segment, not absolute. */
function isLegacyEntry(h: TarEntry['header']): boolean {
  return (
    (h.type === 'file' || h.type === 'contiguous-file') &&
    LEGACY_ENTRY.test(h.name) &&
    !h.name.startsWith('/') &&
    !h.name.split('/').includes('..')
  );
}

/** Opens a bundle from the bytes of the object. Reads only up to the end of the first tar entry. */
export async function openBundle(source: Readable, opts: ReadOptions = {}): Promise<OpenedBundle> {
  const key = opts.key;
  let sourceError: Error | undefined;
  source.once('error', (err) => {
    sourceError = err;
  });
  // A network failure is not corruption: report the source's own error when there is one.
  const classify = (err: unknown): Error => {
    if (sourceError) return sourceError;
    if (err instanceof BundleCorruptError) return err;
    if (err instanceof BsonFramingError || err instanceof ManifestError)
      return new BundleCorruptError(err.message, key);
    const msg = err instanceof Error ? err.message : String(err);
    return new BundleCorruptError(`unreadable gzip/tar data (${msg}) — truncated or damaged object`, key);
  };

  const stages: unknown[] = [];
  const head = await sniff(source);
  const input = Readable.from(head.stream, { objectMode: false });
  stages.push(input);
  if (head.gzip) stages.push(createGunzip());
  const ex = tarExtract();
  stages.push(ex);
  const piping = (pipeline as (...s: unknown[]) => Promise<void>)(...stages);
  piping.catch(() => undefined);
  const entries = (ex as unknown as AsyncIterable<TarEntry>)[Symbol.asyncIterator]();
  const close = (): void => {
    source.destroy();
    input.destroy();
    ex.destroy();
  };

  const nextEntry = async (): Promise<TarEntry | undefined> => {
    try {
      for (;;) {
        const r = await entries.next();
        if (r.done) {
          // The extractor may end cleanly while the pipeline failed (e.g. gzip CRC error at the end).
          await piping;
          return undefined;
        }
        if (r.value.header.type === 'directory') {
          await drain(r.value);
          continue;
        }
        return r.value;
      }
    } catch (err) {
      throw classify(err);
    }
  };

  let first: TarEntry | undefined;
  try {
    first = await nextEntry();
  } catch (err) {
    close();
    throw err;
  }
  if (!first) {
    close();
    throw new BundleCorruptError('the archive holds no entries', key);
  }

  if (first.header.name === MANIFEST_ENTRY) {
    let manifest: BundleManifest;
    try {
      if (first.header.size > MAX_MANIFEST_BYTES)
        throw new BundleCorruptError(`manifest.json is ${first.header.size} bytes`, key);
      manifest = parseManifest((await collect(first)).toString('utf8'));
    } catch (err) {
      close();
      throw classify(err);
    }
    return {
      format: 'gochive',
      manifest,
      documents: () => gochiveDocuments(manifest, nextEntry, classify, opts),
      close,
    };
  }
  if (isLegacyEntry(first.header)) {
    return { format: 'legacy', documents: () => legacyDocuments(first, nextEntry, classify, opts), close };
  }
  close();
  throw new BundleCorruptError(
    `first entry is '${first.header.name}': neither a gochive bundle (manifest.json first) nor an original-format bundle (archive_<unix>.bson)`,
    key,
  );
}

/** Reads only the manifest (or detects a legacy bundle) and closes the source. */
export async function readBundleHead(
  source: Readable,
  opts: ReadOptions = {},
): Promise<{ format: BundleFormat; manifest?: BundleManifest }> {
  const b = await openBundle(source, opts);
  b.close();
  return { format: b.format, manifest: b.manifest };
}

async function* gochiveDocuments(
  manifest: BundleManifest,
  nextEntry: () => Promise<TarEntry | undefined>,
  classify: (err: unknown) => Error,
  opts: ReadOptions,
): AsyncGenerator<Buffer, ReadSummary> {
  const key = opts.key;
  const expected = new Map(manifest.files.map((f) => [f.path, f]));
  const seen: FileCheck[] = [];
  const payload = bsonPath(manifest.database, manifest.collection);
  let documents = 0;
  try {
    for (;;) {
      const entry = await nextEntry();
      if (!entry) break;
      const name = entry.header.name;
      const want = expected.get(name);
      if (!want)
        throw new BundleCorruptError(`unexpected entry '${name}' (not listed in manifest.json)`, key);
      expected.delete(name);
      if (entry.header.size !== want.bytes) {
        throw new BundleCorruptError(
          `${name} is ${entry.header.size} bytes but the manifest says ${want.bytes}`,
          key,
        );
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const tapped = (async function* () {
        for await (const c of entry) {
          hash.update(c);
          bytes += c.length;
          yield c;
        }
      })();
      let count: number | undefined;
      if (name.endsWith('.bson')) {
        count = 0;
        const r = new ChunkReader(tapped[Symbol.asyncIterator]());
        for (;;) {
          const doc = await readDocument(r, name);
          if (!doc) break;
          if (opts.validateDocuments) validateDocument(doc, name, count, key);
          count++;
          if (name === payload) documents++;
          yield doc;
        }
        if (want.documents !== undefined && count !== want.documents) {
          throw new BundleCorruptError(
            `${name} holds ${count} documents but the manifest says ${want.documents}`,
            key,
          );
        }
      } else {
        for await (const _ of tapped) void _;
      }
      const sha = hash.digest('hex');
      if (bytes !== want.bytes)
        throw new BundleCorruptError(`${name} ends after ${bytes} of ${want.bytes} bytes`, key);
      if (sha !== want.sha256) {
        throw new BundleCorruptError(`sha256 of ${name} is ${sha} but the manifest says ${want.sha256}`, key);
      }
      seen.push({ path: name, bytes, sha256: sha, ...(count !== undefined ? { documents: count } : {}) });
    }
  } catch (err) {
    throw classify(err);
  }
  if (expected.size > 0) {
    throw new BundleCorruptError(`missing ${[...expected.keys()].join(', ')} (listed in manifest.json)`, key);
  }
  if (documents !== manifest.documentCount) {
    throw new BundleCorruptError(
      `${documents} documents read but the manifest says ${manifest.documentCount}`,
      key,
    );
  }
  return { documents, files: seen };
}

async function* legacyDocuments(
  first: TarEntry,
  nextEntry: () => Promise<TarEntry | undefined>,
  classify: (err: unknown) => Error,
  opts: ReadOptions,
): AsyncGenerator<Buffer, ReadSummary> {
  const key = opts.key;
  const files: FileCheck[] = [];
  let documents = 0;
  try {
    for (let entry: TarEntry | undefined = first; entry; entry = await nextEntry()) {
      const name = entry.header.name;
      if (!isLegacyEntry(entry.header)) {
        // The original bundled only archive_<unix>.bson files: anything else was not written by it.
        const shown =
          entry.header.type === 'file' ? name : `${name} (${entry.header.type ?? 'unknown type'})`;
        if (!opts.allowUnknownEntries) throw new UnknownEntryError(shown, key);
        opts.onUnknownEntry?.(shown);
        await drain(entry);
        continue;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const tapped = (async function* () {
        for await (const c of entry) {
          hash.update(c);
          bytes += c.length;
          yield c;
        }
      })();
      let count = 0;
      for await (const doc of legacyEntryDocuments(new ChunkReader(tapped[Symbol.asyncIterator]()), name)) {
        if (opts.validateDocuments) validateDocument(doc, name, count, key);
        count++;
        documents++;
        yield doc;
      }
      if (bytes !== entry.header.size)
        throw new BundleCorruptError(`${name} ends after ${bytes} of ${entry.header.size} bytes`, key);
      files.push({ path: name, bytes, sha256: hash.digest('hex'), documents: count });
    }
  } catch (err) {
    throw classify(err);
  }
  return { documents, files };
}

/** Walks one `{docs: [ {...}, ... ]}` document in raw bytes, yielding each element's bytes unchanged. */
async function* legacyEntryDocuments(r: ChunkReader, where: string): AsyncGenerator<Buffer> {
  const need = async (n: number): Promise<void> => {
    if (!(await r.ensure(n)))
      throw new BsonFramingError(`${where}: truncated (stream ends at byte ${r.consumed + r.available})`);
  };
  await need(4);
  const total = r.peekInt32LE();
  const start = r.consumed;
  r.skip(4);
  let sawDocs = false;
  for (;;) {
    await need(1);
    const type = r.take(1)[0]!;
    if (type === 0) break;
    const name = await r.readCString();
    if (name === 'docs' && type === 0x04) {
      sawDocs = true;
      await need(4);
      const arrayStart = r.consumed;
      const arrayLen = r.peekInt32LE();
      r.skip(4);
      for (;;) {
        await need(1);
        const t = r.take(1)[0]!;
        if (t === 0) break;
        const idx = await r.readCString();
        if (t !== 0x03)
          throw new BsonFramingError(
            `${where}: docs.${idx} has BSON type 0x${t.toString(16)}, not a document`,
          );
        const doc = await readDocument(r, `${where} docs.${idx}`);
        if (!doc) throw new BsonFramingError(`${where}: truncated inside docs.${idx}`);
        yield doc;
      }
      if (r.consumed - arrayStart !== arrayLen) {
        throw new BsonFramingError(
          `${where}: docs array declares ${arrayLen} bytes but holds ${r.consumed - arrayStart}`,
        );
      }
    } else {
      await skipValue(r, type, `${where} field '${name}'`, need);
    }
  }
  if (r.consumed - start !== total) {
    throw new BsonFramingError(`${where}: document declares ${total} bytes but holds ${r.consumed - start}`);
  }
  if (!sawDocs) throw new BsonFramingError(`${where}: no 'docs' array`);
  if (!(await r.atEnd())) throw new BsonFramingError(`${where}: stray bytes after the document`);
}

async function skipValue(
  r: ChunkReader,
  type: number,
  where: string,
  need: (n: number) => Promise<void>,
): Promise<void> {
  const layout = valueLayout(type);
  if (!layout) throw new BsonFramingError(`${where}: unknown BSON type 0x${type.toString(16)}`);
  if (layout === 'cstrings') {
    await r.readCString();
    await r.readCString();
    return;
  }
  let n: number;
  if ('fixed' in layout) n = layout.fixed;
  else {
    await need(4);
    n = layout.extra + r.peekInt32LE();
  }
  if (n < 0) throw new BsonFramingError(`${where}: negative length`);
  await need(n);
  r.skip(n);
}

function validateDocument(doc: Buffer, file: string, index: number, key?: string): void {
  try {
    BSON.deserialize(doc, {
      promoteValues: false,
      promoteBuffers: false,
      bsonRegExp: true,
      validation: { utf8: true },
    });
  } catch (err) {
    throw new BundleCorruptError(
      `${file} document #${index + 1} is malformed BSON: ${(err as Error).message}`,
      key,
    );
  }
}

async function sniff(source: Readable): Promise<{ gzip: boolean; stream: AsyncGenerator<Buffer> }> {
  const it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const pending: Buffer[] = [];
  let have = 0;
  while (have < 2) {
    const r = await it.next();
    if (r.done) break;
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    pending.push(c);
    have += c.length;
  }
  const headBuf = Buffer.concat(pending);
  const gzip = headBuf.length >= 2 && headBuf[0] === 0x1f && headBuf[1] === 0x8b;
  async function* stream(): AsyncGenerator<Buffer> {
    if (headBuf.length) yield headBuf;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
  }
  return { gzip, stream: stream() };
}

async function collect(entry: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of entry) parts.push(c);
  return Buffer.concat(parts);
}

async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of entry) void _;
}

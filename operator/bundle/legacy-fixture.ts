// Writes bundles in the ORIGINAL tool's layout, for tests: a tar.gz holding `archive_<unix>.bson`
// entries, each ONE BSON document `{docs: [ ... ]}`. Built from raw document bytes so tests can check
// that restore brings back exactly those bytes.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';

/** Encodes `{docs: [d0, d1, ...]}` around already-serialised documents, without re-encoding them. */
export function legacyDocsDocument(docs: Buffer[]): Buffer {
  const elements: Buffer[] = [];
  docs.forEach((d, i) => elements.push(Buffer.from([0x03]), Buffer.from(`${i}\0`), d));
  const arrayBody = Buffer.concat(elements);
  const arrayLen = 4 + arrayBody.length + 1;
  const arrayHead = Buffer.alloc(4);
  arrayHead.writeInt32LE(arrayLen);
  const name = Buffer.from('docs\0');
  const total = 4 + 1 + name.length + arrayLen + 1;
  const head = Buffer.alloc(4);
  head.writeInt32LE(total);
  return Buffer.concat([
    head,
    Buffer.from([0x04]),
    name,
    arrayHead,
    arrayBody,
    Buffer.from([0]),
    Buffer.from([0]),
  ]);
}

export interface LegacyBatch {
  /** Unix seconds used in the entry name `archive_<unix>.bson`. */
  unix: number;
  docs: Buffer[];
}

/** An entry the original never wrote (tests of forged bundles), added after the batches. */
export interface ExtraEntry {
  name: string;
  body?: Buffer;
  type?: 'file' | 'symlink';
  linkname?: string;
}

/** Streams a legacy bundle (tar.gz) of the given batches into `sink`. */
export async function writeLegacyBundle(
  batches: LegacyBatch[],
  sink: Writable,
  opts: { dir?: string; extraEntries?: ExtraEntry[] } = {},
): Promise<void> {
  const pack = tarPack();
  const piping = (pipeline as (...s: unknown[]) => Promise<void>)(pack, createGzip(), sink);
  for (const b of batches) {
    const body = legacyDocsDocument(b.docs);
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        {
          name: `${opts.dir ?? ''}archive_${b.unix}.bson`,
          size: body.length,
          mtime: new Date(b.unix * 1000),
        },
        body,
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
  for (const e of opts.extraEntries ?? []) {
    const body = e.type === 'symlink' ? Buffer.alloc(0) : (e.body ?? Buffer.alloc(0));
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        {
          name: e.name,
          type: e.type ?? 'file',
          size: body.length,
          ...(e.linkname ? { linkname: e.linkname } : {}),
        },
        body,
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
  pack.finalize();
  await piping;
}

export async function writeLegacyBundleFile(
  batches: LegacyBatch[],
  file: string,
  opts: { extraEntries?: ExtraEntry[] } = {},
): Promise<void> {
  await writeLegacyBundle(batches, createWriteStream(file), opts);
}

/** The original's object name for an upload at `at`: `archive_YYYYMMDD_HHMMSS.tar.gz` (UTC). */
export function legacyBundleName(at: Date): string {
  const iso = at.toISOString();
  return `archive_${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.tar.gz`;
}

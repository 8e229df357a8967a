// Streams one bundle and checks everything that can be checked: the object's SHA-256 against the one
// recorded at upload (metadata / sidecar), the manifest's per-file SHA-256s, sizes and document counts,
// and that every document is well-formed BSON. Optionally keeps a local copy (restore inserts from it,
// so nothing is inserted from a bundle before the whole bundle has been proven intact).
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BundleCorruptError, openBundle, type BundleFormat } from '../bundle/reader.js';
import type { BundleManifest } from '../bundle/manifest.js';
import type { Destination } from '../storage/destination.js';
import type { BundleRef } from './catalog.js';

export interface VerifiedBundle {
  key: string;
  format: BundleFormat;
  manifest?: BundleManifest;
  documents: number;
  bytes: number;
  /** Whether an upload-time SHA-256 existed and matched (false: none was recorded). */
  objectHashChecked: boolean;
  /** Entries skipped because of allowUnknownEntries (original format only). */
  unknownEntries: string[];
  /** What could not be proven, though nothing failed (e.g. no SHA-256 was recorded at upload). */
  warnings: string[];
}

/** Verify's wording for a bundle whose object has no SHA-256 recorded at upload. */
export function missingChecksumWarning(format: BundleFormat): string {
  return format === 'legacy'
    ? 'no SHA-256 was recorded at upload and the original format has no manifest: only the gzip CRC, the tar structure and the BSON were checked'
    : "no SHA-256 was recorded at upload (object metadata or sidecar), so it was not uploaded by gochive or was copied without its metadata; the manifest's per-file SHA-256s, sizes and counts all matched";
}

/** Hashes and counts bytes; optionally copies them to a file (with back-pressure). */
class Tee extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(
    private readonly copy?: WriteStream,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
  }
  override _transform(
    chunk: Buffer,
    _e: BufferEncoding,
    cb: (err?: Error | null, data?: Buffer) => void,
  ): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    if (this.copy && !this.copy.destroyed && !this.copy.write(chunk)) {
      this.copy.once('drain', () => cb(null, chunk));
      return;
    }
    cb(null, chunk);
  }
}

export interface VerifyOptions {
  /** Write the object's bytes here as they stream (restore's local copy). */
  copyTo?: string;
  onBytes?: (n: number) => void;
  /** Skip (and list) entries an original-format bundle should not hold, instead of failing. */
  allowUnknownEntries?: boolean;
}

/** Throws BundleCorruptError (naming the key and what failed) or a storage error. */
export async function verifyBundle(
  dest: Destination,
  ref: BundleRef,
  opts: VerifyOptions = {},
): Promise<VerifiedBundle> {
  const head = await dest.headObject(ref.key);
  if (!head) throw new BundleCorruptError('the object disappeared while running', ref.key);
  const copy = opts.copyTo ? createWriteStream(opts.copyTo, { flags: 'w' }) : undefined;
  const tee = new Tee(copy, opts.onBytes);
  // A failing local copy (disk full…) fails the read; after an abandoned read it is destroyed quietly.
  copy?.on('error', (err) => tee.destroy(err));
  let body: Readable | undefined;
  try {
    body = await dest.getObject(ref.key);
    body.once('error', (err) => tee.destroy(err));
    const unknownEntries: string[] = [];
    const bundle = await openBundle(body.pipe(tee), {
      key: ref.key,
      validateDocuments: true,
      ...(opts.allowUnknownEntries
        ? { allowUnknownEntries: true, onUnknownEntry: (n: string) => unknownEntries.push(n) }
        : {}),
    });
    let documents = 0;
    try {
      for await (const _ of bundle.documents()) documents++;
    } finally {
      bundle.close();
    }
    // The reader may stop at the end of the tar; drain any trailing bytes (gzip trailer, padding).
    if (!tee.readableEnded) {
      tee.resume();
      await finished(tee);
    }
    if (tee.bytes !== head.size) {
      throw new BundleCorruptError(`read ${tee.bytes} bytes but the object is ${head.size} bytes`, ref.key);
    }
    const sha = tee.hash.digest('base64');
    if (head.sha256Base64 && sha !== head.sha256Base64) {
      throw new BundleCorruptError(
        `object SHA-256 ${sha} differs from ${head.sha256Base64} recorded at upload`,
        ref.key,
      );
    }
    if (copy) {
      copy.end();
      await finished(copy);
    }
    return {
      key: ref.key,
      format: bundle.format,
      ...(bundle.manifest ? { manifest: bundle.manifest } : {}),
      documents,
      bytes: tee.bytes,
      objectHashChecked: Boolean(head.sha256Base64),
      unknownEntries,
      warnings: head.sha256Base64 ? [] : [missingChecksumWarning(bundle.format)],
    };
  } catch (err) {
    body?.destroy();
    copy?.destroy();
    throw err;
  }
}

// Upload stage: puts a sealed bundle file under its key — conditionally (never overwriting), streamed,
// with its SHA-256 sent for the store to check — and then verifies size and checksum with HeadObject
// before anything may be deleted (I1). An object already at the key (a PUT that succeeded just before a
// crash or a lost response) is verified instead of uploaded again, so recovery creates no duplicate.
import { createReadStream } from 'node:fs';
import { ObjectExistsError, type Destination } from '../storage/destination.js';

export interface SealedBundleFile {
  key: string;
  file: string;
  size: number;
  sha256Base64: string;
  metadata: Record<string, string>;
}

export class VerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerifyError';
  }
}

/** The object at the key is not ours (different size or checksum): it must never be overwritten. */
export class KeyConflictError extends Error {
  constructor(public readonly key: string) {
    super(`an object different from this bundle already exists at ${key}; it is left untouched`);
    this.name = 'KeyConflictError';
  }
}

/** Checks the stored object against the bundle: 'absent', 'match', or throws when it differs. */
export async function verifyStored(
  dest: Destination,
  b: Pick<SealedBundleFile, 'key' | 'size' | 'sha256Base64'>,
): Promise<'match' | 'absent'> {
  const head = await dest.headObject(b.key);
  if (!head) return 'absent';
  if (head.size !== b.size) {
    throw new KeyConflictError(b.key);
  }
  if (!head.sha256Base64) {
    throw new VerifyError(
      `${b.key}: the store returned no SHA-256 for the object; cannot prove the upload intact`,
    );
  }
  if (head.sha256Base64 !== b.sha256Base64) throw new KeyConflictError(b.key);
  return 'match';
}

/** Uploads and verifies once. Returns whether the object was already there (recovery). */
export async function uploadOnce(
  dest: Destination,
  b: SealedBundleFile,
): Promise<{ alreadyPresent: boolean }> {
  if ((await verifyStored(dest, b)) === 'match') return { alreadyPresent: true };
  try {
    await dest.putObject(b.key, () => createReadStream(b.file, { highWaterMark: 1 << 20 }), {
      sha256Base64: b.sha256Base64,
      contentLength: b.size,
      contentType: b.key.endsWith('.gz') ? 'application/gzip' : 'application/x-tar',
      metadata: b.metadata,
    });
  } catch (err) {
    // Someone (our own earlier attempt) created it meanwhile: fine if it is this very bundle.
    if (!(err instanceof ObjectExistsError)) throw err;
  }
  if ((await verifyStored(dest, b)) !== 'match') {
    throw new VerifyError(`${b.key}: the upload reported success but the object is not there`);
  }
  return { alreadyPresent: false };
}

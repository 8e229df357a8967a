// Where bundles go. Two implementations: S3 (and S3-compatible stores) and file:// for local use.
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
}

/** One entry of a folder listing: an object, or a sub-folder (its prefix, ending in '/'). */
export type FolderEntry = ({ kind: 'object' } & ObjectInfo) | { kind: 'folder'; prefix: string };

export interface PutOptions {
  /** Base64 SHA-256 of the whole body; sent to the store and verified after upload. */
  sha256Base64: string;
  contentLength: number;
  contentType?: string;
  /** User metadata (x-amz-meta-*). */
  metadata?: Record<string, string>;
}

export interface HeadResult {
  size: number;
  /** The whole-object SHA-256 as recorded at upload (metadata `gochive-sha256`), base64. */
  sha256Base64?: string;
  metadata: Record<string, string>;
}

/** Thrown by putObject when the key already exists (conditional put refused): never overwrite. */
export class ObjectExistsError extends Error {
  constructor(public readonly key: string) {
    super(`object ${key} already exists; gochive never overwrites a bundle`);
    this.name = 'ObjectExistsError';
  }
}

export interface Destination {
  /** Human-readable location with no credentials, e.g. `s3://bucket/prefix/`. */
  readonly description: string;
  /** Creates `key` only if absent (If-None-Match: *). The body is read once, streamed. */
  putObject(key: string, body: () => Readable, opts: PutOptions): Promise<void>;
  headObject(key: string): Promise<HeadResult | undefined>;
  getObject(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Keys under `prefix` (relative to the store root, prefix included in returned keys), ascending. */
  list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo>;
  /** One level under `prefix` (empty or ending in '/'): its objects and sub-folders, as S3's Delimiter '/'. */
  listFolder(prefix: string): AsyncIterable<FolderEntry>;
  /** Removes `key` (only expiry does: bundles past spec.s3.expireAfter). Absent already is not an error. */
  deleteObject(key: string): Promise<void>;
  close(): Promise<void>;
}

// manifest.json: the first entry of every gochive bundle. It says what the bundle holds and carries the
// SHA-256 of each payload file, so `verify` and `restore` can prove a bundle intact without trusting S3.
import { z } from 'zod';

export const BUNDLE_FORMAT_VERSION = 1;
export const MANIFEST_ENTRY = 'manifest.json';

const isoTime = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

export const bundleFileSchema = z.object({
  /** Path inside the tar, e.g. `mydb/events.bson`. */
  path: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /** Number of BSON documents (only for `.bson` payload files). */
  documents: z.number().int().nonnegative().optional(),
});

export const bundleManifestSchema = z.object({
  formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
  bundleId: z.string().min(1),
  policy: z.object({ name: z.string(), namespace: z.string() }),
  database: z.string().min(1),
  collection: z.string().min(1),
  archiveField: z.string().min(1),
  archiveFieldFormat: z.enum(['date', 'epochSeconds', 'epochMillis', 'epochNanos', 'objectId']),
  /** Documents whose archive field was before this instant were eligible. */
  cutoff: isoTime,
  documentCount: z.number().int().nonnegative(),
  /**
   * Smallest and largest `_id` in MongoDB's order, as canonical Extended JSON values (e.g.
   * `{"$oid": "…"}`). Written (archiver/id-range.ts) only when every `_id` is an ObjectId, or every one a
   * number, a string or a date; `cat --id` reads only bundles whose range can hold the value.
   */
  idRange: z.object({ min: z.unknown(), max: z.unknown() }).optional(),
  /** Smallest and largest archive-field value as ISO 8601 instants (absent only for empty bundles). */
  archiveFieldRange: z.object({ min: isoTime, max: isoTime }).optional(),
  files: z.array(bundleFileSchema).min(1),
  compression: z.object({ codec: z.enum(['gzip', 'none']), level: z.number().int().min(0).max(9) }),
  createdAt: isoTime,
  gochiveVersion: z.string(),
});

export type BundleFile = z.infer<typeof bundleFileSchema>;
export type BundleManifest = z.infer<typeof bundleManifestSchema>;

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Parses manifest.json text; errors name the offending field. */
export function parseManifest(text: string): BundleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > BUNDLE_FORMAT_VERSION) {
    throw new ManifestError(
      `manifest.json has formatVersion ${version}; this gochive reads up to ${BUNDLE_FORMAT_VERSION} — upgrade gochive`,
    );
  }
  const parsed = bundleManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ManifestError(`manifest.json: field '${issue.path.join('.') || '(root)'}' ${issue.message}`);
  }
  return parsed.data;
}

export function serializeManifest(m: BundleManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** The payload file path inside the tar (mongodump layout). */
export function bsonPath(database: string, collection: string): string {
  return `${database}/${collection}.bson`;
}

export function metadataPath(database: string, collection: string): string {
  return `${database}/${collection}.metadata.json`;
}

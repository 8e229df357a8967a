// Archive destinations as written in `s3.bucket`. Three forms:
//   bucket[/prefix/]          the original tool's form (SPEC §2), e.g. levit-database-archive-prod/incubator/x/
//   s3://bucket[/prefix]      the usual S3 URI
//   file:///abs/dir           a local directory (tests, demos, air-gapped use); the whole path is the root
// The prefix is normalised to '' or a string ending in '/', so keys are always `${prefix}${name}`.

export type ParsedBucketUri =
  { kind: 's3'; bucket: string; prefix: string } | { kind: 'file'; root: string; prefix: '' };

/** Longest accepted value (S3 keys are at most 1024 bytes; the prefix must leave room for names). */
export const BUCKET_URI_MAX_LENGTH = 512;

// Bucket: DNS-style labels of lowercase letters, digits and inner hyphens, joined by single dots.
// This is slightly stricter than S3's legacy rules (no `.-`/`-.`), which virtual-hosted-style needs anyway.
const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const BUCKET = `${LABEL}(?:\\.${LABEL})*`;
// A prefix segment: any printable characters except `/`, `\`; segments may not be empty.
const SEGMENT = '[^/\\\\\\x00-\\x1f\\x7f]+';
const PREFIX = `(?:/(?:${SEGMENT}/)*(?:${SEGMENT})?)?`;
const FILE = `file://(?:/${SEGMENT})+/?`;

/** Anchored regex (RE2- and ECMA-compatible) for the shape of a destination; lengths and reserved names are checked separately. */
export const BUCKET_URI_PATTERN = `^(?:(?:s3://)?${BUCKET}${PREFIX}|${FILE})$`;
const shapeRe = new RegExp(BUCKET_URI_PATTERN);

const HINT = 'use bucket/prefix/ (as the original), s3://bucket/prefix/ or file:///absolute/dir';
/** The accepted forms where file:// is refused (an ArchivePolicy). */
export const S3_ONLY_HINT = 'use bucket/prefix/ (as the original) or s3://bucket/prefix/';

/**
 * Why an ArchivePolicy (run by the operator, in a pod) may not archive to file://: the bundles would be
 * the only copy of documents deleted from MongoDB, on a disk that goes away with the pod.
 */
export const FILE_DESTINATION_IN_CLUSTER_REASON =
  "is not allowed in an ArchivePolicy: a file:// destination is the operator pod's own disk, which is not durable (an emptyDir is lost with the pod), and the documents would be deleted from MongoDB with that as their only copy; use an S3 bucket (bucket/prefix/ or s3://bucket/prefix/, with s3.endpoint for MinIO or another S3-compatible store). file:// is for `gochive archive` on a machine you control";

/** Options of bucketUriProblem / parseBucketUri. */
export interface BucketUriOptions {
  /** Accept file:///dir destinations (default true: the CLI's ls, cat, verify, restore and archive). */
  allowFile?: boolean;
}

/** Why `name` is not a valid S3 bucket name, or undefined when it is (AWS general-purpose bucket rules). */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `bucket name "${name}" must be 3 to 63 characters long`;
  if (!new RegExp(`^${BUCKET}$`).test(name)) {
    return `bucket name "${name}" may contain only lowercase letters, digits, hyphens and single dots, and must start and end with a letter or digit`;
  }
  if (/^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/.test(name))
    return `bucket name "${name}" must not look like an IP address`;
  for (const p of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(p)) return `bucket name "${name}" must not start with the reserved prefix "${p}"`;
  }
  for (const s of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(s)) return `bucket name "${name}" must not end with the reserved suffix "${s}"`;
  }
  return undefined;
}

/** Parses a destination, or returns an error message naming `field` and the accepted forms. Never throws. */
export function bucketUriProblem(
  value: unknown,
  field = 's3.bucket',
  opts: BucketUriOptions = {},
): { parsed: ParsedBucketUri } | { error: string } {
  const allowFile = opts.allowFile ?? true;
  const hint = allowFile ? HINT : S3_ONLY_HINT;
  if (typeof value !== 'string' || value.trim() === '') return { error: `${field}: required; ${hint}` };
  const text = value.trim();
  if (text.length > BUCKET_URI_MAX_LENGTH)
    return { error: `${field}: longer than ${BUCKET_URI_MAX_LENGTH} characters` };
  if (!allowFile && /^file:/i.test(text))
    return { error: `${field}: ${JSON.stringify(value)} ${FILE_DESTINATION_IN_CLUSTER_REASON}` };
  if (text.startsWith('file:')) {
    if (!shapeRe.test(text)) {
      return {
        error: `${field}: ${JSON.stringify(value)} is not a valid file:// destination; use file:///absolute/dir`,
      };
    }
    const root = text.slice('file://'.length).replace(/\/+$/, '');
    if (root.split('/').some((s) => s === '.' || s === '..')) {
      return { error: `${field}: ${JSON.stringify(value)} must not contain . or .. path segments` };
    }
    return { parsed: { kind: 'file', root, prefix: '' } };
  }
  const rest = text.startsWith('s3://') ? text.slice(5) : text;
  if (/^[a-z][a-z0-9+.-]*:/i.test(rest)) {
    return { error: `${field}: ${JSON.stringify(value)} has an unsupported scheme; ${hint}` };
  }
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const problem = bucketNameProblem(bucket);
  if (problem) return { error: `${field}: ${problem}; ${hint}` };
  if (!shapeRe.test(text)) {
    return {
      error: `${field}: ${JSON.stringify(value)} has an invalid prefix (empty segments like "//", or control characters); ${hint}`,
    };
  }
  let prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (prefix.split('/').some((s) => s === '.' || s === '..')) {
    return { error: `${field}: ${JSON.stringify(value)} must not contain . or .. prefix segments` };
  }
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  return { parsed: { kind: 's3', bucket, prefix } };
}

/** Parses a destination; throws an Error whose message names `field` and the accepted forms. */
export function parseBucketUri(
  value: unknown,
  field = 's3.bucket',
  opts: BucketUriOptions = {},
): ParsedBucketUri {
  const r = bucketUriProblem(value, field, opts);
  if ('error' in r) throw new Error(r.error);
  return r.parsed;
}

/** The canonical URI of a parsed destination (`s3://bucket/prefix/` or `file:///dir`), for logs and status. */
export function formatBucketUri(d: ParsedBucketUri): string {
  return d.kind === 's3' ? `s3://${d.bucket}/${d.prefix}` : `file://${d.root}`;
}

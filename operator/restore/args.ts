// Flags shared by `gochive ls`, `verify`, `cat` and `restore`: where the bundles are, which ones, and the
// S3 settings (flags first, then the standard AWS environment variables, as in every AWS tool).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseBucketUri } from '../api/bucket-uri.js';
import { durationSeconds } from '../api/duration.js';
import type { DestinationConfig } from '../archiver/config.js';

/** A usage error: printed with the command's usage line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const sourceOptions = {
  bucket: { type: 'string', short: 'b' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'path-style': { type: 'boolean' },
  policy: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  database: { type: 'string', short: 'd' },
  collection: { type: 'string', short: 'c' },
  from: { type: 'string' },
  to: { type: 'string' },
  key: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const SOURCE_HELP = `Where the bundles are:
  -b, --bucket URI        s3://bucket/prefix/, bucket/prefix/ (the original's form) or file:///dir
      --endpoint URL      S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS)
      --region REGION     default: AWS_REGION / AWS_DEFAULT_REGION / the AWS profile
      --path-style        path-style S3 addressing (default on when an endpoint is set)
  Credentials come from the default AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, IRSA…).
Which bundles:
      --policy NAME       only bundles written by this ArchivePolicy (from their manifests)
  -n, --namespace NS      with --policy: its namespace
  -d, --database DB       only bundles of this database
  -c, --collection COLL   only bundles of this collection
      --from TIME         archive-field time range start (inclusive): 2024-01-31, 2024-01-31T12:00:00Z,
                          or a duration ago such as 120d
      --to TIME           range end (exclusive), same forms
      --key KEY           exactly this object key (repeatable); skips listing`;

export interface SourceSelection {
  destination: DestinationConfig;
  /** Key prefix to list (the bucket URI's prefix). */
  prefix: string;
  policy?: string;
  namespace?: string;
  database?: string;
  collection?: string;
  from?: Date;
  to?: Date;
  keys?: string[];
}

/** Parses argv with the shared source flags plus `extra`; unknown flags are a UsageError naming them. */
export function parseCommandArgs<E extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  extra: E,
  command: string,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...sourceOptions, ...extra },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(
      `gochive ${command}: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`,
    );
  }
}

/** `--from`/`--to`: an ISO 8601 date or instant (UTC unless an offset is given), or a duration ago. */
export function parseTime(value: string, flag: string, now = new Date()): Date {
  const text = value.trim();
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const withZone =
      /^\d{4}-\d{2}-\d{2}$/.test(text) || /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
    const d = new Date(withZone);
    if (!Number.isNaN(d.getTime())) return d;
  } else {
    const r = durationSeconds(text, flag);
    if ('seconds' in r) return new Date(now.getTime() - r.seconds * 1000);
  }
  throw new UsageError(
    `${flag} ${JSON.stringify(value)} is not a time: use 2024-01-31, 2024-01-31T12:00:00Z or a duration ago such as 92d`,
  );
}

type SourceValues = {
  bucket?: string | undefined;
  endpoint?: string | undefined;
  region?: string | undefined;
  'path-style'?: boolean | undefined;
  policy?: string | undefined;
  namespace?: string | undefined;
  database?: string | undefined;
  collection?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  key?: string[] | undefined;
};

export function sourceFromFlags(v: SourceValues, env: NodeJS.ProcessEnv = process.env): SourceSelection {
  if (!v.bucket)
    throw new UsageError('--bucket is required: s3://bucket/prefix/, bucket/prefix/ or file:///dir');
  let parsed;
  try {
    parsed = parseBucketUri(v.bucket, '--bucket');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let destination: DestinationConfig;
  if (parsed.kind === 'file') {
    if (v.endpoint || v.region || v['path-style'])
      throw new UsageError('--endpoint, --region and --path-style apply to S3, not to a file:// bucket');
    destination = { kind: 'file', root: parsed.root, prefix: '' };
  } else {
    destination = { kind: 's3', bucket: parsed.bucket, prefix: parsed.prefix };
    const endpoint = v.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    if (endpoint) {
      try {
        const u = new URL(endpoint);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      } catch {
        throw new UsageError(`--endpoint ${JSON.stringify(endpoint)} is not an http(s) URL`);
      }
      if (v.endpoint) destination.endpoint = v.endpoint;
    }
    if (v.region) destination.region = v.region;
    if (v['path-style'] !== undefined) destination.forcePathStyle = v['path-style'];
  }
  const sel: SourceSelection = { destination, prefix: parsed.prefix };
  if (v.policy) sel.policy = v.policy;
  if (v.namespace) {
    if (!v.policy) throw new UsageError('--namespace needs --policy');
    sel.namespace = v.namespace;
  }
  if (v.database) sel.database = v.database;
  if (v.collection) sel.collection = v.collection;
  if (v.from) sel.from = parseTime(v.from, '--from');
  if (v.to) sel.to = parseTime(v.to, '--to');
  if (sel.from && sel.to && sel.from.getTime() >= sel.to.getTime()) {
    throw new UsageError(
      `--from ${sel.from.toISOString()} is not before --to ${sel.to.toISOString()}: the range is empty`,
    );
  }
  if (v.key?.length) sel.keys = v.key;
  return sel;
}

export function nonNegativeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} ${JSON.stringify(value)} must be a number greater than 0`);
  return n;
}

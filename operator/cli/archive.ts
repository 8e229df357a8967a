// `gochive archive`: run policies without Kubernetes.
//
//   gochive archive -host URI -database DB -collection C -age-limit 92d -archive-field createdAt \
//     -query-limit 1000 -archive-check-interval 60 -s3-upload-interval 80 -s3-bucket-uri bucket/prefix/
//
// accepts the original Go tool's command line verbatim (single-dash flags, `-flag=value`, `--flag`),
// plus extensions (--once, -f FILE, --dry-run, …). Flags are turned into an ArchivePolicy spec and go
// through the API's validation and resolvePolicy — the same rules as `kubectl apply` and the chart,
// except that file:///dir destinations are allowed (the user's own machine, SPEC §3) — with errors
// reported against the flag names. MongoDB's system databases and collections are refused (SPEC I9).
// Exit codes: 0 done, 1 a policy failed or is blocked, 2 usage error.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import {
  formatSpecErrors,
  renderUriTemplate,
  resolvePolicy,
  validateSpec,
  type SpecError,
} from '../api/resolve.js';
import type { PolicyConfig } from '../archiver/config.js';
import { Worker } from '../archiver/worker.js';
import { createLogger, policyLogger, type Logger } from '../util/logger.js';
import { errorMessage, redactSecrets, redactUri, uriPasswords } from '../util/redact.js';
import { GOCHIVE_VERSION } from '../version.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type FlagValues } from './flags.js';
import { loadPolicyFile } from './policy-file.js';
import { ProgressView } from './progress.js';
import { formatStatistics } from './statistics.js';
import { parseDuration } from '../api/duration.js';

const ORIGINAL = 'Flags of the original go-chive (single or double dash; -flag=value works too)';
const EXT = 'Extensions';
const S3 =
  'S3 and S3-compatible stores (the AWS environment variables also work: AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID…)';
const OUT = 'Output';

export const ARCHIVE_FLAGS: FlagSpec[] = [
  {
    group: ORIGINAL,
    name: 'host',
    kind: 'string',
    metavar: 'URI',
    help: 'MongoDB connection string, e.g. "mongodb+srv://user:pass@cluster.example.com/?tls=true" (credentials are never printed)',
  },
  {
    group: ORIGINAL,
    name: 'user',
    kind: 'string',
    metavar: 'NAME',
    help: 'MongoDB user name (replaces the one in -host)',
  },
  {
    group: ORIGINAL,
    name: 'password',
    kind: 'string',
    metavar: 'PASSWORD',
    secret: true,
    help: 'MongoDB password (replaces the one in -host; or set GOCHIVE_MONGODB_PASSWORD to keep it out of the process list)',
  },
  {
    group: ORIGINAL,
    name: 'database',
    kind: 'string',
    metavar: 'NAME',
    help: 'database holding the collection (not admin, local or config)',
  },
  {
    group: ORIGINAL,
    name: 'collection',
    kind: 'string',
    metavar: 'NAME',
    help: 'collection whose old documents are archived (not system.*)',
  },
  {
    group: ORIGINAL,
    name: 'age-limit',
    kind: 'string',
    metavar: 'DURATION',
    help: 'documents older than this are archived, e.g. 92d, 36h, 1w2d',
  },
  {
    group: ORIGINAL,
    name: 'archive-field',
    kind: 'string',
    metavar: 'FIELD',
    help: "field holding each document's age (must be indexed), e.g. createdAt",
  },
  { group: ORIGINAL, name: 'query-limit', kind: 'int', help: 'documents per fetch (default 1000)' },
  {
    group: ORIGINAL,
    name: 'archive-check-interval',
    kind: 'string',
    metavar: 'SECONDS',
    help: 'time between fetches (seconds, or a duration like 30s)',
  },
  {
    group: ORIGINAL,
    name: 's3-upload-interval',
    kind: 'string',
    metavar: 'SECONDS',
    help: 'time between bundle uploads; must be greater than -archive-check-interval',
  },
  {
    group: ORIGINAL,
    name: 's3-bucket-uri',
    kind: 'string',
    metavar: 'URI',
    help: 'where bundles go: bucket/prefix/ (as the original), s3://bucket/prefix/ or file:///dir',
  },
  {
    group: EXT,
    name: 'once',
    kind: 'bool',
    help: 'run until no eligible document is left and everything is uploaded and deleted, then exit',
  },
  {
    group: EXT,
    name: 'connect-timeout',
    kind: 'string',
    metavar: 'DURATION',
    help: 'with --once: exit 1 when MongoDB cannot be reached at start for this long (default 2m)',
  },
  {
    group: EXT,
    name: 'file',
    aliases: ['f'],
    kind: 'list',
    metavar: 'FILE',
    help: 'run the policies of a YAML file: ArchivePolicy manifests, a values file with policies:, or values entries (repeatable)',
  },
  { group: EXT, name: 'dry-run', kind: 'bool', help: 'archive and upload, never delete' },
  {
    group: EXT,
    name: 'archive-field-format',
    kind: 'string',
    metavar: 'FORMAT',
    help: 'date (default), epochSeconds, epochMillis, epochNanos (Int64), or objectId (_id creation time)',
  },
  {
    group: EXT,
    name: 'filter',
    kind: 'string',
    metavar: 'JSON',
    help: 'extra MongoDB query ANDed with the age condition, as (Extended) JSON, e.g. \'{"status":"done"}\'',
  },
  {
    group: EXT,
    name: 'max-docs-per-second',
    kind: 'int',
    help: 'upper bound on documents fetched and deleted per second',
  },
  {
    group: EXT,
    name: 'max-lag',
    kind: 'string',
    metavar: 'DURATION',
    help: "back off while a replica set's slowest healthy secondary is this far behind the primary (pt-archiver's --max-lag), e.g. 30s",
  },
  {
    group: EXT,
    name: 'max-query-latency-ms',
    kind: 'int',
    help: "back off while the median time of this policy's recent MongoDB round trips is above this many milliseconds",
  },
  {
    group: EXT,
    name: 'throttle-check-interval',
    kind: 'string',
    metavar: 'DURATION',
    help: 'with -max-lag or -max-query-latency-ms: how often to measure again while backing off (default 10s)',
  },
  {
    group: EXT,
    name: 'allow-collection-scan',
    kind: 'bool',
    help: 'run even if no index serves -archive-field',
  },
  {
    group: EXT,
    name: 'change-guard-fields',
    kind: 'string',
    metavar: 'F1,F2',
    help: 'fields compared at delete time; documents whose values changed since fetch are left in place',
  },
  {
    group: EXT,
    name: 'bundle-max-documents',
    kind: 'int',
    help: 'seal a bundle early at this many documents',
  },
  {
    group: EXT,
    name: 'bundle-max-bytes',
    kind: 'string',
    metavar: 'SIZE',
    help: 'seal a bundle early at this payload size, e.g. 512Mi',
  },
  {
    group: EXT,
    name: 'spool-dir',
    kind: 'string',
    metavar: 'DIR',
    help: 'spool root (default $GOCHIVE_SPOOL_DIR or <tmp>/gochive-spool); each policy uses <dir>/<namespace>/<name>/',
  },
  {
    group: EXT,
    name: 'spool-max-bytes',
    kind: 'string',
    metavar: 'SIZE',
    help: 'spool disk cap per policy (default 1Gi); fetching pauses at the cap',
  },
  { group: EXT, name: 'compression', kind: 'string', metavar: 'CODEC', help: 'gzip (default) or none' },
  { group: EXT, name: 'compression-level', kind: 'int', help: 'gzip level 1-9 (default 6)' },
  {
    group: EXT,
    name: 'name',
    kind: 'string',
    metavar: 'NAME',
    help: 'policy name (default: derived from database and collection)',
  },
  {
    group: EXT,
    name: 'namespace',
    kind: 'string',
    metavar: 'NS',
    help: 'namespace for policies without one (default "default")',
  },
  {
    group: EXT,
    name: 'uri-template',
    kind: 'string',
    metavar: 'TEMPLATE',
    help: 'with -f: turns hostAddress into a URI, e.g. "mongodb+srv://{username}:{password}@prod-{host}.example.com/"',
  },
  {
    group: S3,
    name: 's3-endpoint',
    kind: 'string',
    metavar: 'URL',
    help: 'S3-compatible endpoint, e.g. http://127.0.0.1:7070',
  },
  {
    group: S3,
    name: 's3-region',
    kind: 'string',
    metavar: 'REGION',
    help: 'AWS region (default from AWS_REGION)',
  },
  {
    group: S3,
    name: 's3-path-style',
    kind: 'bool',
    help: 'path-style addressing (default on when an endpoint is set)',
  },
  {
    group: S3,
    name: 's3-storage-class',
    kind: 'string',
    metavar: 'CLASS',
    help: 'storage class, e.g. STANDARD_IA',
  },
  {
    group: S3,
    name: 's3-expire-after',
    kind: 'string',
    metavar: 'DURATION',
    help: 'remove bundles whose newest document is older than this, e.g. 457d (longer than -age-limit)',
  },
  {
    group: S3,
    name: 's3-sse',
    kind: 'string',
    metavar: 'TYPE',
    help: 'server-side encryption: AES256 or aws:kms',
  },
  {
    group: S3,
    name: 's3-sse-kms-key-id',
    kind: 'string',
    metavar: 'KEY',
    help: 'KMS key id for -s3-sse aws:kms',
  },
  {
    group: OUT,
    name: 'log-level',
    kind: 'string',
    metavar: 'LEVEL',
    help: 'trace, debug, info, warn, error (default info; warn while drawing progress)',
  },
  {
    group: OUT,
    name: 'statistics',
    kind: 'bool',
    help: 'print statistics at the end (counts, time per stage, rate), like pt-archiver',
  },
  {
    group: OUT,
    name: 'progress',
    kind: 'bool',
    help: 'draw progress on stderr (default: when stderr is a terminal; -progress=false to disable)',
  },
  { group: OUT, name: 'help', aliases: ['h'], kind: 'bool', help: 'show this help' },
];

/** Spec field path → the flag that sets it, so validation errors name the flag. */
const FLAG_OF_PATH: Record<string, string> = {
  ageLimit: 'age-limit',
  queryLimit: 'query-limit',
  archiveCheckInterval: 'archive-check-interval',
  collection: 'collection',
  database: 'database',
  archiveField: 'archive-field',
  s3: 's3-bucket-uri',
  's3.bucket': 's3-bucket-uri',
  's3.uploadInterval': 's3-upload-interval',
  's3.endpoint': 's3-endpoint',
  's3.region': 's3-region',
  's3.forcePathStyle': 's3-path-style',
  's3.storageClass': 's3-storage-class',
  's3.expireAfter': 's3-expire-after',
  's3.sse': 's3-sse',
  's3.sse.type': 's3-sse',
  's3.sse.kmsKeyId': 's3-sse-kms-key-id',
  archiveFieldFormat: 'archive-field-format',
  filter: 'filter',
  maxDocumentsPerSecond: 'max-docs-per-second',
  throttle: 'throttle-check-interval',
  'throttle.maxReplicationLag': 'max-lag',
  'throttle.maxQueryLatencyMilliseconds': 'max-query-latency-ms',
  'throttle.checkInterval': 'throttle-check-interval',
  allowCollectionScan: 'allow-collection-scan',
  changeGuardFields: 'change-guard-fields',
  bundle: 'bundle-max-documents',
  'bundle.maxDocuments': 'bundle-max-documents',
  'bundle.maxBytes': 'bundle-max-bytes',
  spool: 'spool-max-bytes',
  'spool.maxBytes': 'spool-max-bytes',
  compression: 'compression',
  'compression.codec': 'compression',
  'compression.level': 'compression-level',
  dryRun: 'dry-run',
};

function usage(): string {
  return `gochive ${GOCHIVE_VERSION}

Usage: gochive archive -host URI -database DB -collection NAME -age-limit 92d -archive-field createdAt \\
         -archive-check-interval 60 -s3-upload-interval 80 -s3-bucket-uri bucket/prefix/ [flags]
       gochive archive -f policies.yaml [-host URI | -uri-template T -user U -password P] [flags]
${flagHelp(ARCHIVE_FLAGS)}

Exit status: 0 done (or stopped by SIGINT/SIGTERM), 1 a policy failed or is blocked, 2 usage error.
`;
}

function flagError(e: SpecError): string {
  const segs = e.path.replace(/\[\d+\]/g, '').split('.');
  for (let n = segs.length; n > 0; n--) {
    const flag = FLAG_OF_PATH[segs.slice(0, n).join('.')];
    if (flag) {
      const text = e.message.startsWith(`${e.path}: `) ? e.message.slice(e.path.length + 2) : e.message;
      // Name other fields by their flags too (e.g. "greater than archiveCheckInterval").
      const named = text
        .replace(/\bmaxReplicationLag\b/g, '-max-lag')
        .replace(/\bomit throttle\b/, 'or drop -throttle-check-interval')
        .replace(/\bmaxQueryLatencyMilliseconds\b/g, '-max-query-latency-ms')
        .replace(/\barchiveCheckInterval\b/g, '-archive-check-interval')
        .replace(/\bs3\.uploadInterval\b/g, '-s3-upload-interval')
        .replace(/\bs3\.expireAfter\b/g, '-s3-expire-after')
        .replace(/\bageLimit\b/g, '-age-limit');
      return `-${flag}: ${named}`;
    }
  }
  return e.message;
}

const numeric = (s: string): string | number => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : s);

/** The ArchivePolicy spec the flags describe (only flags given; the schema supplies defaults). */
export function specFromFlags(v: FlagValues): Record<string, unknown> {
  const spec: Record<string, unknown> = { hostAddress: 'cli' }; // the CLI connects with -host itself
  const set = (k: string, val: unknown) => {
    if (val !== undefined) spec[k] = val;
  };
  set('database', v.database);
  set('collection', v.collection);
  set('ageLimit', v['age-limit'] === undefined ? undefined : numeric(String(v['age-limit'])));
  set('archiveField', v['archive-field']);
  set('queryLimit', v['query-limit']);
  set(
    'archiveCheckInterval',
    v['archive-check-interval'] === undefined ? undefined : numeric(String(v['archive-check-interval'])),
  );
  const s3: Record<string, unknown> = {};
  if (v['s3-bucket-uri'] !== undefined) s3.bucket = v['s3-bucket-uri'];
  if (v['s3-upload-interval'] !== undefined) s3.uploadInterval = numeric(String(v['s3-upload-interval']));
  if (v['s3-endpoint'] !== undefined) s3.endpoint = v['s3-endpoint'];
  if (v['s3-region'] !== undefined) s3.region = v['s3-region'];
  if (v['s3-path-style'] !== undefined) s3.forcePathStyle = v['s3-path-style'];
  if (v['s3-storage-class'] !== undefined) s3.storageClass = v['s3-storage-class'];
  if (v['s3-expire-after'] !== undefined) s3.expireAfter = numeric(String(v['s3-expire-after']));
  if (v['s3-sse'] !== undefined) {
    s3.sse = {
      type: v['s3-sse'],
      ...(v['s3-sse-kms-key-id'] !== undefined ? { kmsKeyId: v['s3-sse-kms-key-id'] } : {}),
    };
  }
  spec.s3 = s3;
  set('archiveFieldFormat', v['archive-field-format']);
  if (v.filter !== undefined) {
    try {
      spec.filter = JSON.parse(String(v.filter)) as unknown;
    } catch (err) {
      throw new UsageError(
        `-filter: not valid JSON (${(err as Error).message}); write it like '{"status":"done"}'`,
      );
    }
  }
  set('maxDocumentsPerSecond', v['max-docs-per-second']);
  const throttle = throttleFromFlags(v);
  if (throttle) spec.throttle = throttle;
  if (v['dry-run'] !== undefined) spec.dryRun = v['dry-run'];
  if (v['allow-collection-scan'] !== undefined) spec.allowCollectionScan = v['allow-collection-scan'];
  if (v['change-guard-fields'] !== undefined) {
    spec.changeGuardFields = String(v['change-guard-fields'])
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  const bundle: Record<string, unknown> = {};
  if (v['bundle-max-documents'] !== undefined) bundle.maxDocuments = v['bundle-max-documents'];
  if (v['bundle-max-bytes'] !== undefined) bundle.maxBytes = v['bundle-max-bytes'];
  if (Object.keys(bundle).length) spec.bundle = bundle;
  if (v['spool-max-bytes'] !== undefined) spec.spool = { maxBytes: v['spool-max-bytes'] };
  const compression: Record<string, unknown> = {};
  if (v.compression !== undefined) compression.codec = v.compression;
  if (v['compression-level'] !== undefined) compression.level = v['compression-level'];
  if (Object.keys(compression).length) spec.compression = compression;
  return spec;
}

/** Overrides from flags that also apply to policies loaded with -f. */
function overridesFromFlags(v: FlagValues): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (v['dry-run'] !== undefined) o.dryRun = v['dry-run'];
  if (v['max-docs-per-second'] !== undefined) o.maxDocumentsPerSecond = v['max-docs-per-second'];
  if (v['allow-collection-scan'] !== undefined) o.allowCollectionScan = v['allow-collection-scan'];
  const throttle = throttleFromFlags(v);
  if (throttle) o.throttle = throttle;
  return o;
}

/** spec.throttle from -max-lag, -max-query-latency-ms and -throttle-check-interval (undefined if none is given). */
function throttleFromFlags(v: FlagValues): Record<string, unknown> | undefined {
  const t: Record<string, unknown> = {};
  if (v['max-lag'] !== undefined) t.maxReplicationLag = numeric(String(v['max-lag']));
  if (v['max-query-latency-ms'] !== undefined) t.maxQueryLatencyMilliseconds = v['max-query-latency-ms'];
  if (v['throttle-check-interval'] !== undefined)
    t.checkInterval = numeric(String(v['throttle-check-interval']));
  return Object.keys(t).length ? t : undefined;
}

/** A DNS-label policy name for a flag-defined policy: database-collection plus a short hash of where it runs. */
export function defaultPolicyName(database: string, collection: string, hostForHash: string): string {
  const slug = `${database}-${collection}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const hash = createHash('sha256')
    .update(`${redactUri(hostForHash)}\0${database}\0${collection}`)
    .digest('hex')
    .slice(0, 8);
  return `${slug.slice(0, 63 - 9) || 'policy'}-${hash}`.replace(/-+/g, '-');
}

/** The URI from -host with -user/-password (or GOCHIVE_MONGODB_PASSWORD) put into its userinfo. */
export function connectionUri(host: string, user?: string, password?: string): string {
  let uri = host.includes('://') ? host : `mongodb://${host}`;
  if (user === undefined && password === undefined) return uri;
  const m = /^([a-z0-9+.-]+:\/\/)(?:([^@/]*)@)?(.*)$/i.exec(uri);
  if (!m) return uri;
  const [, scheme, userinfo, rest] = m;
  const [oldUser, ...oldPw] = (userinfo ?? '').split(':');
  const u = user ?? (oldUser ? decodeURIComponent(oldUser) : '');
  const p = password ?? (oldPw.length ? decodeURIComponent(oldPw.join(':')) : undefined);
  uri = `${scheme}${encodeURIComponent(u)}${p !== undefined ? `:${encodeURIComponent(p)}` : ''}@${rest}`;
  return uri;
}

interface Job {
  label: string;
  config: PolicyConfig;
  uri: string;
  worker?: Worker;
}

async function buildJobs(v: FlagValues, secrets: (string | undefined)[]): Promise<Job[]> {
  const password = (v.password as string | undefined) ?? process.env.GOCHIVE_MONGODB_PASSWORD;
  const user = (v.user as string | undefined) ?? process.env.GOCHIVE_MONGODB_USERNAME;
  const host = v.host as string | undefined;
  const namespace = (v.namespace as string | undefined) ?? 'default';
  const files = (v.file as string[] | undefined) ?? [];

  if (!files.length) {
    if (!host)
      throw new UsageError(
        '-host is required: the MongoDB connection string, e.g. -host "mongodb://db.example.com:27017/" (credentials in the URI, or -user/-password)',
      );
    const spec = specFromFlags(v);
    const r = validateSpec(spec, '', { target: 'local' });
    if (!r.ok) throw new UsageError(r.errors.map(flagError).join('\n'));
    const uri = connectionUri(host, user, password);
    const name = (v.name as string | undefined) ?? defaultPolicyName(r.spec.database, r.spec.collection, uri);
    const config = resolvePolicy(r.spec, { name, namespace, allowFileDestination: true });
    return [{ label: name, config, uri }];
  }

  const jobs: Job[] = [];
  const overrides = overridesFromFlags(v);
  for (const file of files) {
    const loaded = await loadPolicyFile(file, namespace);
    const template = (v['uri-template'] as string | undefined) ?? loaded.uriTemplate;
    for (const p of loaded.policies) {
      const fromFile = stripDefaults(p.spec);
      // Throttle flags add to (or replace single limits of) a file's throttle rather than replace it whole.
      const throttle = overrides.throttle
        ? { throttle: { ...(fromFile.throttle as object | undefined), ...(overrides.throttle as object) } }
        : {};
      const merged = validateSpec({ ...fromFile, ...overrides, ...throttle }, '', { target: 'local' });
      if (!merged.ok)
        throw new UsageError(formatSpecErrors(merged.errors, `${p.origin}: with the command-line flags`));
      let uri: string;
      if (host) uri = connectionUri(host, user, password);
      else if (p.spec.uriSecretRef) {
        throw new UsageError(
          `${p.origin}: policy ${p.name} reads its URI from Secret ${p.spec.uriSecretRef.name}, which needs Kubernetes; pass -host URI`,
        );
      } else if (template) {
        try {
          uri = renderUriTemplate(template, {
            host: p.spec.hostAddress!,
            ...(user !== undefined ? { username: user } : {}),
            ...(password !== undefined ? { password } : {}),
          });
        } catch (err) {
          throw new UsageError(
            `-uri-template: ${errorMessage(err, secrets)} (policy ${p.name}; set -user and -password or GOCHIVE_MONGODB_USERNAME/PASSWORD)`,
          );
        }
      } else {
        throw new UsageError(
          `${p.origin}: policy ${p.name} has hostAddress "${p.spec.hostAddress}"; pass -host URI or -uri-template TEMPLATE to connect`,
        );
      }
      jobs.push({
        label: p.namespace === namespace ? p.name : `${p.namespace}/${p.name}`,
        config: resolvePolicy(merged.spec, {
          name: p.name,
          namespace: p.namespace,
          allowFileDestination: true,
        }),
        uri,
      });
    }
  }
  return jobs;
}

/** A validated spec has its defaults filled; merge flags onto the user's values (re-validated after). */
function stripDefaults<T extends object>(spec: T): Record<string, unknown> {
  return { ...(spec as Record<string, unknown>) };
}

function parseMongoUri(uri: string, secrets: (string | undefined)[]): void {
  try {
    // The constructor parses (and rejects) the URI without connecting.
    new MongoClient(uri, { serverSelectionTimeoutMS: 1 });
  } catch (err) {
    throw new UsageError(`-host: not a usable MongoDB connection string: ${errorMessage(err, secrets)}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  let values: FlagValues;
  try {
    const parsed = parseFlags(argv, ARCHIVE_FLAGS);
    values = parsed.values;
    if (values.help) {
      process.stdout.write(usage());
      return 0;
    }
    if (parsed.rest.length)
      throw new UsageError(
        `unexpected argument ${JSON.stringify(parsed.rest[0])}: every setting is a flag (see -help)`,
      );
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`gochive archive: ${err.message}\nRun 'gochive archive -help' for the flags.\n`);
      return 2;
    }
    throw err;
  }
  const secrets = [
    values.password as string | undefined,
    process.env.GOCHIVE_MONGODB_PASSWORD,
    process.env.AWS_SECRET_ACCESS_KEY,
  ];
  if (typeof values.host === 'string') secrets.push(...uriPasswords(values.host));

  let jobs: Job[];
  let connectTimeoutMs: number;
  try {
    try {
      connectTimeoutMs = parseDuration(values['connect-timeout'] ?? '2m', '--connect-timeout');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    jobs = await buildJobs(values, secrets);
    for (const j of jobs) parseMongoUri(j.uri, secrets);
  } catch (err) {
    const msg = redactSecrets(err instanceof Error ? err.message : String(err), secrets);
    process.stderr.write(
      `gochive archive: ${msg}\n${err instanceof UsageError ? "Run 'gochive archive -help' for the flags.\n" : ''}`,
    );
    return err instanceof UsageError ? 2 : 1;
  }

  const showProgress = (values.progress as boolean | undefined) ?? Boolean(process.stderr.isTTY);
  const logger: Logger = createLogger({
    level: (values['log-level'] as string | undefined) ?? (showProgress ? 'warn' : 'info'),
  });
  const spoolRoot = path.resolve(
    (values['spool-dir'] as string | undefined) ??
      process.env.GOCHIVE_SPOOL_DIR ??
      path.join(os.tmpdir(), 'gochive-spool'),
  );
  const once = Boolean(values.once);
  const startedAt = new Date();

  for (const j of jobs) {
    const log = policyLogger(logger, j.config.namespace, j.config.name);
    // carryTotals: a run killed before printing its statistics hands its counts to the next run; a run
    // that prints them marks them reported at exit (below).
    j.worker = new Worker({
      config: j.config,
      mongoUri: j.uri,
      spoolRoot,
      logger: log,
      once,
      carryTotals: true,
      connectTimeoutMs,
    });
    log.info(
      {
        source: `${redactUri(j.uri)} ${j.config.database}.${j.config.collection}`,
        destination:
          j.config.destination.kind === 's3'
            ? `s3://${j.config.destination.bucket}/${j.config.destination.prefix}`
            : `file://${j.config.destination.root}`,
        spool: path.join(spoolRoot, j.config.namespace, j.config.name),
        once,
        dryRun: j.config.dryRun,
      },
      'archiving',
    );
  }

  const progress = showProgress
    ? new ProgressView(
        process.stderr,
        jobs.map((j) => ({
          label: j.label,
          snapshot: () => j.worker!.snapshot(),
          fetched: () => j.worker!.statistics().documentsFetched,
        })),
      )
    : undefined;
  progress?.start();

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(
        `gochive archive: ${sig} again: exiting now (the journal makes the next run resume safely)\n`,
      );
      process.exit(130);
    }
    logger.warn(
      { signal: sig },
      'stopping: finishing the step in flight (send the signal again to exit at once)',
    );
    for (const j of jobs) void j.worker!.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await Promise.all(jobs.map((j) => j.worker!.run()));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress?.stop();
  }
  const endedAt = new Date();

  let code = 0;
  for (const j of jobs) {
    const s = j.worker!.snapshot();
    if (s.state === 'Failed' || s.state === 'Blocked') {
      code = 1;
      process.stderr.write(
        `gochive archive: policy ${j.label}: ${s.state}${s.reason ? ` (${s.reason})` : ''}: ${s.message ?? s.lastError?.message ?? ''}\n`,
      );
    }
    if (values.statistics) {
      const d = j.config.destination;
      process.stdout.write(
        formatStatistics({
          label: `${j.config.namespace}/${j.config.name}`,
          source: `${redactUri(j.uri)} ${j.config.database}.${j.config.collection}`,
          destination: d.kind === 's3' ? `s3://${d.bucket}/${d.prefix}` : `file://${d.root}`,
          startedAt,
          endedAt,
          snapshot: s,
          stats: j.worker!.statistics(),
        }) + (jobs.length > 1 ? '\n' : ''),
      );
    }
    // No status to write: the statistics above are this run's report, so nothing is carried into the
    // next run's figures (counters.ts). A run killed before this point carries its counts over.
    await j.worker!.markReported().catch(() => undefined);
  }
  return code;
}

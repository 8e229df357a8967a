// From a user's ArchivePolicy spec to the engine's PolicyConfig (operator/archiver/config.ts), used by
// the operator and by `gochive archive` so every entry point validates and defaults the same way.
// Connections are NOT resolved here (the operator/CLI read Secrets); renderUriTemplate helps them.
import type { z } from 'zod';
import type { ArchiveWindow, DestinationConfig, PolicyConfig, ThrottleConfig } from '../archiver/config.js';
import {
  archivePolicySpecSchema,
  DAY_NAMES,
  EXPIRE_AFTER_MESSAGE,
  localPolicySpecSchema,
  type ArchivePolicySpec,
  type PolicyTarget,
} from './schema.js';
import { parseDuration } from './duration.js';
import { parseBucketUri } from './bucket-uri.js';
import { protectedNamespaceProblem } from './protected-namespaces.js';
import { parseBytes } from './quantity.js';

/** Spool cap when spec.spool.maxBytes is absent. */
export const DEFAULT_SPOOL_MAX_BYTES = 1024 ** 3;
export const DEFAULT_COMPRESSION = { codec: 'gzip', level: 6 } as const;

export interface SpecError {
  /** Dotted path inside the spec, e.g. `s3.uploadInterval` or `windows[0].start`; '' for the whole spec. */
  path: string;
  /** Self-contained message starting with the path, naming the fix. */
  message: string;
}

export type ValidationResult = { ok: true; spec: ArchivePolicySpec } | { ok: false; errors: SpecError[] };

export interface ValidateOptions {
  /**
   * `cluster` (default): the rules of an ArchivePolicy run by the operator, file:// refused. `local`:
   * `gochive archive` on the user's own machine, where file:///dir destinations are allowed.
   */
  target?: PolicyTarget;
}

/** Validates a spec (as written by a user) and applies defaults. Never throws. */
export function validateSpec(input: unknown, pathPrefix = '', opts: ValidateOptions = {}): ValidationResult {
  const schema = opts.target === 'local' ? localPolicySpecSchema : archivePolicySpecSchema;
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return { ok: true, spec: r.data };
  return { ok: false, errors: dedupe(preferCustom(r.error.issues).map((i) => toSpecError(i, pathPrefix))) };
}

/** All errors as one multi-line message, for exceptions and CLI output. */
export function formatSpecErrors(errors: SpecError[], what = 'invalid ArchivePolicy spec'): string {
  return `${what}:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`;
}

/** Like validateSpec but throws an Error listing every problem. */
export function parseSpec(input: unknown, what?: string, opts: ValidateOptions = {}): ArchivePolicySpec {
  const r = validateSpec(input, '', opts);
  if (!r.ok) throw new Error(formatSpecErrors(r.errors, what));
  return r.spec;
}

const DNS_LABEL_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `name` cannot name an ArchivePolicy, or undefined. Names are DNS labels (they end up in labels and Lease names). */
export function policyNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'name is required (it becomes metadata.name)';
  if (name.length > 63) return `name: "${name}" is longer than 63 characters`;
  if (!DNS_LABEL_NAME.test(name))
    return `name: "${name}" must be lowercase letters, digits and "-", starting and ending with a letter or digit`;
  return undefined;
}

/**
 * Validates one entry of the original values file (`name` plus the spec fields, SPEC §2) and splits it
 * into the policy name and its spec.
 */
export function validateValuesEntry(
  entry: unknown,
  opts: ValidateOptions = {},
): { ok: true; name: string; spec: ArchivePolicySpec } | { ok: false; errors: SpecError[] } {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    return {
      ok: false,
      errors: [{ path: '', message: 'a policy entry must be a mapping with name and the spec fields' }],
    };
  }
  const { name, ...spec } = entry as Record<string, unknown>;
  const nameProblem = policyNameProblem(name);
  const r = validateSpec(spec, '', opts);
  const errors = [
    ...(nameProblem ? [{ path: 'name', message: nameProblem }] : []),
    ...(r.ok ? [] : r.errors),
  ];
  if (errors.length > 0 || !r.ok) return { ok: false, errors };
  return { ok: true, name: name as string, spec: r.spec };
}

/**
 * The engine's input for a validated spec. Throws (with a field-naming message) only if `spec` did not
 * come from validateSpec and is invalid. S3 credentials, when the spec names a Secret, are read by the
 * caller and passed in. Whatever the spec says, it never returns a config for a protected namespace
 * (SPEC I9) nor, unless `allowFileDestination` (the CLI), a file:// destination.
 */
export function resolvePolicy(
  spec: ArchivePolicySpec,
  ref: {
    name: string;
    namespace: string;
    s3Credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    /** `gochive archive` on the user's machine: file:///dir destinations are allowed. */
    allowFileDestination?: boolean;
  },
): PolicyConfig {
  const where = `${ref.namespace}/${ref.name}`;
  const protectedProblem = protectedNamespaceProblem(spec.database, spec.collection);
  if (protectedProblem) throw new Error(`${where}: ${protectedProblem}`);
  const parsed = parseBucketUri(spec.s3.bucket, `${where}: s3.bucket`, {
    allowFile: ref.allowFileDestination ?? false,
  });
  let destination: DestinationConfig;
  if (parsed.kind === 'file') {
    destination = { kind: 'file', root: parsed.root, prefix: '' };
  } else {
    destination = { kind: 's3', bucket: parsed.bucket, prefix: parsed.prefix };
    const s3 = spec.s3;
    if (s3.region !== undefined) destination.region = s3.region;
    if (s3.endpoint !== undefined) destination.endpoint = s3.endpoint;
    if (s3.forcePathStyle !== undefined) destination.forcePathStyle = s3.forcePathStyle;
    if (s3.storageClass !== undefined) destination.storageClass = s3.storageClass;
    if (s3.sse) {
      destination.sse =
        s3.sse.type === 'aws:kms'
          ? { type: 'aws:kms', ...(s3.sse.kmsKeyId !== undefined ? { kmsKeyId: s3.sse.kmsKeyId } : {}) }
          : { type: 'AES256' };
    }
    if (ref.s3Credentials) destination.credentials = { ...ref.s3Credentials };
  }

  const config: PolicyConfig = {
    name: ref.name,
    namespace: ref.namespace,
    database: spec.database,
    collection: spec.collection,
    archiveField: spec.archiveField,
    archiveFieldFormat: spec.archiveFieldFormat ?? 'date',
    ageLimitMs: parseDuration(spec.ageLimit, `${where}: ageLimit`),
    queryLimit: spec.queryLimit ?? 1000,
    archiveCheckIntervalMs: parseDuration(spec.archiveCheckInterval, `${where}: archiveCheckInterval`),
    uploadIntervalMs: parseDuration(spec.s3.uploadInterval, `${where}: s3.uploadInterval`),
    spoolMaxBytes:
      spec.spool?.maxBytes !== undefined
        ? parseBytes(spec.spool.maxBytes, `${where}: spool.maxBytes`)
        : DEFAULT_SPOOL_MAX_BYTES,
    compression: {
      codec: spec.compression?.codec ?? DEFAULT_COMPRESSION.codec,
      level: spec.compression?.level ?? DEFAULT_COMPRESSION.level,
    },
    dryRun: spec.dryRun ?? false,
    suspend: spec.suspend ?? false,
    allowCollectionScan: spec.allowCollectionScan ?? false,
    destination,
  };
  if (config.uploadIntervalMs <= config.archiveCheckIntervalMs) {
    throw new Error(`${where}: s3.uploadInterval must be greater than archiveCheckInterval`);
  }
  if (spec.filter !== undefined && Object.keys(spec.filter).length > 0)
    config.filter = structuredClone(spec.filter);
  if (spec.maxDocumentsPerSecond !== undefined) config.maxDocumentsPerSecond = spec.maxDocumentsPerSecond;
  if (spec.windows !== undefined && spec.windows.length > 0) config.windows = spec.windows.map(toWindow);
  if (spec.throttle) config.throttle = toThrottle(spec.throttle, where);
  if (spec.bundle?.maxDocuments !== undefined) config.bundleMaxDocuments = spec.bundle.maxDocuments;
  if (spec.bundle?.maxBytes !== undefined)
    config.bundleMaxBytes = parseBytes(spec.bundle.maxBytes, `${where}: bundle.maxBytes`);
  if (spec.changeGuardFields !== undefined && spec.changeGuardFields.length > 0)
    config.changeGuardFields = [...spec.changeGuardFields];
  if (spec.s3.expireAfter !== undefined) {
    config.expireAfterMs = parseDuration(spec.s3.expireAfter, `${where}: s3.expireAfter`);
    if (config.expireAfterMs <= config.ageLimitMs) throw new Error(`${where}: ${EXPIRE_AFTER_MESSAGE}`);
  }
  return config;
}

/** Default throttle.checkInterval. */
export const DEFAULT_THROTTLE_CHECK_INTERVAL_MS = 10_000;

function toThrottle(t: NonNullable<ArchivePolicySpec['throttle']>, where: string): ThrottleConfig {
  const out: ThrottleConfig = {
    checkIntervalMs:
      t.checkInterval !== undefined
        ? parseDuration(t.checkInterval, `${where}: throttle.checkInterval`)
        : DEFAULT_THROTTLE_CHECK_INTERVAL_MS,
  };
  if (t.maxReplicationLag !== undefined)
    out.maxReplicationLagMs = parseDuration(t.maxReplicationLag, `${where}: throttle.maxReplicationLag`);
  if (t.maxQueryLatencyMilliseconds !== undefined) out.maxQueryLatencyMs = t.maxQueryLatencyMilliseconds;
  if (out.maxReplicationLagMs === undefined && out.maxQueryLatencyMs === undefined)
    throw new Error(`${where}: throttle needs maxReplicationLag or maxQueryLatencyMilliseconds`);
  return out;
}

function toWindow(
  w: ArchivePolicySpec['windows'] extends (infer T)[] | undefined ? T : never,
): ArchiveWindow {
  const out: ArchiveWindow = { start: w.start, end: w.end, timeZone: w.timeZone ?? 'UTC' };
  if (w.days && w.days.length > 0)
    out.days = [...new Set(w.days.map((d) => DAY_NAMES.indexOf(d)))].sort((a, b) => a - b);
  return out;
}

/**
 * Renders the operator's connection URI template for a hostAddress, e.g.
 * `mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/?tls=true`. Credentials are
 * percent-encoded (a password with `@` or `/` must not break the URI); the host is inserted verbatim.
 * Unknown placeholders are an error so a typo does not silently produce a wrong URI. The result holds
 * secrets: never log it (use util/redact.ts).
 */
export function renderUriTemplate(
  template: string,
  values: { host: string; username?: string; password?: string },
): string {
  const allowed: Record<string, string | undefined> = {
    host: values.host,
    username: values.username === undefined ? undefined : encodeURIComponent(values.username),
    password: values.password === undefined ? undefined : encodeURIComponent(values.password),
  };
  return template.replace(/\{([^{}]*)\}/g, (_m, key: string) => {
    if (!(key in allowed)) {
      throw new Error(`URI template: unknown placeholder {${key}}; use {host}, {username} and {password}`);
    }
    const v = allowed[key];
    if (v === undefined)
      throw new Error(`URI template uses {${key}} but no ${key} was provided (check the credentials Secret)`);
    return v;
  });
}

// ---------------------------------------------------------------------------------------------------
// zod issues -> messages that name the field and the fix

function pathOf(path: readonly PropertyKey[], prefix: string): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function toSpecError(issue: z.core.$ZodIssue, prefix: string): SpecError {
  const path = pathOf(issue.path, prefix);
  const name = path || 'spec';
  const input = (issue as { input?: unknown }).input;
  let text: string;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) text = 'is required';
      else
        text = isDefaultMessage(issue.message)
          ? `must be ${article(issue.expected)}, got ${describe(input)}`
          : `${issue.message}, got ${describe(input)}`;
      break;
    case 'unrecognized_keys':
      return {
        path,
        message: `${name}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (check the spelling and indentation)`,
      };
    case 'too_small':
      text = isDefaultMessage(issue.message) ? tooSmall(issue) : issue.message;
      break;
    case 'too_big':
      text = isDefaultMessage(issue.message) ? tooBig(issue) : issue.message;
      break;
    default:
      text = isDefaultMessage(issue.message)
        ? issue.message.replace(/^Invalid input:?\s*/i, 'is invalid: ')
        : issue.message;
  }
  if (
    input !== undefined &&
    issue.code !== 'invalid_type' &&
    !text.includes(JSON.stringify(input) ?? '') &&
    isScalar(input)
  ) {
    text = `${JSON.stringify(input)} ${text}`;
  }
  return { path, message: `${name}: ${text}` };
}

function isDefaultMessage(m: string): boolean {
  return /^(Invalid|Too (small|big)|Expected)/.test(m);
}
function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}
function article(expected: string): string {
  const map: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
    object: 'a mapping (object)',
    array: 'a list',
  };
  return map[expected] ?? expected;
}
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
function tooSmall(i: z.core.$ZodIssueTooSmall): string {
  if (i.origin === 'string')
    return `must be at least ${String(i.minimum)} character${Number(i.minimum) === 1 ? '' : 's'} long`;
  if (i.origin === 'array') return `must have at least ${String(i.minimum)} item(s)`;
  return `must be ${i.inclusive ? 'at least' : 'greater than'} ${String(i.minimum)}`;
}
function tooBig(i: z.core.$ZodIssueTooBig): string {
  if (i.origin === 'string') return `must be at most ${String(i.maximum)} characters long`;
  if (i.origin === 'array') return `must have at most ${String(i.maximum)} item(s)`;
  return `must be ${i.inclusive ? 'at most' : 'less than'} ${String(i.maximum)}`;
}

/**
 * Where a field has both a generic check failure (pattern, minimum) and one of the schema's own custom
 * checks, keep only the custom ones: they say what is wrong in words and how to fix it.
 */
function preferCustom(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const key = (i: z.core.$ZodIssue) => i.path.map(String).join('\u0000');
  const withCustom = new Set(issues.filter((i) => i.code === 'custom').map(key));
  return issues.filter((i) => i.code === 'custom' || !withCustom.has(key(i)));
}

function dedupe(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors.filter((e) => (seen.has(e.message) ? false : (seen.add(e.message), true)));
}

// The 20 policies of a campaign: which collection, archive-field format, filter, change guard and
// tuning each one has, and the ArchivePolicy spec built from that. Every policy archives its own
// collection to its own prefix, so the checker can attribute every document and bundle (I4).
//
// Ages are bimodal on purpose: "old" documents are 90-400 days old and "new" ones at most 10 days old
// (or in the future), while every ageLimit the campaign ever sets is 30-45 days. So whether a document
// is eligible never depends on the exact instant a cutoff was computed, and the checker can decide it
// exactly from the ledger.
import type { ArchiveFieldFormat } from '../../operator/archiver/config.js';
import type { Rng } from './rng.js';

export const DAY_MS = 86_400_000;
export const OLD_MIN_DAYS = 90;
export const OLD_MAX_DAYS = 400;
export const NEW_MAX_DAYS = 10;
/** Every ageLimit the campaign sets lies in this range (days). */
export const AGE_LIMIT_CHOICES: Array<{ spec: string | number; days: number }> = [
  { spec: '30d', days: 30 },
  { spec: '720h', days: 30 },
  { spec: 2_592_000, days: 30 },
  { spec: '4w2d', days: 30 },
  { spec: '35d', days: 35 },
  { spec: '40d', days: 40 },
  { spec: '6w3d', days: 45 },
];

export type FilterKind = 'none' | 'done' | 'doneOrClosed';
export const STATUSES = ['done', 'open', 'closed'] as const;

export interface PolicyPlan {
  index: number;
  name: string;
  database: string;
  collection: string;
  format: ArchiveFieldFormat;
  /** Dotted path of the archive field in the document ('_id' for the objectId format). */
  archiveField: string;
  /** Policies with a filter select on `status`; their edits switch between the two filter kinds. */
  filterable: boolean;
  guard: boolean;
  dryRun: boolean;
}

export function filterOf(kind: FilterKind): Record<string, unknown> | undefined {
  if (kind === 'done') return { status: 'done' };
  if (kind === 'doneOrClosed') return { status: { $in: ['done', 'closed'] } };
  return undefined;
}

const FORMATS: Array<{ format: ArchiveFieldFormat; field: string }> = [
  { format: 'date', field: 'at' },
  { format: 'date', field: 'meta.at' },
  { format: 'epochSeconds', field: 'ts' },
  { format: 'epochMillis', field: 'tms' },
  { format: 'objectId', field: '_id' },
];

export function makePlans(count: number, runId: string): PolicyPlan[] {
  const plans: PolicyPlan[] = [];
  for (let i = 0; i < count; i++) {
    const f = FORMATS[i % FORMATS.length]!;
    plans.push({
      index: i,
      name: `p${String(i).padStart(2, '0')}`,
      // Two databases, so a policy's database matters too.
      database: `chaos_${runId}_${i % 2 === 0 ? 'a' : 'b'}`,
      collection: `c${String(i).padStart(2, '0')}`,
      format: f.format,
      archiveField: f.field,
      filterable: i % 4 === 1 || i % 4 === 3,
      guard: i % 10 !== 3 && i % 10 !== 7,
      dryRun: i === count - 1 && count >= 10,
    });
  }
  return plans;
}

/** The tunable part of a spec, which the campaign edits. */
export interface Tuning {
  ageLimit: { spec: string | number; days: number };
  queryLimit: number;
  archiveCheckInterval: number | string;
  uploadInterval: number | string;
  filterKind: FilterKind;
  bundleMaxDocuments?: number;
  bundleMaxBytes?: string;
  spoolMaxBytes?: string;
  compression?: { codec: 'gzip' | 'none'; level?: number };
  maxDocumentsPerSecond?: number;
  suspend: boolean;
}

export function initialTuning(p: PolicyPlan, rng: Rng): Tuning {
  const t: Tuning = {
    ageLimit: AGE_LIMIT_CHOICES[p.index % 4]!,
    queryLimit: rng.pick([20, 50, 100, 200, 500]),
    archiveCheckInterval: rng.pick([1, 1, 2, '1s', '2s']),
    uploadInterval: rng.pick([3, 4, 5, '4s', '6s']),
    filterKind: p.filterable ? (p.index % 4 === 1 ? 'done' : 'doneOrClosed') : 'none',
    suspend: false,
  };
  if (rng.chance(0.3)) t.bundleMaxDocuments = rng.pick([50, 100, 250]);
  if (rng.chance(0.15)) t.bundleMaxBytes = rng.pick(['64Ki', '128Ki']);
  if (rng.chance(0.25)) t.spoolMaxBytes = rng.pick(['128Ki', '256Ki', '1Mi']);
  if (rng.chance(0.3))
    t.compression = rng.pick([
      { codec: 'none' as const },
      { codec: 'gzip' as const, level: 1 },
      { codec: 'gzip' as const, level: 9 },
    ]);
  if (p.index === 5) t.maxDocumentsPerSecond = 150;
  return t;
}

export interface Connection {
  mongoSecret: string;
  s3Secret: string;
  bucket: string;
  s3Endpoint: string;
  region: string;
}

export function prefixOf(p: PolicyPlan): string {
  return `${p.name}/`;
}

/** The ArchivePolicy spec for a plan and its current tuning. */
export function specOf(p: PolicyPlan, t: Tuning, c: Connection): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    uriSecretRef: { name: c.mongoSecret, key: 'uri' },
    ageLimit: t.ageLimit.spec,
    queryLimit: t.queryLimit,
    archiveCheckInterval: t.archiveCheckInterval,
    collection: p.collection,
    database: p.database,
    archiveField: p.archiveField,
    archiveFieldFormat: p.format,
    s3: {
      bucket: `${c.bucket}/${prefixOf(p)}`,
      uploadInterval: t.uploadInterval,
      endpoint: c.s3Endpoint,
      forcePathStyle: true,
      region: c.region,
      credentialsSecretRef: { name: c.s3Secret },
    },
    suspend: t.suspend,
    dryRun: p.dryRun,
  };
  const filter = filterOf(t.filterKind);
  if (filter) spec.filter = filter;
  if (p.guard) spec.changeGuardFields = ['rev'];
  const bundle: Record<string, unknown> = {};
  if (t.bundleMaxDocuments !== undefined) bundle.maxDocuments = t.bundleMaxDocuments;
  if (t.bundleMaxBytes !== undefined) bundle.maxBytes = t.bundleMaxBytes;
  if (Object.keys(bundle).length) spec.bundle = bundle;
  if (t.spoolMaxBytes !== undefined) spec.spool = { maxBytes: t.spoolMaxBytes };
  if (t.compression) spec.compression = t.compression;
  if (t.maxDocumentsPerSecond !== undefined) spec.maxDocumentsPerSecond = t.maxDocumentsPerSecond;
  return spec;
}

/** Seconds of a duration as the campaign writes them (integers or a single-unit string). */
export function seconds(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)([smh])$/.exec(v);
  if (!m) throw new Error(`plan: unexpected duration ${v}`);
  return Number(m[1]) * (m[2] === 's' ? 1 : m[2] === 'm' ? 60 : 3600);
}

/** A random edit of one tunable (always a valid spec). Returns a short description. */
export function randomEdit(p: PolicyPlan, t: Tuning, rng: Rng): { tuning: Tuning; what: string } {
  const next: Tuning = { ...t };
  const choices = [
    'queryLimit',
    'intervals',
    'ageLimit',
    'bundle',
    'compression',
    ...(p.filterable ? ['filter', 'filter'] : []),
  ];
  const what = rng.pick(choices);
  switch (what) {
    case 'queryLimit':
      next.queryLimit = rng.pick([10, 20, 50, 100, 200, 500, 1000]);
      return { tuning: next, what: `queryLimit=${next.queryLimit}` };
    case 'intervals': {
      next.archiveCheckInterval = rng.pick([1, 2, '1s']);
      next.uploadInterval = rng.pick([3, 4, 5, 6, '5s']);
      return {
        tuning: next,
        what: `archiveCheckInterval=${next.archiveCheckInterval} uploadInterval=${next.uploadInterval}`,
      };
    }
    case 'ageLimit':
      next.ageLimit = rng.pick(AGE_LIMIT_CHOICES);
      return { tuning: next, what: `ageLimit=${next.ageLimit.spec}` };
    case 'bundle':
      next.bundleMaxDocuments = rng.pick([undefined, 20, 100, 500]);
      return { tuning: next, what: `bundle.maxDocuments=${next.bundleMaxDocuments ?? 'unset'}` };
    case 'compression':
      next.compression = rng.pick([
        undefined,
        { codec: 'none' as const },
        { codec: 'gzip' as const, level: 1 },
      ]);
      return { tuning: next, what: `compression=${JSON.stringify(next.compression ?? 'default')}` };
    default:
      next.filterKind = t.filterKind === 'done' ? 'doneOrClosed' : 'done';
      return { tuning: next, what: `filter=${JSON.stringify(filterOf(next.filterKind))}` };
  }
}

/** Specs the API server must refuse (people type the wrong thing). */
export function badEdits(): Array<{ what: string; mutate: (spec: Record<string, unknown>) => void }> {
  return [
    {
      what: 'uploadInterval <= archiveCheckInterval',
      mutate: (s) => (((s.s3 as Record<string, unknown>).uploadInterval = 1), (s.archiveCheckInterval = 2)),
    },
    { what: 'ageLimit 0d', mutate: (s) => (s.ageLimit = '0d') },
    { what: 'ageLimit "92 days"', mutate: (s) => (s.ageLimit = '92 days') },
    { what: 'queryLimit -1', mutate: (s) => (s.queryLimit = -1) },
    { what: 'filter with $where', mutate: (s) => (s.filter = { $where: 'sleep(1000) || true' }) },
    { what: 'unknown archiveFieldFormat', mutate: (s) => (s.archiveFieldFormat = 'isoString') },
    { what: 'archiveField starting with $', mutate: (s) => (s.archiveField = '$at') },
    { what: 'hostAddress and uriSecretRef both set', mutate: (s) => (s.hostAddress = 'incubator') },
  ];
}

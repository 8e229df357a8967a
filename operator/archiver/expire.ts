// Archive expiration: one pass that removes the bundles under a prefix whose newest document is older
// than a cutoff. Shared by the worker (spec.s3.expireAfter, expire-stage.ts) and `gochive prune`.
//
// What a pass may remove, and nothing else:
// - only objects directly under the prefix or directly in its own YYYY/MM/DD/ folders
//   (expire-listing.ts), whose key parses to exactly that prefix: never another prefix's keys, even one
//   that starts with this prefix;
// - only when the age of the newest document can be read: the key's largest archive-field value
//   (gochive), or the upload time of an original-format key (`archive_<upload time>`), which is later
//   than every document it holds. Other objects are kept, counted and logged;
// - with `match`, only bundles whose manifest says so (policy, database, collection), and whose
//   manifest agrees that the newest document is before the cutoff: an unreadable manifest, or an
//   original-format bundle (it has none), is kept;
// - never a key `inFlight` returns (the ledger: bundles whose documents are not yet confirmed deleted
//   from MongoDB). It is read after listing: a bundle's ledger entry is written before its upload
//   starts, so any bundle the listing saw that is still in flight is in the ledger read afterwards;
// - at most `maxBundles` per pass, oldest date folder first; `truncated` says more may be expired.
// With `dryRun` nothing is removed: the result lists what would have been.
import { parseBundleKey } from '../bundle/keys.js';
import type { BundleManifest } from '../bundle/manifest.js';
import { readHead } from '../restore/catalog.js';
import type { Destination } from '../storage/destination.js';
import type { Logger } from '../util/logger.js';
import { mapLimit } from '../util/map-limit.js';
import { errorMessage } from '../util/redact.js';
import { listExpiryCandidates } from './expire-listing.js';
import type { ExpiredBundle, ExpireResult, KeptReason } from './expire-result.js';

export type { ExpiredBundle, ExpireResult, KeptReason } from './expire-result.js';
export { describeExpiry } from './expire-result.js';

/** Which bundles a pass may remove, by their manifests (absent fields match anything). */
export interface ExpireMatch {
  policy?: string;
  namespace?: string;
  database?: string;
  collection?: string;
}

export interface ExpireOptions {
  dest: Destination;
  /** '' or ends with '/'. */
  prefix: string;
  /** Bundles whose newest document is before this instant are expired. */
  cutoff: Date;
  dryRun: boolean;
  match?: ExpireMatch;
  /** Keys that must stay (bundles in flight), read once the listing is done. */
  inFlight?: () => Promise<ReadonlySet<string>>;
  /** Also keep bundles created (per key) after this instant: `gochive prune`, which sees no ledger. */
  createdBefore?: Date;
  /** Bound per pass (default 1000). */
  maxBundles?: number;
  log?: Logger;
  stopping?: () => boolean;
  /** Called after each removal (not in a dry run). */
  onRemoved?: (b: ExpiredBundle) => void;
}

const DEFAULT_MAX_BUNDLES = 1000;
const PARALLEL = 8;
const KEPT_KEYS_SHOWN = 20;

interface Candidate extends ExpiredBundle {
  createdAt: Date;
  legacy: boolean;
}

export async function expireBundles(o: ExpireOptions): Promise<ExpireResult> {
  const max = o.maxBundles ?? DEFAULT_MAX_BUNDLES;
  const res: ExpireResult = {
    cutoff: o.cutoff.toISOString(),
    dryRun: o.dryRun,
    expired: [],
    bytes: 0,
    kept: { ageUnreadable: 0, manifestUnreadable: 0, notSelected: 0, inFlight: 0, tooRecent: 0 },
    keptKeys: [],
    truncated: false,
  };
  const keep = (key: string, reason: KeptReason): void => {
    res.kept[reason]++;
    if (res.keptKeys.length < KEPT_KEYS_SHOWN) res.keptKeys.push({ key, reason });
  };

  const candidates: Candidate[] = [];
  // The cutoff's own day folder can hold expired bundles (minimum before the cutoff, same day).
  for await (const obj of listExpiryCandidates(o.dest, o.prefix, o.cutoff)) {
    if (o.stopping?.()) break;
    const parsed = parseBundleKey(obj.key);
    if (!parsed) {
      if (obj.dated) keep(obj.key, 'ageUnreadable'); // loose objects beside the date folders are not ours
      continue;
    }
    if (parsed.prefix !== o.prefix) continue; // defence in depth: the listing yields none
    const newest = parsed.kind === 'gochive' ? parsed.archiveFieldMax : parsed.createdAt;
    if (newest.getTime() >= o.cutoff.getTime()) continue;
    if (candidates.length >= max) {
      res.truncated = true;
      break;
    }
    candidates.push({
      key: obj.key,
      bytes: obj.size,
      newest: newest.toISOString(),
      createdAt: parsed.createdAt,
      legacy: parsed.kind === 'legacy',
    });
  }

  const inFlight = (await o.inFlight?.()) ?? new Set<string>();
  // A few bundles at a time (a manifest GET and a DELETE each); after a failure or a stop no new one
  // starts, and the pass ends with the error or as truncated.
  let failed = false;
  await mapLimit(candidates, PARALLEL, async (c) => {
    if (failed || o.stopping?.()) {
      res.truncated = true;
      return;
    }
    try {
      await settle(c);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
  res.expired.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)); // oldest folder first
  return res;

  async function settle(c: Candidate): Promise<void> {
    if (inFlight.has(c.key)) return keep(c.key, 'inFlight');
    if (o.createdBefore && c.createdAt.getTime() >= o.createdBefore.getTime())
      return keep(c.key, 'tooRecent');
    if (o.match && Object.values(o.match).some((v) => v !== undefined)) {
      const why = await manifestProblem(o.dest, c, o.match, o.cutoff, o.log);
      if (why) return keep(c.key, why);
    }
    const b: ExpiredBundle = { key: c.key, bytes: c.bytes, newest: c.newest };
    if (!o.dryRun) {
      await o.dest.deleteObject(c.key);
      o.onRemoved?.(b);
    }
    res.expired.push(b);
    res.bytes += b.bytes;
  }
}

/** Why the manifest forbids removing `c` under `match`, or undefined when it allows it. */
async function manifestProblem(
  dest: Destination,
  c: Candidate,
  match: ExpireMatch,
  cutoff: Date,
  log?: Logger,
): Promise<KeptReason | undefined> {
  if (c.legacy) return 'manifestUnreadable'; // the original format has no manifest to attribute it by
  let m: BundleManifest | undefined;
  try {
    m = (await readHead(dest, { key: c.key, size: c.bytes })).manifest;
  } catch (err) {
    log?.warn({ key: c.key, err: errorMessage(err) }, 'expiry: cannot read the manifest; the bundle is kept');
    return 'manifestUnreadable';
  }
  if (!m) return 'manifestUnreadable';
  if (match.policy !== undefined && m.policy.name !== match.policy) return 'notSelected';
  if (match.namespace !== undefined && m.policy.namespace !== match.namespace) return 'notSelected';
  if (match.database !== undefined && m.database !== match.database) return 'notSelected';
  if (match.collection !== undefined && m.collection !== match.collection) return 'notSelected';
  const max = m.archiveFieldRange?.max;
  if (max !== undefined && Date.parse(max) >= cutoff.getTime()) return 'notSelected';
  return undefined;
}

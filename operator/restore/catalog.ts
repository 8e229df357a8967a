// Finds the bundles a command works on: lists keys under the prefix (or takes --key) — with --to, no date
// folder after it (ranged-list.ts) — keeps those whose key says they may overlap the time range, and — only when a filter needs it — reads their manifests
// with a small range GET (the manifest is the first tar entry), never the whole object.
import { parseBundleKey, keyMayOverlap, type ParsedBundleKey } from '../bundle/keys.js';
import type { BundleManifest } from '../bundle/manifest.js';
import { BundleCorruptError, readBundleHead, type BundleFormat } from '../bundle/reader.js';
import type { Destination } from '../storage/destination.js';
import { StorageError } from '../storage/errors.js';
import type { SourceSelection } from './args.js';
import { listUpTo } from './ranged-list.js';

export interface BundleRef {
  key: string;
  size: number;
  lastModified?: Date;
  parsed?: ParsedBundleKey;
}

export interface BundleHead {
  format: BundleFormat;
  manifest?: BundleManifest;
}

const HEAD_BYTES = 64 * 1024;

/** Bundle objects under the selection's prefix (or its explicit keys), in key order, filtered by key. */
export async function selectBundles(
  dest: Destination,
  sel: SourceSelection,
): Promise<{ refs: BundleRef[]; ignored: number }> {
  const refs: BundleRef[] = [];
  let ignored = 0;
  if (sel.keys) {
    for (const key of sel.keys) {
      const head = await dest.headObject(key);
      if (!head) throw new StorageError('NotFound', `no object ${key} in ${dest.description}`);
      const parsed = parseBundleKey(key);
      refs.push({ key, size: head.size, ...(parsed ? { parsed } : {}) });
    }
    return { refs, ignored };
  }
  for await (const o of listUpTo(dest, sel.prefix, sel.to)) {
    const parsed = parseBundleKey(o.key);
    if (!parsed) {
      ignored++; // not a bundle (notes, sidecars of other tools…)
      continue;
    }
    if (!keyMayOverlap(parsed, sel.from, sel.to)) continue;
    refs.push({
      key: o.key,
      size: o.size,
      ...(o.lastModified ? { lastModified: o.lastModified } : {}),
      parsed,
    });
  }
  refs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)); // a walk of folders may interleave
  return { refs, ignored };
}

/** Reads the manifest (gochive) or detects the original format, with a range GET of the first bytes. */
export async function readHead(dest: Destination, ref: BundleRef): Promise<BundleHead> {
  const end = Math.min(ref.size, HEAD_BYTES) - 1;
  if (end < 0) throw new BundleCorruptError('the object is empty', ref.key);
  try {
    return await readBundleHead(await dest.getObject(ref.key, { start: 0, end }), { key: ref.key });
  } catch (err) {
    // A manifest longer than the range (never written by gochive, but be tolerant): read it all.
    if (err instanceof BundleCorruptError && ref.size > HEAD_BYTES) {
      return readBundleHead(await dest.getObject(ref.key), { key: ref.key });
    }
    throw err;
  }
}

/** Whether the manifest matches the selection's database/collection/policy and time range. */
export function headMatches(head: BundleHead, sel: SourceSelection): boolean {
  const m = head.manifest;
  if (!m) return true; // original-format bundles record none of these; the prefix selects them
  if (sel.database && m.database !== sel.database) return false;
  if (sel.collection && m.collection !== sel.collection) return false;
  if (sel.policy && m.policy.name !== sel.policy) return false;
  if (sel.namespace && m.policy.namespace !== sel.namespace) return false;
  if (m.archiveFieldRange) {
    if (sel.from && Date.parse(m.archiveFieldRange.max) < sel.from.getTime()) return false;
    if (sel.to && Date.parse(m.archiveFieldRange.min) >= sel.to.getTime()) return false;
  }
  return true;
}

export function needsManifestFilter(sel: SourceSelection): boolean {
  return Boolean(sel.database || sel.collection || sel.policy || sel.namespace);
}

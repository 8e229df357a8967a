// Which bundles can hold a given `_id`: a gochive manifest records the bundle's smallest and largest
// `_id` (archiver/id-range.ts), so `cat --id` (or a filter pinning `_id`) reads the small manifest of
// each bundle and then only the bundles whose range holds one of the values. Bundles without a range
// (original-format bundles, ones written before gochive recorded it, mixed `_id` types) are read.
import { BSON } from 'mongodb';
import { compareBson } from '../bundle/bson-order.js';
import type { BundleManifest } from '../bundle/manifest.js';

/** The manifest's `idRange` as BSON values, or undefined when absent or unreadable. */
export function manifestIdRange(m: BundleManifest | undefined): { min: unknown; max: unknown } | undefined {
  if (!m?.idRange) return undefined;
  try {
    const r = BSON.EJSON.deserialize({ min: m.idRange.min, max: m.idRange.max } as BSON.Document, {
      relaxed: false,
    });
    return { min: r.min, max: r.max };
  } catch {
    return undefined;
  }
}

/**
 * False only when the manifest proves the bundle holds none of the `_id`s of some set (each set is one
 * condition: every `--id` value, or the values a filter pins `_id` to).
 */
export function mayHoldIds(m: BundleManifest | undefined, sets: unknown[][]): boolean {
  const range = manifestIdRange(m);
  if (!range) return true;
  return sets.every((ids) =>
    ids.some((id) => compareBson(range.min, id) <= 0 && compareBson(id, range.max) <= 0),
  );
}

// The optional `filter` of a policy is an extra MongoDB query ANDed with the age condition. Operators
// that run server-side JavaScript are refused: they are slow, often disabled on managed clusters, and a
// policy that deletes documents must not execute arbitrary code.
//
// Its size is capped: the filter is copied into every bundle in flight in status.ledger (up to 16), so an
// uncapped one could push the ArchivePolicy past the API server's ~1.5 MiB object limit, and every copy
// (and every query built from it) costs the operator memory.
import { BSON } from 'mongodb';

export const FORBIDDEN_FILTER_OPERATORS = ['$where', '$function', '$accumulator'] as const;

/** Deepest nesting a filter may have (keeps validation and CEL-free checks bounded). */
export const FILTER_MAX_DEPTH = 32;

/** Paths (like `$or[1].$where`) of every forbidden operator anywhere in `filter`, including inside `$expr`. */
export function forbiddenFilterOperators(filter: unknown): string[] {
  const found: string[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > FILTER_MAX_DEPTH) {
      found.push(`${path || '(root)'} (nested deeper than ${FILTER_MAX_DEPTH} levels)`);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${path}[${i}]`, depth + 1));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        const p = path ? `${path}.${k}` : k;
        if ((FORBIDDEN_FILTER_OPERATORS as readonly string[]).includes(k)) found.push(p);
        walk(child, p, depth + 1);
      }
    }
  };
  walk(filter, '', 0);
  return found;
}

/**
 * Largest filter, in bytes of canonical Extended JSON (the form stored with each bundle in flight):
 * 16 ledger entries plus the spec and kubectl's last-applied copy stay near 0.6 MiB, well under the
 * API server's ~1.5 MiB object limit.
 */
export const FILTER_MAX_BYTES = 32 * 1024;

/** Size of `filter` in bytes of canonical Extended JSON, as the ledger stores it. */
export function filterEjsonBytes(filter: unknown): number {
  return Buffer.byteLength(BSON.EJSON.stringify(filter as BSON.Document, { relaxed: false }), 'utf8');
}

/** Why `filter` is too large, or undefined when it fits. */
export function filterSizeProblem(filter: unknown): string | undefined {
  const bytes = filterEjsonBytes(filter);
  if (bytes <= FILTER_MAX_BYTES) return undefined;
  return `is ${bytes} bytes as canonical Extended JSON, more than the ${FILTER_MAX_BYTES} allowed (it is stored with every bundle in flight); select by a field or a range, or split the policy, instead of listing many values`;
}

/**
 * A `{ tag: { $nin: [...] } }` filter of exactly `bytes` bytes of canonical Extended JSON: the largest
 * allowed filter in tests (unit, API server, operator memory, CLI) is `filterOfSize(FILTER_MAX_BYTES)`.
 */
export function filterOfSize(bytes: number): Record<string, unknown> {
  const values: string[] = [];
  const overhead = filterEjsonBytes({ tag: { $nin: [] } }); // {"tag":{"$nin":[]}}
  let left = bytes - overhead;
  // Each value costs its length + 2 quotes + 1 comma (none before the first).
  while (left > 0) {
    const len = Math.min(64, left - (values.length ? 3 : 2));
    if (len < 1) break;
    values.push(`v${String(values.length).padStart(Math.max(0, len - 1), '0')}`.slice(0, len));
    left -= len + (values.length > 1 ? 3 : 2);
  }
  return { tag: { $nin: values } };
}

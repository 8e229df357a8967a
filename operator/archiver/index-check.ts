// Before the first fetch: the age field must lead an index, or every fetch and delete re-check is a
// collection scan (the original README warns about exactly this). Without one the policy is Blocked
// with a message naming the index to create, unless allowCollectionScan says the scan is acceptable.
import type { Collection, Document } from 'mongodb';
import { agePath, type EligibilityTarget } from './eligibility.js';

export type IndexCheck =
  | { ok: true; indexName?: string; indexes: Document[] }
  | { ok: false; reason: 'MissingIndex' | 'CollectionNotFound'; message: string; indexes: Document[] };

export async function checkArchiveIndex(
  coll: Collection,
  t: EligibilityTarget,
  allowCollectionScan: boolean,
): Promise<IndexCheck> {
  let indexes: Document[];
  try {
    indexes = await coll.listIndexes().toArray();
  } catch (err) {
    // NamespaceNotFound: nothing to archive yet; the worker retries later.
    if ((err as { code?: number }).code === 26) {
      return {
        ok: false,
        reason: 'CollectionNotFound',
        message: `collection ${t.database}.${t.collection} does not exist (yet)`,
        indexes: [],
      };
    }
    throw err;
  }
  const p = agePath(t);
  if (p === '_id') return { ok: true, indexName: '_id_', indexes };
  const leading = indexes.find((ix) => {
    const key = ix.key as Document | undefined;
    if (!key) return false;
    const first = Object.keys(key)[0];
    // A partial or sparse index may not cover every eligible document; only a plain ascending or
    // descending index is known to serve the range query.
    return first === p && (key[first] === 1 || key[first] === -1) && !ix.partialFilterExpression;
  });
  if (leading) return { ok: true, indexName: String(leading.name), indexes };
  if (allowCollectionScan) return { ok: true, indexes };
  return {
    ok: false,
    reason: 'MissingIndex',
    message:
      `no index on ${t.database}.${t.collection} starts with '${p}', so every fetch would scan the whole collection; ` +
      `create one with db.getSiblingDB(${JSON.stringify(t.database)}).${collectionAccessor(t.collection)}.createIndex({ ${JSON.stringify(p)}: 1 }) ` +
      `or set allowCollectionScan: true`,
    indexes,
  };
}

function collectionAccessor(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : `getCollection(${JSON.stringify(name)})`;
}

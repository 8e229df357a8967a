// The delete records of a bundle read back from the store, for a worker that finishes a bundle another
// worker (a replaced pod, an empty spool) uploaded. The bundle holds every document as fetched, so its
// `_id`, age value and change-guard values are exactly what the fetch recorded in the spool; the
// cutoff is the ledger entry's (the latest the bundle's fetches used). Streamed: never a whole bundle
// in memory.
import { openBundle } from '../bundle/reader.js';
import type { Destination } from '../storage/destination.js';
import { docMeta } from './fetch.js';
import { targetOf } from './delete.js';
import type { LedgerBundle } from './ledger.js';
import type { IdRecord } from './spool.js';

export async function* storedIdRecords(dest: Destination, b: LedgerBundle): AsyncGenerator<IdRecord> {
  const bundle = await openBundle(await dest.getObject(b.key), { key: b.key });
  try {
    const m = bundle.manifest;
    if (!m || m.bundleId !== b.id)
      throw new Error(
        `${b.key}: the object is not bundle ${b.id} (manifest says ${m?.bundleId ?? 'nothing'})`,
      );
    const target = targetOf(b);
    let n = 0;
    for await (const doc of bundle.documents()) {
      n++;
      const meta = docMeta(doc, target, b.changeGuardFields);
      // Every archived document had readable meta at fetch time; one without is left alone (skipped).
      if (!meta) continue;
      yield {
        id: { type: meta.id.type, value: Buffer.from(meta.id.value) },
        cutoffMs: b.cutoffMs,
        ageMs: meta.ageMs,
        ...(meta.guards ? { guards: guardMap(meta.guards) } : {}),
        end: n,
      };
    }
    if (n !== b.documents)
      throw new Error(`${b.key}: holds ${n} documents, the ledger recorded ${b.documents}`);
  } finally {
    bundle.close();
  }
}

function guardMap(guards: NonNullable<ReturnType<typeof docMeta>>['guards']): Map<number, IdRecord['id']> {
  const m = new Map<number, IdRecord['id']>();
  guards!.forEach((v, i) => {
    if (v) m.set(i, { type: v.type, value: Buffer.from(v.value) });
  });
  return m;
}

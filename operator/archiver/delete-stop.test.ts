// A stop that arrives while a delete chunk waits its turn (pacing, or the throttle) sends nothing more:
// "no new delete starts" holds, and the bundle is left incomplete for the next worker (which recounts).
import type { Collection, Document } from 'mongodb';
import { deleteBundleDocuments } from './delete.js';
import { T } from './raw-bson.js';
import type { IdRecord } from './spool.js';

function int32(n: number): IdRecord {
  const value = Buffer.alloc(4);
  value.writeInt32LE(n);
  return { id: { type: T.int32, value }, cutoffMs: Date.now(), ageMs: 0, end: 0 };
}

async function* records(n: number): AsyncIterable<IdRecord> {
  for (let i = 0; i < n; i++) yield int32(i);
}

test('a stop during the wait before a chunk sends no more deletes', async () => {
  const sent: Document[] = [];
  const coll = {
    deleteMany: async (filter: Document) => {
      sent.push(filter);
      return { deletedCount: 10 };
    },
  } as unknown as Collection;
  let stopping = false;
  let waits = 0;
  const res = await deleteBundleDocuments(
    coll,
    { database: 'd', collection: 'c', archiveField: 'createdAt', archiveFieldFormat: 'date' },
    undefined,
    records(30),
    {
      chunkDocuments: 10,
      chunkBytes: 1 << 20,
      recount: false,
      shouldStop: () => stopping,
      // The second chunk waits (throttled) and the worker is stopped meanwhile.
      beforeChunk: async () => {
        if (++waits === 2) stopping = true;
      },
    },
  );
  expect(sent).toHaveLength(1);
  expect(res).toEqual({ deleted: 10, skipped: 0, complete: false });
});

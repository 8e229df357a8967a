// Settles, in a spool no worker of this process is using, the delete chunks whose delete was sent by a
// worker killed before it journaled the answer. Only MongoDB knows whether such a delete applied, and
// otherwise only a worker resuming the bundle asks it; when another replica holds the policy from then
// on, that never happens and those deletes would never be counted. The operator's journal sweep calls
// this; it reads MongoDB (never writes) and rewrites the journal under the spool lock, so the chunk is
// counted once, here or by a later worker, never both.
import type { MongoClient } from 'mongodb';
import { addCounters } from './counters.js';
import { settleSentChunk } from './delete.js';
import { Journal, type JournalBundle } from './journal.js';
import { Spool, SpoolLockedError } from './spool.js';

/**
 * How long after it was sent a chunk is left alone. The server may still be executing a delete whose
 * client was killed (FerretDB under load took seconds in the chaos campaign): counting before it lands
 * would call its documents skipped, or the delete unsent.
 */
export const SETTLE_AFTER_MS = 30_000;

/**
 * A chunk's delete was sent (journaled just before sending) and its answer never journaled, at least
 * `minAgeMs` ago (chunks journaled before deleteIssuedAt existed count as old).
 */
export function sentNotJournaled(b: JournalBundle, now = Date.now(), minAgeMs = SETTLE_AFTER_MS): boolean {
  return (
    b.state === 'deleting' &&
    b.deleteIssued !== undefined &&
    b.deleteIssued > (b.deleteOffset ?? 0) &&
    now - (b.deleteIssuedAt ?? 0) >= minAgeMs
  );
}

export interface SettledChunk {
  bundle: string;
  /** 'not-applied': the delete never reached MongoDB; the chunk counts as not sent. */
  result: { deleted: number; skipped: number } | 'not-applied';
}

/**
 * Settles every such chunk of the policy's spool; `connect` gives a connected client for the policy.
 * Returns what it settled (nothing when a worker holds the spool or nothing is pending).
 */
export async function settleSentDeletes(
  spoolRoot: string,
  namespace: string,
  name: string,
  /** The journal the caller read (settled only if the spool still holds that one). */
  journalId: string,
  connect: () => Promise<MongoClient>,
  minAgeMs = SETTLE_AFTER_MS,
): Promise<SettledChunk[]> {
  let spool: Spool;
  try {
    spool = await Spool.open(spoolRoot, namespace, name, true);
  } catch (err) {
    if (err instanceof SpoolLockedError) return []; // a worker runs it: it settles its own chunks
    throw err;
  }
  let client: MongoClient | undefined;
  try {
    // Read again under the lock: a worker may have run in between.
    const journal = await Journal.read(spool.dir);
    const now = Date.now();
    const pending =
      journal?.id === journalId ? journal.bundles.filter((b) => sentNotJournaled(b, now, minAgeMs)) : [];
    if (!journal || !pending.length) return [];
    client = await connect();
    const settled: SettledChunk[] = [];
    for (const b of pending) {
      const coll = client.db(b.target.database).collection(b.target.collection);
      const result = await settleSentChunk(coll, b, spool.idsFile(b.id));
      if (result === 'not-applied') {
        b.deleteIssued = b.deleteOffset ?? 0;
      } else {
        b.deleteOffset = b.deleteIssued;
        b.deleted = (b.deleted ?? 0) + result.deleted;
        b.skipped = (b.skipped ?? 0) + result.skipped;
        journal.data.lifetime = addCounters(journal.lifetime, {
          documentsDeleted: result.deleted,
          documentsSkipped: result.skipped,
        });
      }
      settled.push({ bundle: b.id, result });
    }
    await journal.save();
    return settled;
  } finally {
    await client?.close().catch(() => undefined);
    await spool.unlock();
  }
}

// Recovery: what a worker does before anything else — take the policy over in the ledger (a new epoch)
// and rebuild its list of bundles from the ledger first and the spool second. The ledger is the truth
// about bundles in flight; the spool is a cache, trusted only when no other worker ran the policy since
// it was written (its journal's epoch is the ledger's previous one). A ledger bundle the spool has no
// copy of is finished from the store (`remote`).
import { START_POSITION } from './fetch.js';
import { Journal, type JournalBundle, type JournalFingerprint } from './journal.js';
import { newEpoch, type Ledger, type LedgerBundle } from './ledger.js';
import type { Spool } from './spool.js';
import type { Logger } from '../util/logger.js';

export interface RecoveryOptions {
  spool: Spool;
  ledger: Ledger;
  fingerprint: JournalFingerprint;
  /** metadata.uid of the policy: a spool written for another object is not trusted. */
  policyUid?: string;
  log: Logger;
  now: () => number;
}

export interface Recovered {
  journal: Journal;
  /** The ledger listed these as uploaded: deletes may have been sent for them already (recount). */
  uploaded: string[];
  /** Bundles the ledger listed (finished before anything is fetched). */
  inFlight: number;
}

export async function recoverPolicy(o: RecoveryOptions): Promise<Recovered> {
  const { spool } = o;
  const { journal, fresh, positionReset, uidChanged } = await Journal.load(
    spool.dir,
    o.fingerprint,
    o.policyUid,
  );
  if (positionReset)
    o.log.info('policy selection changed since the last run: paging restarts from the oldest document');
  // Take the policy over under a new epoch, so a spool written under another one knows it is stale.
  const epoch = newEpoch();
  let previous: string | undefined;
  const view = await o.ledger.step((cur) => {
    previous = cur.epoch;
    return { bundles: cur.bundles, epoch };
  });
  const trusted =
    !fresh && !uidChanged && journal.data.epoch !== undefined && journal.data.epoch === previous;
  const local = new Map(trusted ? journal.bundles.map((b) => [b.id, b]) : []);
  for (const id of await spool.bundleIds()) if (!local.has(id)) await spool.removeBundle(id);

  const inFlight: JournalBundle[] = [];
  for (const e of view.bundles) {
    const b = local.get(e.id);
    local.delete(e.id);
    if (b && (await localCopyIntact(spool, b, e))) {
      inFlight.push({ ...b, state: e.state, ledger: e });
    } else {
      if (b) await spool.removeBundle(b.id);
      inFlight.push(remoteBundle(e, o.now()));
    }
  }
  const unrecorded: JournalBundle[] = [];
  for (const b of local.values()) {
    if ((b.state === 'open' || b.state === 'sealing') && b.commit.docs > 0) {
      // Chaos finding 9: a half-written tail used to stay until the next fetch reopened the bundle,
      // so an upload tick that came first (MongoDB down) could not seal it.
      await spool.cutToCommitted(b.id, b.commit);
      unrecorded.push(b);
    } else if (b.state === 'sealed') {
      if ((await spool.fileSize(b.file!)) !== b.size) {
        // The bundle file is gone or damaged; nothing was deleted, so rebuild it from the spool.
        o.log.warn({ bundle: b.id }, 'sealed bundle file missing; rebuilding it from the spool');
        b.state = 'open';
        delete b.key;
        delete b.file;
        delete b.size;
        delete b.sha256Base64;
      }
      unrecorded.push(b);
    } else {
      // Empty, or past `sealed` but no longer in the ledger: finished (or dropped) already.
      await spool.removeBundle(b.id);
    }
  }
  journal.data.bundles = [...inFlight, ...unrecorded];
  if (!trusted) {
    if (!fresh)
      o.log.info('another worker ran this policy since this spool was written: the spool is dropped');
    restartPass(journal);
  }
  if (inFlight.length) {
    o.log.info(
      {
        bundles: inFlight.map((b) => ({
          id: b.id,
          key: b.key,
          state: b.state,
          documents: b.commit.docs,
          fromStore: b.remote === true,
        })),
      },
      'finishing the bundles the ledger lists',
    );
  }
  journal.data.epoch = epoch;
  await journal.save();
  return {
    journal,
    uploaded: view.bundles.filter((e) => e.state === 'uploaded').map((e) => e.id),
    inFlight: inFlight.length,
  };
}

/**
 * The fetch position is no longer known to follow every archived document (a fresh or stale spool, a
 * ledger bundle that never reached the store): no fetch runs until the bundles in flight are finished,
 * then the pass starts over — a dry run where its uploaded bundles reach (status.dryRunPosition).
 */
export function restartPass(journal: Journal): void {
  const d = journal.data;
  d.position = START_POSITION;
  d.passComplete = false;
  d.finishPendingBeforeFetch = true;
  d.positionFromLedger = true;
}

/** Whether the spool still holds what a ledger entry needs from it (the bundle file, the ids file). */
async function localCopyIntact(spool: Spool, b: JournalBundle, e: LedgerBundle): Promise<boolean> {
  if (b.id !== e.id || b.key !== e.key || b.size !== e.bytes) return false;
  if (e.state === 'uploading') return (await spool.fileSize(b.file!)) === b.size;
  return ((await spool.fileSize(spool.idsFile(b.id))) ?? -1) >= b.commit.idsBytes;
}

/** A ledger entry this spool has no copy of: finished from the store. */
export function remoteBundle(e: LedgerBundle, nowMs: number): JournalBundle {
  return {
    id: e.id,
    state: e.state,
    createdAt: new Date(nowMs).toISOString(),
    target: {
      database: e.database,
      collection: e.collection,
      archiveField: e.archiveField,
      archiveFieldFormat: e.archiveFieldFormat,
      ...(e.filter ? { filterEJSON: e.filter } : {}),
    },
    ...(e.changeGuardFields ? { changeGuardFields: e.changeGuardFields } : {}),
    commit: { docs: e.documents ?? 0, docsBytes: 0, idsBytes: 0 },
    cutoffMaxMs: e.cutoffMs,
    key: e.key,
    size: e.bytes ?? 0,
    sha256Base64: e.sha256,
    ledger: e,
    remote: true,
  };
}

// The per-policy journal: the spool's own index — a small JSON file saying which bundles the spool holds
// and how far each got, and the fetch position. It is a cache: the durable record of bundles in flight
// is the ledger (ledger.ts), which a successor with an empty spool reads instead. Written atomically
// (temp file, fsync, rename, fsync dir), so after a kill -9 it reads back the old or the new state.
//
//   open       documents are being appended; committed lengths recorded; half-written tails are cut off
//   sealing    no more documents; its bundle file is being written in the background while the next
//              bundle fetches (a crash leaves it to be sealed again from its committed spool files)
//   sealed     bundle file written, key chosen; not in the ledger yet
//   uploading  recorded in the ledger (`ledger`); the put may or may not have happened
//   uploaded   verified in the store and counted; deletes pending
//   deleted    deletes done and counted (or dryRun); spool files may be removed, then the entry is dropped
//
// A bundle with `remote` set has no spool files: it came from the ledger (another worker's, or this
// spool's before it was lost) and is finished from the store.
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EligibilityTarget } from './eligibility.js';
import type { FetchPosition } from './fetch.js';
import { fsyncDir } from '../util/fsync-dir.js';
import type { SpoolCommit } from './spool.js';
import type { LedgerBundle } from './ledger.js';

export const JOURNAL_VERSION = 1;

export type BundleState = 'open' | 'sealing' | 'sealed' | 'uploading' | 'uploaded' | 'deleted';

export interface JournalBundle {
  id: string;
  state: BundleState;
  createdAt: string;
  /** What qualified when these documents were fetched (used again at delete time, I2). */
  target: Omit<EligibilityTarget, 'filter'> & { filterEJSON?: string };
  changeGuardFields?: string[];
  commit: SpoolCommit;
  /** Latest fetch cutoff among the bundle's documents (ms). */
  cutoffMaxMs?: number;
  /** dryRun: the fetch position when the bundle was sealed (its documents all lie before it). */
  positionAfter?: FetchPosition;
  // sealed:
  key?: string;
  file?: string;
  size?: number;
  sha256Base64?: string;
  // uploading and later:
  /** The bundle's ledger entry, as last written. */
  ledger?: LedgerBundle;
  /** Taken from the ledger without spool files: finished from the store. */
  remote?: boolean;
}

/** Policy fields that make a saved fetch position meaningful; a change restarts paging from the start. */
export interface JournalFingerprint {
  database: string;
  collection: string;
  archiveField: string;
  archiveFieldFormat: string;
  filterEJSON?: string;
}

export interface JournalData {
  version: number;
  fingerprint: JournalFingerprint;
  position: FetchPosition;
  /** Set when a pass reached the end of the eligible documents. */
  passComplete?: boolean;
  /**
   * Set when paging restarted because the policy's selection changed while bundles were pending. Their
   * documents are still in MongoDB and would be fetched again from the start, so no fetch runs until
   * every pending bundle is uploaded, deleted and cleaned up (then the flag is cleared).
   */
  finishPendingBeforeFetch?: boolean;
  /**
   * With finishPendingBeforeFetch: once the pending bundles are finished, the pass starts from the
   * ledger's position (START, or a dry run's status.dryRunPosition) instead of this journal's.
   */
  positionFromLedger?: boolean;
  bundles: JournalBundle[];
  /** metadata.uid of the ArchivePolicy this spool holds documents for (the operator sets it). */
  uid?: string;
  /**
   * The ledger epoch this spool worked under. A different epoch in the ledger means another worker ran
   * the policy since: what this spool holds may have been archived there, so it is discarded.
   */
  epoch?: string;
}

export class Journal {
  private constructor(
    private readonly file: string,
    public data: JournalData,
  ) {}

  static async load(
    dir: string,
    fingerprint: JournalFingerprint,
    uid?: string,
  ): Promise<{ journal: Journal; fresh: boolean; positionReset: boolean; uidChanged?: boolean }> {
    const file = path.join(dir, 'journal.json');
    await rm(`${file}.tmp`, { force: true });
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Only a cache: the ledger holds what matters, so a missing or unreadable journal starts afresh.
    const data = parseJournal(text);
    if (!data) {
      const j = new Journal(file, {
        version: JOURNAL_VERSION,
        fingerprint,
        position: { mode: 'range' },
        bundles: [],
        ...(uid ? { uid } : {}),
      });
      return { journal: j, fresh: true, positionReset: false };
    }
    if (data.version !== JOURNAL_VERSION)
      throw new Error(`journal ${file} has version ${data.version}; this gochive reads ${JOURNAL_VERSION}`);
    let uidChanged = false;
    if (uid && data.uid !== uid) {
      // Written for another policy object (deleted, then created again with this name).
      if (data.uid) uidChanged = true;
      data.uid = uid;
    }
    let positionReset = false;
    if (JSON.stringify(data.fingerprint) !== JSON.stringify(fingerprint)) {
      // The policy now selects differently: the old position means nothing. Pending bundles keep
      // their own target and finish as they were fetched.
      data.fingerprint = fingerprint;
      data.position = { mode: 'range' };
      data.passComplete = false;
      if (data.bundles.some((b) => b.commit.docs > 0)) data.finishPendingBeforeFetch = true;
      positionReset = true;
    }
    return { journal: new Journal(file, data), fresh: false, positionReset, uidChanged };
  }

  private saving: Promise<void> = Promise.resolve();

  /** Saves the current data; saves are serialized (an acknowledgement may save beside a tick). */
  save(): Promise<void> {
    const next = this.saving.then(
      () => this.write(),
      () => this.write(),
    );
    this.saving = next.catch(() => undefined);
    return next;
  }

  private async write(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const text = JSON.stringify(this.data, null, 1);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    await fsyncDir(path.dirname(this.file));
  }

  get bundles(): JournalBundle[] {
    return this.data.bundles;
  }

  openBundle(): JournalBundle | undefined {
    return this.data.bundles.find((b) => b.state === 'open');
  }

  remove(id: string): void {
    this.data.bundles = this.data.bundles.filter((b) => b.id !== id);
  }
}

function parseJournal(text: string | undefined): JournalData | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as JournalData;
  } catch {
    return undefined;
  }
}

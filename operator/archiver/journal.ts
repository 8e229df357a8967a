// The per-policy journal: a small JSON file that says, for every bundle not yet cleaned up, how far it
// got. Written atomically (temp file, fsync, rename, fsync dir), so after a kill -9 it reads back
// either the old or the new state, never a mix. Every stage transition writes it *after* the work it
// records is durable (spool fsynced, object uploaded and verified, delete chunk acknowledged), which
// makes recovery exact (I3): a state is redone at most, never skipped.
//
//   open      documents are being appended; committed lengths recorded; half-written tails are cut off
//   sealed    bundle file written, key chosen; upload (again) — or, if the object exists, verify it
//   uploaded  object verified in the store; delete may start
//   deleting  deleting in chunks; `deleteOffset` is the ids-file offset of the next chunk
//   deleted   all deletes done (or dryRun); spool files may be removed, then the entry is dropped
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EligibilityTarget } from './eligibility.js';
import type { FetchPosition } from './fetch.js';
import { fsyncDir, type SpoolCommit } from './spool.js';
import { readCounters, zeroCounters, type Counters } from './counters.js';

export const JOURNAL_VERSION = 1;

export type BundleState = 'open' | 'sealed' | 'uploaded' | 'deleting' | 'deleted';

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
  // uploaded:
  uploadedAt?: string;
  // deleting:
  /**
   * Another replica worked on the policy since this bundle was uploaded (worker.dropSupersededBundles):
   * its documents already gone at delete time were archived again there (duplicates).
   */
  superseded?: boolean;
  deleteOffset?: number;
  /** ids-file end offset of the last chunk whose delete was sent (saved just before sending it). */
  deleteIssued?: number;
  /** When `deleteIssued` was saved (ms): a sweep leaves a chunk alone while its delete may still run. */
  deleteIssuedAt?: number;
  deleted?: number;
  skipped?: number;
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
  /** dryRun: positionAfter of the last uploaded bundle (published in the status, dry-run-position.ts). */
  uploadedPosition?: FetchPosition;
  /** Set when a pass reached the end of the eligible documents. */
  passComplete?: boolean;
  /**
   * Set when paging restarted because the policy's selection changed while bundles were pending. Their
   * documents are still in MongoDB and would be fetched again from the start, so no fetch runs until
   * every pending bundle is uploaded, deleted and cleaned up (then the flag is cleared).
   */
  finishPendingBeforeFetch?: boolean;
  bundles: JournalBundle[];
  /** Documents uploaded more than once because of a crash or retry (restore removes them). */
  duplicates: number;
  /** Random id, new with every journal (and when the policy is re-created): names its counters. */
  id?: string;
  /** metadata.uid of the ArchivePolicy whose counts `lifetime` holds (the operator sets it). */
  uid?: string;
  /** Everything this journal's workers counted for the policy (counters.ts); only ever grows. */
  lifetime?: Counters;
  /** `gochive archive`: the lifetime value its statistics already reported at a clean exit. */
  reported?: Counters;
  /** Written by journals before counters.ts (counts not yet in the status): read as `lifetime`. */
  unacked?: Partial<Counters>;
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
    if (text === undefined) {
      const j = new Journal(file, {
        version: JOURNAL_VERSION,
        fingerprint,
        position: { mode: 'range' },
        bundles: [],
        duplicates: 0,
        id: newJournalId(),
        ...(uid ? { uid } : {}),
        lifetime: zeroCounters(),
        reported: zeroCounters(),
      });
      return { journal: j, fresh: true, positionReset: false };
    }
    let data: JournalData;
    try {
      data = JSON.parse(text) as JournalData;
    } catch (err) {
      throw new Error(
        `journal ${file} is not valid JSON (${(err as Error).message}); move it away only after checking its bundles`,
        {
          cause: err,
        },
      );
    }
    if (data.version !== JOURNAL_VERSION)
      throw new Error(`journal ${file} has version ${data.version}; this gochive reads ${JOURNAL_VERSION}`);
    data.duplicates ??= 0;
    const idRead = data.id;
    data.id ??= newJournalId();
    data.lifetime = readCounters(data.lifetime ?? data.unacked);
    data.reported = readCounters(data.reported);
    delete data.unacked;
    let uidChanged = false;
    if (uid && data.uid !== uid) {
      // Counted for another policy object (deleted, then created again with this name): those counts
      // belong to the old object. A new id keeps any checkpoint of the old counts from applying.
      if (data.uid) {
        data.id = newJournalId();
        data.lifetime = zeroCounters();
        data.reported = zeroCounters();
        uidChanged = true;
      }
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
    const journal = new Journal(file, data);
    if (data.id === idRead) journal.savedLifetime = { ...data.lifetime };
    return { journal, fresh: false, positionReset, uidChanged };
  }

  /** The journal exactly as stored (undefined when there is none), for a reader that does not run the policy. */
  static async read(dir: string): Promise<Journal | undefined> {
    let data: JournalData;
    try {
      data = JSON.parse(await readFile(path.join(dir, 'journal.json'), 'utf8')) as JournalData;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return (await Journal.load(dir, data.fingerprint)).journal;
  }

  private saving: Promise<void> = Promise.resolve();
  /** `lifetime` as last written durably (what a worker may show: a kill -9 cannot undo it). */
  savedLifetime: Counters = zeroCounters();

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
    const lifetime = { ...this.lifetime };
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
    this.savedLifetime = lifetime;
  }

  get bundles(): JournalBundle[] {
    return this.data.bundles;
  }

  openBundle(): JournalBundle | undefined {
    return this.data.bundles.find((b) => b.state === 'open');
  }

  get id(): string {
    return this.data.id!;
  }

  get lifetime(): Counters {
    return this.data.lifetime!;
  }

  remove(id: string): void {
    this.data.bundles = this.data.bundles.filter((b) => b.id !== id);
  }
}

function newJournalId(): string {
  return randomBytes(8).toString('hex');
}

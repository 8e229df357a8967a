// Counts left in a journal whose worker no longer runs here. A replica killed right after an upload
// keeps that bundle's counts in its spool journal; if another replica holds the policy from then on,
// no worker on this replica reads that journal again, and the status would never include them. This
// sweep reads such journals (read-only: no worker holds them) and adds what the status lacks, with
// the same checkpoint arithmetic and resourceVersion-guarded merge patch as the status writer, so a
// count lands exactly once however the two writers interleave. It patches only the totals.
//
// A worker killed between sending a delete chunk and journaling its answer left a count only MongoDB
// knows. When the policy is not held here (so no worker of this replica will resume that bundle), the
// sweep settles such chunks first (archiver/settle-deletes.ts: read-only counts, journal rewritten
// under the spool lock) and then reports them like any other journaled count.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ArchivePolicy, ArchivePolicyStatus } from '../api/schema.js';
import type { MongoClient } from 'mongodb';
import { COUNTERS, countersSince, readCounters } from '../archiver/counters.js';
import { sentNotJournaled, settleSentDeletes } from '../archiver/settle-deletes.js';
import type { JournalBundle, JournalData } from '../archiver/journal.js';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { isConflict, isNotFound, type KubeClient } from './kube-rest.js';
import { mergeTotals, type CounterSource } from './status-totals.js';
import { policyStatusPath } from './status-writer.js';

export interface JournalReporterOptions {
  spoolRoot: string;
  rest: KubeClient;
  log: Logger;
  getPolicy(key: string): ArchivePolicy | undefined;
  /** A worker runs (or may run) here for the policy: its own status writes report its journal. */
  busy(key: string): boolean;
  /** This replica holds the policy's lease (its next worker settles the journal's sent deletes itself). */
  heldHere(key: string): boolean;
  /** A client for the policy's MongoDB (undefined when its connection cannot be resolved now). */
  connect(policy: ArchivePolicy): Promise<MongoClient | undefined>;
  onReport?: (result: 'ok' | 'conflict' | 'error') => void;
}

export class JournalReporter {
  private unfinishedKeys: ReadonlySet<string> = new Set();

  constructor(private readonly o: JournalReporterOptions) {}

  /**
   * Policies whose journal here, at the last sweep, held uploaded bundles not yet deleted (the lease
   * manager asks for those policies back: only this spool can finish them).
   */
  get unfinished(): ReadonlySet<string> {
    return this.unfinishedKeys;
  }

  /** One pass over the spool root; returns the keys whose counts were reported. */
  async sweep(): Promise<string[]> {
    const reported: string[] = [];
    const unfinished = new Set<string>();
    for (const ns of await dirs(this.o.spoolRoot)) {
      for (const name of await dirs(path.join(this.o.spoolRoot, ns))) {
        const key = `${ns}/${name}`;
        const journal = await readJournal(path.join(this.o.spoolRoot, ns, name, 'journal.json'));
        const policy = this.o.getPolicy(key);
        // Counts of a deleted policy (or one created again under the name since) belong to nobody.
        if (!journal?.id || !journal.uid || !policy || policy.metadata.uid !== journal.uid) continue;
        if (journal.bundles?.some(awaitsDelete)) unfinished.add(key);
        if (this.o.busy(key)) continue;
        try {
          if (await this.report(key, ns, name, journal, policy)) reported.push(key);
        } catch (err) {
          this.o.onReport?.('error');
          this.o.log.warn({ key, err: errorMessage(err) }, 'reporting counts of a stopped worker failed');
        }
      }
    }
    this.unfinishedKeys = unfinished;
    return reported;
  }

  private async report(
    key: string,
    ns: string,
    name: string,
    read: JournalData,
    policy: ArchivePolicy,
  ): Promise<boolean> {
    const id = read.id!; // the sweep passes only journals with an id
    let journal: JournalData | undefined = read;
    if (journal.bundles.some((b) => sentNotJournaled(b)) && !this.o.heldHere(key)) {
      // Counts already journaled are reported even when MongoDB cannot be asked now.
      await this.settle(key, ns, name, id, policy).catch((err: unknown) =>
        this.o.log.warn(
          { key, err: errorMessage(err) },
          'could not settle a delete a stopped worker sent; the next sweep tries again',
        ),
      );
      journal = await readJournal(path.join(this.o.spoolRoot, ns, name, 'journal.json'));
      if (journal?.id !== id) return false;
    }
    const source: CounterSource = { journal: id, lifetime: readCounters(journal.lifetime) };
    if (!owes(policy.status, source)) return false;
    const p = policyStatusPath(ns, name);
    for (let attempt = 0; attempt < 5; attempt++) {
      let current: ArchivePolicy;
      try {
        current = await this.o.rest.request<ArchivePolicy>({ method: 'GET', path: p });
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
      if (current.metadata.uid !== journal.uid || !owes(current.status, source)) return false;
      const merged = mergeTotals(current.status, source, undefined, false);
      try {
        await this.o.rest.request({
          method: 'PATCH',
          path: p,
          contentType: 'application/merge-patch+json',
          body: { metadata: { resourceVersion: current.metadata.resourceVersion }, status: merged },
        });
        this.o.onReport?.('ok');
        this.o.log.info(
          { key, journal: source.journal, totals: merged.totals },
          'reported the counts of a worker that stopped on this replica',
        );
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err;
        this.o.onReport?.('conflict');
      }
    }
    return false;
  }

  private async settle(key: string, ns: string, name: string, journalId: string, policy: ArchivePolicy) {
    let client: MongoClient | undefined;
    const settled = await settleSentDeletes(this.o.spoolRoot, ns, name, journalId, async () => {
      client = await this.o.connect(policy);
      if (!client) throw new Error('the policy has no usable MongoDB connection now');
      return client;
    });
    for (const s of settled)
      this.o.log.info(
        { key, bundle: s.bundle, ...(s.result === 'not-applied' ? { applied: false } : s.result) },
        s.result === 'not-applied'
          ? 'a delete sent by a stopped worker never reached MongoDB: the chunk will be sent again'
          : 'counted a delete chunk a stopped worker sent but never journaled',
      );
  }
}

/** Uploaded and verified, its documents not all deleted yet (or not yet counted, for a dry run). */
function awaitsDelete(b: JournalBundle): boolean {
  return b.state === 'uploaded' || b.state === 'deleting';
}

/** Whether the status lacks some of the journal's counts. */
function owes(status: ArchivePolicyStatus | undefined, source: CounterSource): boolean {
  const cp = status?.totalsCheckpoints?.find((c) => c.journal === source.journal);
  const delta = countersSince(source.lifetime, readCounters(cp));
  return COUNTERS.some((k) => delta[k] > 0);
}

async function readJournal(file: string): Promise<JournalData | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as JournalData;
  } catch {
    return undefined; // absent, or being replaced this instant: the next sweep reads it
  }
}

async function dirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

// The ledger: the durable record of every bundle in flight, kept where any successor can read it (the
// ArchivePolicy's status for the operator, a file for `gochive archive`), never only in the spool.
//
//   uploading  the bundle's key is chosen and recorded before its (conditional) put starts
//   uploaded   the object is verified in the store; its counts are in the totals; deletes may run
//   (gone)     deletes done (or dryRun): the entry is removed in the patch that adds their counts
//
// Every step is one atomic, conditional write that advances the entry and adds the step's counts to the
// totals together, so each count lands exactly once, whoever finishes the bundle. A worker that takes a
// policy over first finishes what the ledger lists (recovery.ts), with `_id`s read back from the store.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ArchivePolicyStatus } from '../api/schema.js';
import { addCounters, readCounters, zeroCounters, type Counters } from './counters.js';
import type { DryRunPosition } from './dry-run-position.js';
import { fsyncDir } from '../util/fsync-dir.js';

export type LedgerBundle = NonNullable<NonNullable<ArchivePolicyStatus['ledger']>['bundles']>[number];

export interface LedgerView {
  /** Names the worker run that last took the policy over (a new one per worker start). */
  epoch?: string;
  bundles: LedgerBundle[];
  totals: Counters;
  dryRunPosition?: DryRunPosition;
  /** `gochive archive` only: the totals its statistics already printed (see Worker.markReported). */
  reported?: Counters;
}

/** One step: the entries after it, and what it adds to the totals. */
export interface LedgerChange {
  bundles: LedgerBundle[];
  epoch?: string;
  add?: Partial<Counters>;
  dryRunPosition?: DryRunPosition;
  reported?: Counters;
}

/** Thrown by a step whose precondition no longer holds (another worker changed the entry). */
export class LedgerConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerConflictError';
  }
}

export interface LedgerStore {
  read(): Promise<LedgerView>;
  /**
   * Applies one step atomically: `step` sees the ledger as stored now and returns the change, or
   * undefined when there is nothing to do (the step was applied already, e.g. before a lost reply).
   * Retried from a fresh read when another writer got in between.
   */
  update(step: (current: LedgerView) => LedgerChange | undefined): Promise<LedgerView>;
}

export function newEpoch(): string {
  return randomBytes(8).toString('hex');
}

/** The view after `change` (shared by every store, so they apply steps identically). */
export function applyChange(cur: LedgerView, change: LedgerChange): LedgerView {
  return {
    ...((change.epoch ?? cur.epoch) ? { epoch: change.epoch ?? cur.epoch } : {}),
    bundles: change.bundles,
    totals: addCounters(cur.totals, change.add ?? {}),
    ...((change.dryRunPosition ?? cur.dryRunPosition)
      ? { dryRunPosition: change.dryRunPosition ?? cur.dryRunPosition }
      : {}),
    ...((change.reported ?? cur.reported) ? { reported: change.reported ?? cur.reported } : {}),
  };
}

/** Reads the ledger part of a policy status (missing parts are empty). */
export function ledgerOfStatus(s: ArchivePolicyStatus | undefined): LedgerView {
  return {
    ...(s?.ledger?.epoch ? { epoch: s.ledger.epoch } : {}),
    bundles: [...(s?.ledger?.bundles ?? [])],
    totals: readCounters(s?.totals),
    ...(s?.dryRunPosition ? { dryRunPosition: s.dryRunPosition } : {}),
  };
}

// ------------------------------------------------------------------ steps (pure)

/** Replaces the entry with id `b.id` (which must be in `state`), or appends it when `state` is undefined. */
export function putEntry(
  cur: LedgerView,
  b: LedgerBundle,
  expect: LedgerBundle['state'] | undefined,
): LedgerBundle[] | undefined {
  const i = cur.bundles.findIndex((x) => x.id === b.id);
  if (expect === undefined) {
    if (i >= 0) return undefined; // recorded already (a retried write whose reply was lost)
    return [...cur.bundles, b];
  }
  if (i < 0) throw new LedgerConflictError(`bundle ${b.id} is no longer in the ledger`);
  const now = cur.bundles[i]!;
  if (now.state === b.state) return undefined; // applied already
  if (now.state !== expect)
    throw new LedgerConflictError(`bundle ${b.id} is ${now.state} in the ledger, expected ${expect}`);
  const out = [...cur.bundles];
  out[i] = b;
  return out;
}

/** The entries without `id`; undefined when it is gone already (the step was applied). */
export function withoutEntry(cur: LedgerView, id: string): LedgerBundle[] | undefined {
  if (!cur.bundles.some((x) => x.id === id)) return undefined;
  return cur.bundles.filter((x) => x.id !== id);
}

// ------------------------------------------------------------------ file store (gochive archive)

/**
 * `gochive archive`'s ledger: a JSON file beside the spool, written atomically (temp, fsync, rename,
 * fsync dir). The CLI runs one process per spool (the spool lock), so no other writer exists.
 */
export class FileLedgerStore implements LedgerStore {
  private view?: LedgerView;

  constructor(private readonly file: string) {}

  static inDir(dir: string): FileLedgerStore {
    return new FileLedgerStore(path.join(dir, 'ledger.json'));
  }

  async read(): Promise<LedgerView> {
    if (this.view) return this.view;
    await rm(`${this.file}.tmp`, { force: true });
    let text: string | undefined;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === undefined) {
      this.view = { bundles: [], totals: zeroCounters() };
      return this.view;
    }
    try {
      const raw = JSON.parse(text) as Partial<LedgerView>;
      this.view = {
        ...(raw.epoch ? { epoch: raw.epoch } : {}),
        bundles: raw.bundles ?? [],
        totals: readCounters(raw.totals),
        ...(raw.dryRunPosition ? { dryRunPosition: raw.dryRunPosition } : {}),
        ...(raw.reported ? { reported: readCounters(raw.reported) } : {}),
      };
    } catch (err) {
      throw new Error(
        `ledger ${this.file} is not valid JSON (${(err as Error).message}); it lists bundles whose deletes may be unfinished: check them before moving it away`,
        { cause: err },
      );
    }
    return this.view;
  }

  async update(step: (current: LedgerView) => LedgerChange | undefined): Promise<LedgerView> {
    const cur = await this.read();
    const change = step(cur);
    if (!change) return cur;
    const next = applyChange(cur, change);
    const tmp = `${this.file}.tmp`;
    await mkdir(path.dirname(this.file), { recursive: true });
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(next, null, 1));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    await fsyncDir(path.dirname(this.file));
    this.view = next;
    return next;
  }
}

/** A worker's handle on its ledger: the store and the view its last step produced. */
export class Ledger {
  private current?: LedgerView;

  constructor(readonly store: LedgerStore) {}

  /** The ledger as this worker last wrote or read it (empty before the first step). */
  get view(): LedgerView {
    return this.current ?? { bundles: [], totals: zeroCounters() };
  }

  /** Applies one step (see LedgerStore.update) and keeps the view it produced. */
  async step(step: (current: LedgerView) => LedgerChange | undefined): Promise<LedgerView> {
    this.current = await this.store.update(step);
    return this.current;
  }
}

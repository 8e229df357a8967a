// What the worker hands each stage (recovery, upload, delete): the policy, its spool and journal, the
// store, the ledger, and the worker's clock, timing and stop signal. The stages keep their own state;
// the worker (worker.ts) is the loop that drives them.
import type { Destination } from '../storage/destination.js';
import type { Logger } from '../util/logger.js';
import type { PolicyConfig } from './config.js';
import type { Journal, JournalFingerprint } from './journal.js';
import type { Ledger } from './ledger.js';
import type { Spool } from './spool.js';
import type { Stage } from './worker-api.js';

export interface StageContext {
  readonly cfg: PolicyConfig;
  readonly log: Logger;
  readonly now: () => number;
  readonly spool: Spool;
  readonly journal: Journal;
  readonly dest: Destination;
  readonly ledger: Ledger;
  /** The policy's selection (names a dry-run position). */
  readonly fingerprint: JournalFingerprint;
  readonly signal: AbortSignal;
  stopping(): boolean;
  timed<T>(stage: Stage, fn: () => Promise<T>): Promise<T>;
  /** spec.throttle: resolves when the next database operation may start (throttle.ts). */
  throttle?(): Promise<void>;
}

/** Test hook (documented in docs/how-archiving-works.md): GOCHIVE_TEST_CRASH_AT=<point> makes the process SIGKILL itself there. */
export function crashPoint(point: string): void {
  if (process.env.GOCHIVE_TEST_CRASH_AT === point) {
    process.stderr.write(
      `gochive: test hook GOCHIVE_TEST_CRASH_AT=${point}: killing this process (SIGKILL)\n`,
    );
    process.kill(process.pid, 'SIGKILL');
  }
}

/** The policy cannot go on until a human acts (the worker reports it as Blocked). */
export class BlockedError extends Error {
  constructor(
    public readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BlockedError';
  }
}

// The contract between the archiver engine and whoever drives it (the operator or `gochive archive`).
// The operator maps WorkerSnapshot onto ArchivePolicy.status; the CLI onto progress and statistics.
import type { Logger } from '../util/logger.js';
import type { PolicyConfig } from './config.js';
import type { LedgerStore } from './ledger.js';
import type { ExpiredBundle, ExpireResult } from './expire.js';
import type { ThrottleChange, ThrottleSnapshot } from './throttle.js';

export type WorkerState =
  | 'Starting' // connecting, checking the index, recovering the journal
  | 'Archiving' // a backlog exists and batches are moving
  | 'Idle' // nothing eligible right now
  | 'Paused' // outside an archive window, or spool at its cap
  | 'Blocked' // refuses to run until the user acts (no usable index, bad filter…)
  | 'Failed' // gave up; `lastError` says why
  | 'Stopped';

export type Stage =
  | 'connect'
  | 'index'
  | 'fetch'
  | 'spool'
  | 'bundle'
  | 'upload'
  | 'verify'
  | 'delete'
  | 'cleanup'
  | 'recover'
  | 'expire';

export interface WorkerTotals {
  documentsArchived: number; // in uploaded, verified bundles
  documentsDeleted: number;
  documentsSkipped: number; // changed/no longer eligible at delete time
  documentsIneligible: number; // missing field or wrong type: never archived
  bundlesUploaded: number;
  bytesUploaded: number;
  duplicatesUploaded: number; // documents uploaded twice because of a crash/retry (restore removes them)
}

export interface LastBundle {
  key: string;
  documents: number;
  bytes: number;
  archiveFieldMin?: string; // ISO 8601
  archiveFieldMax?: string;
  uploadedAt: string;
}

export interface WorkerSnapshot {
  state: WorkerState;
  /** Why, for Blocked/Failed/Paused (CamelCase reason + human message). */
  reason?: string;
  message?: string;
  totals: WorkerTotals;
  lastBundle?: LastBundle;
  spooledDocuments: number;
  spooledBytes: number;
  /** Estimated number of eligible documents still in MongoDB (undefined until first estimate). */
  backlog?: number;
  oldestEligibleAgeSeconds?: number;
  lastFetchTime?: string;
  lastUploadTime?: string;
  lastSuccessTime?: string;
  lastError?: { time: string; stage: Stage; message: string };
  /** spec.throttle only: whether the worker is backing off, why, and the time spent so far. */
  throttle?: ThrottleSnapshot;
  /** The last expiry pass (spec.s3.expireAfter). */
  lastPrune?: LastPrune;
}

export interface LastPrune {
  time: string;
  /** Bundles whose newest document is before this were expired. */
  cutoff: string;
  /** Removed, or with dryRun: would have been removed. */
  bundles: number;
  bytes: number;
  dryRun: boolean;
  /** Expired by age but kept: age or manifest unreadable, another policy's, or still in the ledger. */
  kept: number;
}

export interface WorkerEvents {
  /** Called whenever the snapshot changes; the caller rate-limits what it writes. */
  onSnapshot?(snapshot: WorkerSnapshot): void;
  onBundleUploaded?(bundle: LastBundle): void;
  onDeleted?(info: { key: string; deleted: number; skipped: number }): void;
  onError?(info: { stage: Stage; message: string; retrying: boolean }): void;
  /** An expired bundle was removed from the destination. */
  onBundleExpired?(bundle: ExpiredBundle): void;
  /** An expiry pass ended (also in dryRun, when it removed nothing). */
  onExpiryPass?(result: ExpireResult): void;
  /** A throttle started or ended (spec.throttle). */
  onThrottle?(change: ThrottleChange): void;
  /** Stage durations for metrics. */
  onStageDuration?(stage: Stage, seconds: number): void;
}

export interface WorkerOptions {
  config: PolicyConfig;
  /** Full MongoDB URI (secret; never logged: use redactUri). */
  mongoUri: string;
  /** Root directory; the worker uses `<spoolRoot>/<namespace>/<name>/` only (I4). */
  spoolRoot: string;
  logger: Logger;
  events?: WorkerEvents;
  /** Exit after the backlog is empty and everything spooled is uploaded and deleted (`--once`). */
  once?: boolean;
  /** `once` mode: give up (Failed) when MongoDB cannot be reached at start for this long. */
  connectTimeoutMs?: number;
  /**
   * totals start at what earlier runs counted but never reported (markReported); without it, at zero.
   * For `gochive archive`, whose printed statistics are its report.
   */
  carryTotals?: boolean;
  /** metadata.uid of the ArchivePolicy: a spool written for another uid is dropped. */
  policyUid?: string;
  /**
   * Where bundles in flight are recorded (ledger.ts): the policy status in the operator. Default: a
   * file in the spool directory (`gochive archive`).
   */
  ledger?: LedgerStore;
  /** Time between expiry passes (default 1 h). */
  expireIntervalMs?: number;
}

export interface ArchiveWorker {
  /** Runs until stop() (or, with `once`, until the backlog is drained). Resolves when fully stopped. */
  run(): Promise<void>;
  /** Stop fetching; finish or safely abandon the bundle in flight; resolves when stopped. */
  stop(): Promise<void>;
  snapshot(): WorkerSnapshot;
}

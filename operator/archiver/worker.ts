// The archiver worker: drives one policy through fetch → spool → bundle → upload → delete → cleanup.
//
// As in the original, a fetch tick (every archiveCheckInterval) and an upload tick (every
// s3.uploadInterval) take turns through one mutex; the upload tick seals the bundle spooled so far,
// uploads and verifies it, deletes its documents, and removes its spool files. `once` mode runs the same
// ticks back to back until the backlog is empty and everything spooled is uploaded and deleted.
// Every transition is journaled after the work it records is durable (journal.ts), so a stop or a
// kill -9 at any instant resumes exactly. Failures are retried with back-off; nothing is deleted unless
// its bundle is verified in the store (I1).
import { Mutex } from 'async-mutex';
import { BSON, MongoServerError, type MongoClient, type Collection, type Document } from 'mongodb';
import { Transform, type Readable } from 'node:stream';
import { protectedNamespaceProblem } from '../api/protected-namespaces.js';
import { newBundleId } from '../bundle/keys.js';
import { createDestination } from '../storage/factory.js';
import type { Destination } from '../storage/destination.js';
import { errorMessage } from '../util/redact.js';
import type { PolicyConfig } from './config.js';
import { deleteBundleDocuments } from './delete.js';
import {
  ageMillis,
  agePath,
  eligibleQuery,
  ineligibleQuery,
  normalizeFilter,
  type EligibilityTarget,
} from './eligibility.js';
import { Fetcher, START_POSITION, type FetchResult, type FetchSink } from './fetch.js';
import { checkArchiveIndex } from './index-check.js';
import { Journal, type JournalBundle, type JournalFingerprint } from './journal.js';
import { insideWindows, RateLimiter, sleep } from './pacing.js';
import { getRawValue, TYPE_BRACKETS } from './raw-bson.js';
import { sealBundle } from './seal.js';
import { keyDate } from './time-range.js';
import { addCounters, countersSince, zeroCounters, type Counters } from './counters.js';
import { continueFrom, publishPosition } from './dry-run-position.js';
import { newMongoClient } from './mongo-client.js';
import { EMPTY_COMMIT, Spool, SpoolLockedError, type BundleAppender, type SpoolCommit } from './spool.js';
import { KeyConflictError, uploadOnce, withRetry } from './upload.js';
import type {
  ArchiveWorker,
  LastBundle,
  Stage,
  WorkerOptions,
  WorkerSnapshot,
  WorkerState,
  WorkerTotals,
} from './worker-api.js';

/** Tunables that are not part of the policy (tests and the benchmark change them). */
export interface WorkerTuning {
  /** Documents per deleteMany (default: queryLimit, within 1000…10000). */
  deleteChunkDocuments?: number;
  /** Bytes of `_id` records per deleteMany (default 1 MiB). */
  deleteChunkBytes?: number;
  /** Minimum time between backlog estimates (default 60 s). */
  estimateIntervalMs?: number;
  /** `once` mode gives up after this many consecutive failed attempts (default 12, ≈ 10 min of back-off). */
  onceMaxFailures?: number;
  /** Back-off ceiling between failed attempts (default 60 s). */
  maxBackoffMs?: number;
  /** Test hook: awaited after a bundle is verified in the store and before its documents are deleted. */
  beforeDelete?: (bundle: { key: string; documents: number }) => Promise<void>;
  /** Test hook: awaited when a delete chunk is about to be sent, before that is journaled. */
  beforeDeleteIssue?: () => Promise<void>;
  /** Injected destination (tests); default: created from the policy. */
  destination?: Destination;
  now?: () => number;
}

/** Figures for `--statistics` and the benchmark. */
export interface WorkerStats {
  stageSeconds: Partial<Record<Stage, number>>;
  /** Time spent waiting for MongoDB replies (fetch cursor, delete, count), seconds. */
  serverWaitSeconds: number;
  documentsFetched: number;
  batches: number;
  bytesSpooled: number;
  /** Bundles found in the journal at start (left by an earlier run). */
  recoveredBundles: number;
  /** Time spent on backlog / oldest-age / ineligible estimates (status, not archiving), seconds. */
  estimateSeconds: number;
}

const ALL_ALIASES = TYPE_BRACKETS.flatMap((b) => b.aliases);
const ESTIMATE_EVERY_MS = 60_000;

/**
 * Server errors that reject the query itself (bad filter, unsupported operator), never transient:
 * BadValue, FailedToParse, InvalidPipelineOperator, 17287 (unsupported `$type`), 40324 (unknown pipeline
 * stage), 51091/51108 (invalid regular expression / regex options).
 */
/** Driver errors that mean "cannot talk to the server" (as opposed to the server refusing something). */
const MONGO_CONNECTIVITY_ERRORS = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
]);

const QUERY_REJECTED_CODES = new Set([2, 9, 168, 17287, 40324, 51091, 51108]);

/** The password of a MongoDB URI (raw and decoded), so error messages can be scrubbed of it (I7). */
function uriSecrets(uri: string): string[] {
  const m = /^[a-z0-9+.-]+:\/\/([^@/]*)@/i.exec(uri);
  if (!m) return [uri];
  const userinfo = m[1]!;
  const i = userinfo.indexOf(':');
  const pw = i >= 0 ? userinfo.slice(i + 1) : '';
  const out = [uri, userinfo];
  if (pw) {
    out.push(pw);
    try {
      out.push(decodeURIComponent(pw));
    } catch {
      // not percent-encoded
    }
  }
  return out;
}

/** Test hook (documented in the README): GOCHIVE_TEST_CRASH_AT=<point> makes the process SIGKILL itself there. */
function crashPoint(point: string): void {
  if (process.env.GOCHIVE_TEST_CRASH_AT === point) {
    process.stderr.write(
      `gochive: test hook GOCHIVE_TEST_CRASH_AT=${point}: killing this process (SIGKILL)\n`,
    );
    process.kill(process.pid, 'SIGKILL');
  }
}

class BlockedError extends Error {
  constructor(
    public readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BlockedError';
  }
}

export class Worker implements ArchiveWorker {
  private readonly cfg: PolicyConfig;
  private readonly target: EligibilityTarget;
  private readonly secrets: string[];
  private readonly log;
  private readonly mutex = new Mutex();
  private readonly abort = new AbortController();
  private readonly limiter?: RateLimiter;
  private readonly now: () => number;

  private state: WorkerState = 'Starting';
  private reason?: string;
  private message?: string;
  /** The latest count of ineligible documents (a gauge, from the estimate). */
  private ineligible = 0;
  /** Lifetime counters at start: totals() are what the journal counted since (see counters.ts). */
  private countBase?: Counters;
  private lastBundle?: LastBundle;
  private backlog?: number;
  private oldestAge?: number;
  private lastFetchTime?: string;
  private lastUploadTime?: string;
  private lastSuccessTime?: string;
  private lastError?: WorkerSnapshot['lastError'];

  private stopping = false;
  private runPromise?: Promise<void>;
  private client?: MongoClient;
  private coll?: Collection;
  private spool?: Spool;
  private journal?: Journal;
  private dest?: Destination;
  private fetcher?: Fetcher;
  private indexes?: Document[];
  private indexOk = false;
  private supportedAliases = new Set(ALL_ALIASES);
  private lastUploadTick = 0;
  private lastEstimate = Number.NEGATIVE_INFINITY;
  private consecutiveFailures = 0;
  private connectivityFailures = 0;
  private drained = false;
  /** The last fetch reached the end of the eligible documents without keeping any. */
  private lastFetchFoundNothing = false;
  private stage: Stage = 'connect';
  private readonly resumedDeletes = new Set<string>();
  private readonly stats: WorkerStats = {
    stageSeconds: {},
    serverWaitSeconds: 0,
    documentsFetched: 0,
    batches: 0,
    bytesSpooled: 0,
    recoveredBundles: 0,
    estimateSeconds: 0,
  };

  constructor(
    private readonly opts: WorkerOptions,
    private readonly tuning: WorkerTuning = {},
  ) {
    this.cfg = opts.config;
    this.target = {
      database: this.cfg.database,
      collection: this.cfg.collection,
      archiveField: this.cfg.archiveField,
      archiveFieldFormat: this.cfg.archiveFieldFormat,
      ...(normalizeFilter(this.cfg.filter) ? { filter: normalizeFilter(this.cfg.filter)! } : {}),
    };
    this.secrets = [...uriSecrets(opts.mongoUri)];
    if (this.cfg.destination.kind === 's3' && this.cfg.destination.credentials) {
      this.secrets.push(this.cfg.destination.credentials.secretAccessKey);
      if (this.cfg.destination.credentials.sessionToken)
        this.secrets.push(this.cfg.destination.credentials.sessionToken);
    }
    this.log = opts.logger;
    this.now = tuning.now ?? Date.now;
    if (this.cfg.maxDocumentsPerSecond)
      this.limiter = new RateLimiter(this.cfg.maxDocumentsPerSecond, this.abort.signal);
  }

  // ------------------------------------------------------------------ public API

  run(): Promise<void> {
    this.runPromise ??= this.runInner();
    return this.runPromise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await this.runPromise?.catch(() => undefined);
  }

  snapshot(): WorkerSnapshot {
    const pending = this.journal?.bundles.filter((b) => b.state !== 'deleted') ?? [];
    const snap: WorkerSnapshot = {
      state: this.state,
      totals: this.currentTotals(),
      spooledDocuments: pending.reduce((n, b) => n + b.commit.docs, 0),
      spooledBytes: pending.reduce((n, b) => n + b.commit.docsBytes, 0),
    };
    if (this.reason) snap.reason = this.reason;
    if (this.message) snap.message = this.message;
    if (this.lastBundle) snap.lastBundle = { ...this.lastBundle };
    if (this.backlog !== undefined) snap.backlog = this.backlog;
    if (this.oldestAge !== undefined) snap.oldestEligibleAgeSeconds = this.oldestAge;
    if (this.lastFetchTime) snap.lastFetchTime = this.lastFetchTime;
    if (this.lastUploadTime) snap.lastUploadTime = this.lastUploadTime;
    if (this.lastSuccessTime) snap.lastSuccessTime = this.lastSuccessTime;
    if (this.lastError) snap.lastError = { ...this.lastError };
    if (this.journal)
      snap.counters = { journal: this.journal.id, lifetime: { ...this.journal.savedLifetime } };
    const uploaded = this.cfg.dryRun ? this.journal?.data.uploadedPosition : undefined;
    const published = uploaded && publishPosition(this.journal!.data.fingerprint, uploaded);
    if (published) snap.dryRunPosition = published;
    return snap;
  }

  /**
   * `gochive archive` printed its statistics: what this journal counted so far is reported, so the next
   * run starts from zero (a run killed before printing hands its counts to the next run instead).
   */
  async markReported(): Promise<void> {
    const j = this.journal;
    if (!j) return;
    j.data.reported = { ...j.lifetime };
    await j.save();
  }

  /** Counts since this run started (or, with carryTotals, since the last markReported()). */
  private currentTotals(): WorkerTotals {
    const saved = this.journal?.savedLifetime;
    const counted = saved && this.countBase ? countersSince(saved, this.countBase) : zeroCounters();
    return { ...counted, documentsIneligible: this.ineligible };
  }

  /**
   * Adds a transition's counts to the journal's lifetime counters and saves it with the transition.
   * snapshot() shows only saved counts, so a status never holds a count that a kill -9 could still undo
   * (the restarted worker would count that transition again).
   */
  private async saveWithTotals(delta: Partial<Counters>): Promise<void> {
    const j = this.journal!;
    j.data.lifetime = addCounters(j.lifetime, delta);
    await j.save();
  }

  /** Timing and volume figures (for `--statistics`). */
  statistics(): WorkerStats {
    return { ...this.stats, stageSeconds: { ...this.stats.stageSeconds } };
  }

  // ------------------------------------------------------------------ lifecycle

  private async runInner(): Promise<void> {
    try {
      // SPEC I9, the last line of defence: whatever config the engine is handed (the API's validation and
      // resolvePolicy refuse these first), it never connects to, reads from or deletes in a MongoDB system
      // database or collection.
      const protectedProblem = protectedNamespaceProblem(this.cfg.database, this.cfg.collection);
      if (protectedProblem) {
        this.setState('Failed', 'ProtectedNamespace', protectedProblem);
        this.log.error({ err: protectedProblem }, 'refusing a protected namespace');
        return;
      }
      if (!(await this.startUp())) return;
      if (this.cfg.suspend) {
        this.setState('Paused', 'Suspended', 'spec.suspend is true: nothing is fetched, uploaded or deleted');
        if (!this.opts.once) await this.waitForStop();
        return;
      }
      if (this.opts.once) await this.runOnce();
      else await this.runContinuous();
    } catch (err) {
      this.fail(this.stage, err);
    } finally {
      await this.shutdown();
    }
  }

  private waitForStop(): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) =>
      this.abort.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  }

  /** A connected client (a new one after dropMongo()). */
  private async ensureMongo(): Promise<void> {
    if (this.client) return;
    const client = newMongoClient(this.opts.mongoUri);
    await client.connect();
    this.client = client;
    this.coll = client.db(this.cfg.database).collection(this.cfg.collection);
    this.fetcher = new Fetcher(this.coll);
  }

  /**
   * Throws the client away after repeated connectivity failures. The driver normally recovers by
   * itself, but a client whose server was killed and restarted under load has been seen failing every
   * operation with the same stale "connection closed" error for minutes (chaos runs against FerretDB);
   * a fresh client costs one handshake.
   */
  private async dropMongo(): Promise<void> {
    const old = this.client;
    this.client = undefined;
    this.coll = undefined;
    this.fetcher = undefined;
    this.connectivityFailures = 0;
    if (old) await Promise.race([old.close(true).catch(() => undefined), sleep(5000)]);
    this.log.warn('MongoDB unreachable on several attempts in a row: reconnecting with a new client');
  }

  /** Connects, locks the spool, loads and recovers the journal. False when the worker must not go on. */
  private async startUp(): Promise<boolean> {
    this.setState('Starting');
    for (;;) {
      if (this.stopping) return false;
      try {
        this.stage = 'connect';
        if (!this.spool)
          this.spool = await Spool.open(this.opts.spoolRoot, this.cfg.namespace, this.cfg.name);
        await this.ensureMongo();
        this.dest ??= this.tuning.destination ?? createDestination(this.cfg.destination, this.log);
        this.stage = 'recover';
        await this.recover();
        this.consecutiveFailures = 0;
        return true;
      } catch (err) {
        if (err instanceof SpoolLockedError) {
          this.setState('Blocked', 'SpoolLocked', err.message);
          this.recordError('connect', err, false);
          return false;
        }
        if (!(await this.failedAttempt(this.stage, err))) return false;
      }
    }
  }

  private async shutdown(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    await this.dest?.close().catch(() => undefined);
    await this.spool?.unlock().catch(() => undefined);
    if (this.state !== 'Failed' && this.state !== 'Blocked') this.setState('Stopped');
    else this.emitSnapshot();
  }

  /** Records a failure and waits the back-off. False when the worker should give up (stop or once-mode limit). */
  private async failedAttempt(stage: Stage, err: unknown): Promise<boolean> {
    if (this.stopping) return false;
    this.consecutiveFailures++;
    const limit = this.tuning.onceMaxFailures ?? 12;
    const giveUp = this.opts.once && this.consecutiveFailures >= limit;
    this.recordError(stage, err, !giveUp);
    if (giveUp) {
      this.fail(stage, err);
      return false;
    }
    const delay = Math.min(
      this.tuning.maxBackoffMs ?? 60_000,
      1000 * 2 ** Math.min(this.consecutiveFailures - 1, 10),
    );
    await sleep(delay * (0.75 + Math.random() * 0.5), this.abort.signal);
    return !this.stopping;
  }

  private recordError(stage: Stage, err: unknown, retrying: boolean): void {
    const message = errorMessage(err, this.secrets);
    this.lastError = { time: new Date(this.now()).toISOString(), stage, message };
    this.log.warn({ stage, err: message, retrying }, `${stage} failed${retrying ? '; retrying' : ''}`);
    this.opts.events?.onError?.({ stage, message, retrying });
    this.emitSnapshot();
  }

  private fail(stage: Stage, err: unknown): void {
    const message = errorMessage(err, this.secrets);
    this.lastError = { time: new Date(this.now()).toISOString(), stage, message };
    this.setState('Failed', 'Error', `${stage}: ${message}`);
    this.log.error({ stage, err: message }, 'worker failed');
  }

  private setState(state: WorkerState, reason?: string, message?: string): void {
    const changed = state !== this.state || reason !== this.reason || message !== this.message;
    this.state = state;
    this.reason = reason;
    this.message = message;
    if (changed) this.emitSnapshot();
  }

  private emitSnapshot(): void {
    this.opts.events?.onSnapshot?.(this.snapshot());
  }

  private async timed<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
    this.stage = stage;
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      const s = (performance.now() - t0) / 1000;
      this.stats.stageSeconds[stage] = (this.stats.stageSeconds[stage] ?? 0) + s;
      this.opts.events?.onStageDuration?.(stage, s);
    }
  }

  /** Runs a tick; a failure is recorded (and backed off in once mode) instead of thrown. */
  private async guarded(fn: () => Promise<void>): Promise<boolean> {
    try {
      await this.ensureMongo();
      await fn();
      this.consecutiveFailures = 0;
      this.connectivityFailures = 0;
      return true;
    } catch (err) {
      if (MONGO_CONNECTIVITY_ERRORS.has((err as Error).name) && ++this.connectivityFailures >= 2)
        await this.dropMongo();
      if (this.stopping) {
        this.log.info({ stage: this.stage, err: errorMessage(err, this.secrets) }, 'interrupted by stop');
        return false;
      }
      if (err instanceof BlockedError) {
        this.setState('Blocked', err.reason, err.message);
        this.recordError(this.stage, err, true);
        if (this.opts.once) this.stopping = true;
        return false;
      }
      if (
        err instanceof MongoServerError &&
        typeof err.code === 'number' &&
        QUERY_REJECTED_CODES.has(err.code)
      ) {
        // The server refuses the query itself (invalid regex, unknown operator…): the same query fails
        // the same way on every attempt, so retrying only hides the problem. The worker stops as
        // Blocked; the operator restarts it with back-off (and at once when the spec changes).
        const stage = this.stage === 'index' ? 'fetch' : this.stage; // the backlog estimate counts with the fetch query
        const message = `MongoDB refused the ${stage} query (code ${err.code}): ${errorMessage(err, this.secrets)}; fix the policy's filter`;
        this.setState('Blocked', 'QueryRejected', message);
        this.recordError(stage, new Error(message), false);
        this.stopping = true;
        this.abort.abort();
        return false;
      }
      if (this.opts.once) return this.failedAttempt(this.stage, err).then(() => false);
      this.consecutiveFailures++;
      this.recordError(this.stage, err, true);
      return false;
    }
  }

  // ------------------------------------------------------------------ loops

  private async runOnce(): Promise<void> {
    for (;;) {
      if (this.stopping || this.state === 'Failed') return;
      if (!insideWindows(this.cfg.windows, new Date(this.now()))) {
        this.setState('Paused', 'OutsideWindow', "outside the policy's archive windows");
        await sleep(30_000, this.abort.signal);
        continue;
      }
      let fetched = { kept: 0 };
      if (!this.drained) {
        const ok = await this.guarded(async () => {
          fetched = await this.fetchTick();
        });
        if (!ok) continue;
      }
      const j = this.journal!;
      const open = j.openBundle();
      const needUpload =
        this.drained ||
        j.bundles.some((b) => b.state !== 'open') ||
        this.spoolFull(open?.commit ?? EMPTY_COMMIT) ||
        this.now() - this.lastUploadTick >= this.cfg.uploadIntervalMs ||
        (this.state === 'Paused' && fetched.kept === 0);
      if (needUpload) {
        const ok = await this.guarded(() => this.uploadTick());
        if (!ok) continue;
      }
      if ((this.state as WorkerState) === 'Blocked' || (this.state as WorkerState) === 'Failed') return;
      if (this.drained && this.journal!.bundles.length === 0) {
        await this.guarded(() => this.estimate(true, true));
        this.setState(
          'Idle',
          'Drained',
          'no eligible documents left; everything spooled was uploaded and deleted',
        );
        return;
      }
    }
  }

  private async runContinuous(): Promise<void> {
    this.lastUploadTick = this.now();
    // Bundles left by an earlier run are finished first rather than after a whole upload interval.
    if (this.journal!.bundles.some((b) => b.state !== 'open')) {
      await this.mutex.runExclusive(() => this.guarded(() => this.uploadTick()));
    }
    const fetchLoop = async (): Promise<void> => {
      while (!this.stopping) {
        await this.mutex.runExclusive(() => this.guarded(async () => void (await this.fetchTick())));
        if (this.stopping) break;
        const backoff = this.consecutiveFailures
          ? Math.min(this.tuning.maxBackoffMs ?? 60_000, 1000 * 2 ** this.consecutiveFailures)
          : 0;
        await sleep(Math.max(this.cfg.archiveCheckIntervalMs, backoff), this.abort.signal);
      }
    };
    const uploadLoop = async (): Promise<void> => {
      while (!this.stopping) {
        await sleep(this.cfg.uploadIntervalMs, this.abort.signal);
        if (this.stopping) break;
        await this.mutex.runExclusive(() => this.guarded(() => this.uploadTick()));
      }
    };
    await Promise.all([fetchLoop(), uploadLoop()]);
  }

  // ------------------------------------------------------------------ recovery

  private async recover(): Promise<void> {
    const spool = this.spool!;
    const fingerprint: JournalFingerprint = {
      database: this.cfg.database,
      collection: this.cfg.collection,
      archiveField: this.cfg.archiveField,
      archiveFieldFormat: this.cfg.archiveFieldFormat,
      ...(this.target.filter
        ? { filterEJSON: BSON.EJSON.stringify(this.target.filter, { relaxed: false }) }
        : {}),
    };
    const { journal, fresh, positionReset, uidChanged } = await Journal.load(
      spool.dir,
      fingerprint,
      this.opts.policyUid,
    );
    this.journal = journal;
    if (positionReset)
      this.log.info('policy selection changed since the last run: paging restarts from the oldest document');
    const known = new Set(journal.bundles.map((b) => b.id));
    for (const id of await spool.bundleIds()) {
      // Created by a fetch that crashed before its first journal write: nothing in it was committed.
      if (!known.has(id)) await spool.removeBundle(id);
    }
    for (const b of [...journal.bundles]) {
      switch (b.state) {
        case 'open':
          if (b.commit.docs === 0) {
            await spool.removeBundle(b.id);
            journal.remove(b.id);
          } else {
            // Chaos finding 9: a half-written tail used to stay until the next fetch reopened the
            // bundle, so an upload tick that came first (MongoDB down) could not seal it.
            await spool.cutToCommitted(b.id, b.commit);
          }
          break;
        case 'sealed': {
          const size = await spool.fileSize(b.file!);
          if (size !== b.size) {
            // The bundle file is gone or damaged; nothing was deleted, so rebuild it from the spool.
            this.log.warn({ bundle: b.id }, 'sealed bundle file missing; rebuilding it from the spool');
            b.state = 'open';
            delete b.key;
            delete b.file;
            delete b.size;
            delete b.sha256Base64;
          }
          break;
        }
        case 'deleting':
          this.resumedDeletes.add(b.id);
          break;
        default:
          break;
      }
    }
    const superseded = !fresh && !uidChanged && this.opts.journalSuperseded?.(journal.id) === true;
    if (uidChanged && journal.bundles.length) await this.dropSupersededBundles('re-created');
    else if (superseded && journal.bundles.length) await this.dropSupersededBundles('other-replica');
    if (this.cfg.dryRun && (fresh || superseded || uidChanged)) this.continueDryRun(fingerprint);
    // At most one bundle may be open; a second one (not expected) is sealed first.
    const opens = journal.bundles.filter((b) => b.state === 'open');
    for (const extra of opens.slice(0, -1)) await this.seal(extra, false);

    if (!fresh) {
      const pending = journal.bundles.filter((b) => b.state !== 'open');
      this.stats.recoveredBundles = pending.length;
      if (journal.bundles.length) {
        this.log.info(
          { bundles: journal.bundles.map((b) => ({ id: b.id, state: b.state, documents: b.commit.docs })) },
          'resuming bundles from the journal',
        );
      }
    }
    // Without carryTotals a run counts from zero; with it, from what the last clean exit reported.
    this.countBase = this.opts.carryTotals ? { ...journal.data.reported! } : { ...journal.savedLifetime };
    await journal.save();
    this.emitSnapshot();
  }

  /**
   * A dry run without a position of its own continues where the uploads of the policy's previous
   * worker (another replica) reached, rather than uploading the same documents again. Never with
   * pending bundles: their documents lie after the position they were fetched from.
   */
  private continueDryRun(fingerprint: JournalFingerprint): void {
    const j = this.journal!;
    if (j.bundles.some((b) => b.commit.docs > 0)) return;
    const from = continueFrom(fingerprint, this.opts.dryRunPosition?.());
    if (!from) return;
    j.data.position = from;
    j.data.uploadedPosition = from;
    j.data.passComplete = false;
    this.log.info(
      { position: from.mode },
      'dry run: continuing where the uploads of the previous worker (another replica) reached',
    );
  }

  /**
   * Another replica counted for this policy after this journal did ('other-replica'), or the policy was
   * deleted and created again under its name ('re-created'): whatever this spool holds may have been
   * archived (and deleted) since by someone else. Bundles not uploaded yet are dropped — their
   * documents were never deleted, so whatever is still eligible is fetched again from the start —
   * instead of being uploaded as duplicates. Uploaded bundles still finish their deletes; with another
   * replica, documents already gone from MongoDB by then were archived again there and are counted as
   * duplicates (I3); for a re-created policy, deletes sent before it existed are not its own.
   */
  private async dropSupersededBundles(why: 'other-replica' | 're-created'): Promise<void> {
    const j = this.journal!;
    const dropped: string[] = [];
    for (const b of [...j.bundles]) {
      if (b.state === 'open' || (b.state === 'sealed' && !(await this.dest!.headObject(b.key!)))) {
        await this.spool!.removeBundle(b.id);
        j.remove(b.id);
        dropped.push(`${b.id} (${b.state}, ${b.commit.docs} documents)`);
      } else if (b.state !== 'deleted') {
        if (why === 'other-replica') b.superseded = true;
        else if (b.state === 'deleting') b.deleteIssued = b.deleteOffset ?? 0;
      }
    }
    if (dropped.length) {
      j.data.position = { mode: 'range' };
      j.data.passComplete = false;
      if (j.bundles.some((b) => b.commit.docs > 0)) j.data.finishPendingBeforeFetch = true;
    }
    await j.save();
    this.log.info(
      { dropped, finishing: j.bundles.map((b) => b.id) },
      why === 'other-replica'
        ? 'another replica worked on this policy since this spool was last used: bundles not uploaded yet are dropped (their documents are fetched again)'
        : 'the policy was created again under this name: bundles not uploaded yet for the old one are dropped (their documents are fetched again)',
    );
  }

  // ------------------------------------------------------------------ fetch tick

  private bundleFull(c: SpoolCommit): boolean {
    return (
      (this.cfg.bundleMaxDocuments !== undefined && c.docs >= this.cfg.bundleMaxDocuments) ||
      (this.cfg.bundleMaxBytes !== undefined && c.docsBytes >= this.cfg.bundleMaxBytes)
    );
  }

  /** Spool bytes of every bundle except the open one, plus `open`. */
  private spoolFull(open: SpoolCommit): boolean {
    let bytes = open.docsBytes;
    for (const b of this.journal?.bundles ?? []) {
      if (b.state === 'deleted' || b.state === 'open') continue;
      bytes += b.commit.docsBytes + (b.size ?? 0);
    }
    return bytes >= this.cfg.spoolMaxBytes;
  }

  private async checkIndex(): Promise<boolean> {
    if (this.indexOk) return true;
    const r = await this.timed('index', () =>
      checkArchiveIndex(this.coll!, this.target, this.cfg.allowCollectionScan),
    );
    this.indexes = r.indexes;
    if (r.ok) {
      this.indexOk = true;
      if (!r.indexName)
        this.log.warn(
          'no index serves the archive field; allowCollectionScan is set, so every fetch scans the collection',
        );
      return true;
    }
    if (r.reason === 'CollectionNotFound') {
      this.setState('Idle', r.reason, r.message);
      this.drained = true;
      this.lastFetchFoundNothing = true;
      return false;
    }
    throw new BlockedError(r.reason, r.message);
  }

  /** Learns which `$type` aliases the server knows (FerretDB lacks several) and retries. */
  private async withAliasFallback<T>(fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        const m = /Unknown type name alias: (\w+)/.exec((err as Error).message ?? '');
        if (!m || !this.supportedAliases.has(m[1]!) || i > ALL_ALIASES.length) throw err;
        this.supportedAliases.delete(m[1]!);
        this.log.debug({ alias: m[1] }, 'server does not know this $type alias; not using it');
      }
    }
  }

  private newBundle(cutoffMs: number): JournalBundle {
    return {
      id: newBundleId(),
      state: 'open',
      createdAt: new Date(this.now()).toISOString(),
      target: {
        database: this.cfg.database,
        collection: this.cfg.collection,
        archiveField: this.cfg.archiveField,
        archiveFieldFormat: this.cfg.archiveFieldFormat,
        ...(this.target.filter
          ? { filterEJSON: BSON.EJSON.stringify(this.target.filter, { relaxed: false }) }
          : {}),
      },
      ...(this.cfg.changeGuardFields?.length ? { changeGuardFields: [...this.cfg.changeGuardFields] } : {}),
      commit: { ...EMPTY_COMMIT },
      cutoffMaxMs: cutoffMs,
    };
  }

  private async fetchTick(): Promise<{ kept: number }> {
    this.stage = 'index';
    if (!(await this.checkIndex())) return { kept: 0 };
    if (!insideWindows(this.cfg.windows, new Date(this.now()))) {
      this.setState('Paused', 'OutsideWindow', "outside the policy's archive windows");
      return { kept: 0 };
    }
    await this.estimate(false);
    const j = this.journal!;
    if (j.data.finishPendingBeforeFetch) {
      // After a paging reset: pending bundles' documents are still in MongoDB. The open one must not
      // take in documents of the new pass (fetching from the start would append its own documents to
      // it again), and none may be fetched twice: every pending bundle is sealed (uploadTick seals the
      // open one), uploaded and deleted under the target it was fetched with before the new pass starts.
      if (j.bundles.length > 0) await this.uploadTick();
      if (j.bundles.length > 0 || this.stopping) return { kept: 0 };
      delete j.data.finishPendingBeforeFetch;
      await j.save();
    }
    let b = j.openBundle();
    if (this.spoolFull(b?.commit ?? EMPTY_COMMIT)) {
      this.setState(
        'Paused',
        'SpoolFull',
        `spool holds ${this.cfg.spoolMaxBytes} bytes or more; fetching waits for an upload`,
      );
      return { kept: 0 };
    }
    if (b && this.bundleFull(b.commit)) {
      await this.seal(b);
      b = undefined;
    }
    const positionBefore = JSON.stringify(j.data.position);
    const passCompleteBefore = j.data.passComplete;
    // A finished pass starts over once everything it found is deleted (documents skipped at delete
    // time get another chance). A dry run never starts over: it would archive the same documents again.
    if (j.data.passComplete && !this.cfg.dryRun && !j.bundles.some((x) => x.commit.docs > 0)) {
      j.data.position = START_POSITION;
      j.data.passComplete = false;
    }
    const cutoffMs = this.now() - this.cfg.ageLimitMs;
    const isNew = !b;
    const bundle = b ?? this.newBundle(cutoffMs);
    const before = bundle.commit;

    const res = await this.timed('fetch', async () => {
      const appender = await this.spool!.openAppender(bundle.id, bundle.commit, cutoffMs);
      try {
        const r = await this.withAliasFallback(async () => {
          try {
            return await this.fetcher!.fetchBatch(j.data.position, this.sink(appender), {
              target: this.target,
              cutoffMs,
              queryLimit: this.cfg.queryLimit,
              ...(this.cfg.changeGuardFields?.length
                ? { changeGuardFields: this.cfg.changeGuardFields }
                : {}),
              ...(this.limiter ? { pace: () => this.limiter!.take(1) } : {}),
              supportedTypeAliases: this.supportedAliases,
            });
          } catch (err) {
            await appender.reset(); // nothing of a failed batch is kept
            throw err;
          }
        });
        this.stage = 'spool';
        const commit = await appender.finish();
        return { r, commit };
      } finally {
        await appender.close();
      }
    });
    const { r, commit } = res;
    this.noteFetch(r);
    const kept = commit.docs - before.docs;
    if (kept > 0) {
      bundle.commit = commit;
      bundle.cutoffMaxMs = Math.max(bundle.cutoffMaxMs ?? cutoffMs, cutoffMs);
      if (isNew) j.bundles.push(bundle);
    } else if (isNew) {
      await this.spool!.removeBundle(bundle.id);
    }
    j.data.position = r.position;
    if (r.reachedEnd) j.data.passComplete = true;
    // An idle fetch (nothing kept, position and pass unchanged) changed nothing worth an fsync.
    const changed =
      kept > 0 ||
      JSON.stringify(j.data.position) !== positionBefore ||
      j.data.passComplete !== passCompleteBefore;
    if (changed) await this.timed('spool', () => j.save());
    if (kept > 0) crashPoint('after-spool');
    this.lastFetchTime = new Date(this.now()).toISOString();
    this.drained = r.reachedEnd;
    const foundNothing = r.reachedEnd && kept === 0;
    // The pass just drained: the estimate (refreshed at most once a minute) would keep showing the
    // backlog it measured before, so measure again now, once.
    if (foundNothing && !this.lastFetchFoundNothing) await this.estimate(true);
    this.lastFetchFoundNothing = foundNothing;
    if (r.unreadable > 0) {
      this.log.warn(
        { documents: r.unreadable },
        `documents matched the age query but '${this.cfg.archiveField}' could not be read from them, or their _id holds a string that is not valid UTF-8 (it cannot be named exactly in a delete); they are left in place`,
      );
    }
    this.log.debug(
      { kept, received: r.received, position: r.position.mode, reachedEnd: r.reachedEnd },
      'fetched',
    );
    if (kept > 0 && this.bundleFull(bundle.commit)) await this.seal(bundle);
    if (this.spoolFull(j.openBundle()?.commit ?? EMPTY_COMMIT)) {
      this.setState(
        'Paused',
        'SpoolFull',
        `spool holds ${this.cfg.spoolMaxBytes} bytes or more; fetching waits for an upload`,
      );
    } else this.updateActivityState(kept);
    return { kept };
  }

  private sink(appender: BundleAppender): FetchSink {
    return {
      append: (doc, meta) => appender.append(doc, meta),
      checkpoint: () => appender.checkpoint(),
      shouldStop: () =>
        this.stopping || this.bundleFull(appender.current) || this.spoolFull(appender.current),
    };
  }

  private noteFetch(r: FetchResult): void {
    this.stats.documentsFetched += r.kept;
    this.stats.batches++;
    this.stats.serverWaitSeconds += r.serverMs / 1000;
  }

  private updateActivityState(kept: number): void {
    if (this.state === 'Blocked' && this.indexOk) this.setState('Archiving');
    const pending = this.journal!.bundles.some((b) => b.commit.docs > 0);
    // Idle only when the last fetch found nothing eligible and nothing is spooled: an upload that
    // empties the spool while a backlog remains is still Archiving (no Archiving/Idle flapping).
    if (kept > 0 || pending || !this.lastFetchFoundNothing) this.setState('Archiving');
    else this.setState('Idle');
  }

  /** Backlog, oldest eligible age and ineligible count; at most once per estimate interval. */
  /**
   * `countOnly` (the end of a `once` run): the backlog count alone, plus the oldest age only if
   * something is left — the ineligible count was measured at the start and scans on FerretDB.
   */
  private async estimate(force: boolean, countOnly = false): Promise<void> {
    const every = this.tuning.estimateIntervalMs ?? ESTIMATE_EVERY_MS;
    if (!force && this.now() - this.lastEstimate < every) return;
    this.lastEstimate = this.now();
    const t0 = performance.now();
    const cutoffMs = this.now() - this.cfg.ageLimitMs;
    const q = eligibleQuery(this.target, cutoffMs);
    const count = await this.coll!.countDocuments(q);
    const inDb = this.cfg.dryRun
      ? 0
      : (this.journal?.bundles ?? [])
          .filter((b) => b.state !== 'deleted')
          .reduce((n, b) => n + b.commit.docs, 0);
    this.backlog = Math.max(0, count - inDb);
    const p = agePath(this.target);
    const oldest =
      countOnly && count === 0
        ? null
        : await this.coll!.findOne(q, { sort: { [p]: 1 }, projection: { [p]: 1 }, raw: true });
    const ageMs = oldest
      ? ageMillis(this.target.archiveFieldFormat, getRawValue(oldest as unknown as Uint8Array, p))
      : undefined;
    this.oldestAge = ageMs === undefined ? undefined : Math.max(0, Math.round((this.now() - ageMs) / 1000));
    if (ageMs === undefined) this.oldestAge = undefined;
    const accepted =
      this.cfg.archiveFieldFormat === 'epochSeconds' || this.cfg.archiveFieldFormat === 'epochMillis'
        ? ['number']
        : undefined;
    if (!countOnly) {
      this.ineligible = await this.withAliasFallback(() =>
        this.coll!.countDocuments(ineligibleQuery(this.target, accepted)),
      );
    }
    this.stats.serverWaitSeconds += (performance.now() - t0) / 1000;
    this.stats.estimateSeconds += (performance.now() - t0) / 1000;
    this.emitSnapshot();
  }

  // ------------------------------------------------------------------ upload tick

  /**
   * `atPosition`: the journal's fetch position is just past this bundle's documents (false when
   * recovery seals an older, second open bundle: a newer one holds documents before the position).
   */
  private async seal(b: JournalBundle, atPosition = true): Promise<void> {
    if (b.commit.docs === 0) return;
    if (this.cfg.dryRun && atPosition) b.positionAfter = { ...this.journal!.data.position };
    const info = await this.timed('bundle', () => sealBundle(this.spool!, b, this.cfg, this.indexes));
    b.state = 'sealed';
    b.key = info.key;
    b.file = info.file;
    b.size = info.size;
    b.sha256Base64 = info.sha256Base64;
    await this.journal!.save();
    this.log.debug({ bundle: b.id, key: b.key, documents: b.commit.docs, bytes: b.size }, 'bundle sealed');
    crashPoint('after-seal');
  }

  private async uploadTick(): Promise<void> {
    this.lastUploadTick = this.now();
    const j = this.journal!;
    const open = j.openBundle();
    if (open && open.commit.docs > 0) await this.seal(open);
    for (const b of [...j.bundles]) {
      if (this.stopping) return;
      if (b.state === 'sealed') await this.upload(b);
      if (this.stopping) return;
      if (b.state === 'uploaded' || b.state === 'deleting') {
        if (!insideWindows(this.cfg.windows, new Date(this.now()))) continue; // deletes wait for the window
        await this.deleteDocs(b);
      }
      if (b.state === 'deleted') await this.cleanup(b);
    }
    this.updateActivityState(0);
  }

  private destinationForUpload(): Destination {
    const dest = this.dest!;
    if (process.env.GOCHIVE_TEST_CRASH_AT !== 'mid-upload') return dest;
    // Test hook: die once half of the body has been read by the uploader.
    return Object.assign(Object.create(dest) as Destination, {
      putObject: (key: string, body: () => Readable, o: Parameters<Destination['putObject']>[2]) =>
        dest.putObject(
          key,
          () => {
            let seen = 0;
            const tap = new Transform({
              transform(chunk: Buffer, _e, cb) {
                seen += chunk.length;
                // Past the first multipart part when there is more than one, else halfway.
                const at =
                  o.contentLength > 8 * 2 ** 20
                    ? Math.max(8 * 2 ** 20 + 1, o.contentLength / 2)
                    : o.contentLength / 2;
                if (seen >= at) crashPoint('mid-upload');
                cb(null, chunk);
              },
            });
            return body().pipe(tap);
          },
          o,
        ),
    });
  }

  private async upload(b: JournalBundle): Promise<void> {
    const dest = this.destinationForUpload();
    const res = await this.timed('upload', async () => {
      try {
        return await withRetry(
          () =>
            uploadOnce(dest, {
              key: b.key!,
              file: b.file!,
              size: b.size!,
              sha256Base64: b.sha256Base64!,
              metadata: {
                'gochive-policy': `${this.cfg.namespace}/${this.cfg.name}`,
                'gochive-bundle-id': b.id,
                'gochive-documents': String(b.commit.docs),
              },
            }),
          {
            attempts: 3,
            baseDelayMs: 1000,
            maxDelayMs: 10_000,
            signal: this.abort.signal,
            onRetry: (err, attempt) => this.recordError('upload', err, attempt < 3),
          },
        );
      } catch (err) {
        if (err instanceof KeyConflictError) throw new BlockedError('KeyConflict', err.message);
        throw err;
      }
    });
    if (res.alreadyPresent)
      this.log.info(
        { key: b.key },
        'bundle was already in the store (uploaded before a restart); verified, not uploaded again',
      );
    b.state = 'uploaded';
    b.uploadedAt = new Date(this.now()).toISOString();
    // Bundles upload in journal order, so every document before this one's position is in S3 now.
    if (this.cfg.dryRun && b.positionAfter) this.journal!.data.uploadedPosition = b.positionAfter;
    // Journaled with the transition: a kill -9 right after neither loses nor doubles a count.
    await this.saveWithTotals({
      bundlesUploaded: 1,
      documentsArchived: b.commit.docs,
      bytesUploaded: b.size!,
    });
    this.lastUploadTime = b.uploadedAt;
    this.lastBundle = {
      key: b.key!,
      documents: b.commit.docs,
      bytes: b.size!,
      ...(b.commit.ageMinMs !== undefined
        ? { archiveFieldMin: keyDate(b.commit.ageMinMs).toISOString() }
        : {}),
      ...(b.commit.ageMaxMs !== undefined
        ? { archiveFieldMax: keyDate(b.commit.ageMaxMs).toISOString() }
        : {}),
      uploadedAt: b.uploadedAt,
    };
    this.log.info(
      { key: b.key, documents: b.commit.docs, bytes: b.size, destination: this.dest!.description },
      'bundle uploaded and verified',
    );
    this.opts.events?.onBundleUploaded?.({ ...this.lastBundle });
    this.emitSnapshot();
    crashPoint('after-upload');
  }

  private async deleteDocs(b: JournalBundle): Promise<void> {
    const j = this.journal!;
    if (this.cfg.dryRun) {
      b.state = 'deleted';
      b.deleted = 0;
      b.skipped = 0;
      await j.save();
      this.log.info({ key: b.key, documents: b.commit.docs }, 'dry run: documents archived, not deleted');
      return;
    }
    await this.timed('delete', async () => {
      if (b.state === 'uploaded') {
        await this.tuning.beforeDelete?.({ key: b.key!, documents: b.commit.docs });
        b.state = 'deleting';
        b.deleteOffset = 0;
        b.deleteIssued = 0;
        b.deleted = 0;
        b.skipped = 0;
        await j.save();
      }
      const coll =
        b.target.database === this.cfg.database && b.target.collection === this.cfg.collection
          ? this.coll!
          : this.client!.db(b.target.database).collection(b.target.collection);
      const res = await deleteBundleDocuments(coll, b, this.spool!.idsFile(b.id), b.deleteOffset ?? 0, {
        // One delete per queryLimit documents ("documents per request", as the original defines it).
        chunkDocuments:
          this.tuning.deleteChunkDocuments ?? Math.min(10_000, Math.max(1000, this.cfg.queryLimit)),
        chunkBytes: this.tuning.deleteChunkBytes ?? 4 << 20,
        // A chunk whose delete was never sent (deleteIssued not past deleteOffset) deleted nothing:
        // what is gone from it went elsewhere (journals before deleteIssued: assume sent).
        resumed:
          this.resumedDeletes.has(b.id) &&
          (b.deleteIssued === undefined || b.deleteIssued > (b.deleteOffset ?? 0)),
        countGone: b.superseded === true,
        beforeIssue: async (end) => {
          crashPoint('before-delete');
          await this.tuning.beforeDeleteIssue?.();
          b.deleteIssued = end;
          b.deleteIssuedAt = this.now();
          await j.save();
        },
        shouldStop: () => this.stopping,
        ...(this.limiter ? { beforeChunk: (n: number) => this.limiter!.take(n) } : {}),
        onServerMs: (ms) => (this.stats.serverWaitSeconds += ms / 1000),
        onChunk: async (r) => {
          crashPoint('mid-delete');
          b.deleteOffset = r.end;
          b.deleted = (b.deleted ?? 0) + r.deleted;
          b.skipped = (b.skipped ?? 0) + r.skipped;
          this.resumedDeletes.delete(b.id);
          if (r.gone) j.data.duplicates += r.gone;
          await this.saveWithTotals({
            documentsDeleted: r.deleted,
            documentsSkipped: r.skipped,
            ...(r.gone ? { duplicatesUploaded: r.gone } : {}),
          });
          this.emitSnapshot();
        },
      });
      if (!res.complete) return;
      b.state = 'deleted';
      await j.save();
      this.lastSuccessTime = new Date(this.now()).toISOString();
      if (b.skipped) {
        this.log.info(
          { key: b.key, skipped: b.skipped },
          'documents changed or no longer eligible since fetch were not deleted',
        );
      }
      this.log.info({ key: b.key, deleted: b.deleted, skipped: b.skipped }, 'archived documents deleted');
      this.opts.events?.onDeleted?.({ key: b.key!, deleted: b.deleted ?? 0, skipped: b.skipped ?? 0 });
    });
  }

  private async cleanup(b: JournalBundle): Promise<void> {
    await this.timed('cleanup', async () => {
      await this.spool!.removeBundle(b.id);
      this.journal!.remove(b.id);
      await this.journal!.save();
    });
    if (this.cfg.dryRun) this.lastSuccessTime = new Date(this.now()).toISOString();
    this.emitSnapshot();
  }
}

/** Convenience: the engine's factory. */
export function createWorker(opts: WorkerOptions, tuning?: WorkerTuning): Worker {
  return new Worker(opts, tuning);
}

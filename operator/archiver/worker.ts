// The archiver worker: drives one policy through fetch → spool → bundle → upload → delete → cleanup.
//
// As in the original, a fetch tick (every archiveCheckInterval) and an upload tick (every
// s3.uploadInterval) take turns through one mutex; the upload tick seals the bundle spooled so far,
// uploads and verifies it, deletes its documents, and removes its spool files. `once` mode runs the same
// ticks back to back until the backlog is empty and everything spooled is uploaded and deleted.
// Every bundle in flight is recorded in the ledger (ledger.ts: the policy status, or a file for the CLI)
// before its upload starts, and each step advances it and adds its counts in one atomic write. The
// spool and its journal are a cache: a worker that starts with an empty spool (a new pod) first finishes
// what the ledger lists, with `_id`s read back from the store (I8). Failures are retried with back-off;
// nothing is deleted unless its bundle is verified in the store (I1). The stages are units of their
// own (recovery.ts, fetch-stage.ts, seal.ts, upload-stage.ts, delete-stage.ts, backlog.ts); this file
// is the loop that drives them and reports the worker's state.
import { Mutex } from 'async-mutex';
import { BSON, MongoServerError, type MongoClient, type Collection } from 'mongodb';
import { protectedNamespaceProblem } from '../api/protected-namespaces.js';
import { MAX_LEDGER_BUNDLES } from '../api/schema.js';
import { createDestination } from '../storage/factory.js';
import type { Destination } from '../storage/destination.js';
import { backoffDelay } from '../util/backoff.js';
import { errorMessage, uriPasswords, uriUserinfo } from '../util/redact.js';
import { sleep } from '../util/sleep.js';
import { formatDuration } from '../api/duration.js';
import type { PolicyConfig } from './config.js';
import { countersSince, zeroCounters, type Counters } from './counters.js';
import { DeleteStage, type DeleteTuning } from './delete-stage.js';
import { continueFrom } from './dry-run-position.js';
import { normalizeFilter, type EligibilityTarget } from './eligibility.js';
import { Fetcher, START_POSITION, type FetchResult } from './fetch.js';
import type { Journal, JournalBundle, JournalFingerprint } from './journal.js';
import { FileLedgerStore, Ledger, LedgerConflictError } from './ledger.js';
import { mongoClients, type MongoClientLease } from './mongo-client.js';
import { insideWindows, RateLimiter } from './pacing.js';
import { recoverPolicy } from './recovery.js';
import { prepareSeal, sealBundle, type PreparedSeal } from './seal.js';
import { EMPTY_COMMIT, Spool, SpoolLockedError, type SpoolCommit } from './spool.js';
import { BlockedError, crashPoint, type StageContext } from './stage-context.js';
import { UploadStage } from './upload-stage.js';
import { FetchStage } from './fetch-stage.js';
import { BacklogEstimate } from './backlog.js';
import { ExpireStage, type ExpireTuning } from './expire-stage.js';
import { Throttle, type ThrottleReason } from './throttle.js';
import { BackgroundSeal } from './background-seal.js';
import type {
  ArchiveWorker,
  Stage,
  WorkerOptions,
  WorkerSnapshot,
  WorkerState,
  WorkerTotals,
} from './worker-api.js';

/** Tunables that are not part of the policy (tests and the benchmark change them). */
export interface WorkerTuning extends DeleteTuning, ExpireTuning {
  /** Minimum time between backlog estimates (default 60 s). */
  estimateIntervalMs?: number;
  /** `once` mode gives up after this many consecutive failed attempts (default 12, ≈ 10 min of back-off). */
  onceMaxFailures?: number;
  /** Back-off ceiling between failed attempts (default 60 s). */
  maxBackoffMs?: number;
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
  /** Bundles found in the ledger at start (left by an earlier run, here or on another replica). */
  recoveredBundles: number;
  /** Time spent on backlog / oldest-age / ineligible estimates (status, not archiving), seconds. */
  estimateSeconds: number;
  /** spec.throttle: time spent waiting for the database to recover, per reason, seconds. */
  throttledSeconds?: Record<ThrottleReason, number>;
}

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

export class Worker implements ArchiveWorker {
  private readonly cfg: PolicyConfig;
  private readonly target: EligibilityTarget;
  private readonly secrets: string[];
  private readonly log;
  private readonly mutex = new Mutex();
  private readonly abort = new AbortController();
  private readonly limiter?: RateLimiter;
  private readonly throttle?: Throttle;
  private readonly now: () => number;

  private state: WorkerState = 'Starting';
  private reason?: string;
  private message?: string;
  /** The ledger's totals at start: totals() are what was counted since (or since the last report). */
  private countBase?: Counters;
  private ledger?: Ledger;
  private lastFetchTime?: string;
  private lastSuccessTime?: string;
  private lastError?: WorkerSnapshot['lastError'];

  private stopping = false;
  private runPromise?: Promise<void>;
  private client?: MongoClient;
  private clientLease?: MongoClientLease;
  private connecting?: Promise<void>;
  private coll?: Collection;
  private spool?: Spool;
  private journal?: Journal;
  private dest?: Destination;
  private fetcher?: Fetcher;
  private lastUploadTick = 0;
  private consecutiveFailures = 0;
  private readonly fp: JournalFingerprint;
  private connectivityFailures = 0;
  private drained = false;
  /** The last fetch reached the end of the eligible documents without keeping any. */
  private lastFetchFoundNothing = false;
  private stage: Stage = 'connect';
  private readonly fetches = new FetchStage();
  private readonly estimates = new BacklogEstimate();
  private readonly seals = new BackgroundSeal();
  private readonly uploads: UploadStage;
  private readonly deletes: DeleteStage;
  private readonly expiry: ExpireStage;
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
    const filter = normalizeFilter(this.cfg.filter);
    this.target = {
      database: this.cfg.database,
      collection: this.cfg.collection,
      archiveField: this.cfg.archiveField,
      archiveFieldFormat: this.cfg.archiveFieldFormat,
      ...(filter ? { filter } : {}),
    };
    // Computed once: the getter below is read on every tick and every stage context, and each
    // Extended JSON rendering of a large filter is a fresh string of its full size.
    this.fp = {
      database: this.cfg.database,
      collection: this.cfg.collection,
      archiveField: this.cfg.archiveField,
      archiveFieldFormat: this.cfg.archiveFieldFormat,
      ...(filter ? { filterEJSON: BSON.EJSON.stringify(filter, { relaxed: false }) } : {}),
    };
    // The whole URI and its userinfo too, so neither user nor password shows in an error message (I7).
    const userinfo = uriUserinfo(opts.mongoUri);
    this.secrets = [
      opts.mongoUri,
      ...(userinfo === undefined ? [] : [userinfo]),
      ...uriPasswords(opts.mongoUri),
    ];
    if (this.cfg.destination.kind === 's3' && this.cfg.destination.credentials) {
      this.secrets.push(this.cfg.destination.credentials.secretAccessKey);
      if (this.cfg.destination.credentials.sessionToken)
        this.secrets.push(this.cfg.destination.credentials.sessionToken);
    }
    this.log = opts.logger;
    this.now = tuning.now ?? Date.now;
    if (this.cfg.maxDocumentsPerSecond)
      this.limiter = new RateLimiter(this.cfg.maxDocumentsPerSecond, this.abort.signal);
    this.uploads = new UploadStage({
      onUploaded: (b) => {
        this.opts.events?.onBundleUploaded?.(b);
        this.emitSnapshot();
      },
    });
    this.deletes = new DeleteStage(
      {
        onDeleted: (info) => {
          this.lastSuccessTime = new Date(this.now()).toISOString();
          this.opts.events?.onDeleted?.(info);
          this.emitSnapshot();
        },
        onServerMs: (ms) => {
          this.stats.serverWaitSeconds += ms / 1000;
          this.throttle?.recordLatency(ms);
        },
      },
      tuning,
    );
    this.expiry = new ExpireStage(
      { ...tuning, ...(opts.expireIntervalMs ? { expireIntervalMs: opts.expireIntervalMs } : {}) },
      {
        onRemoved: (b) => this.opts.events?.onBundleExpired?.(b),
        onPass: (r) => {
          this.opts.events?.onExpiryPass?.(r);
          this.emitSnapshot();
        },
      },
    );
    if (this.cfg.throttle) {
      this.throttle = new Throttle({
        cfg: this.cfg.throttle,
        log: this.log,
        signal: this.abort.signal,
        connect: () => this.ensureMongo(),
        collection: () => this.coll,
        admin: () => this.client?.db('admin'),
        target: this.target,
        cutoffMs: () => this.now() - this.cfg.ageLimitMs,
        secrets: this.secrets,
        onChange: (change) => {
          this.opts.events?.onThrottle?.(change);
          this.emitSnapshot();
        },
        onTick: () => this.emitSnapshot(),
      });
    }
  }

  /** What the stages work with (complete once recovery has loaded the journal). */
  private get ctx(): StageContext {
    return {
      cfg: this.cfg,
      log: this.log,
      now: this.now,
      spool: this.spool!,
      journal: this.journal!,
      dest: this.dest!,
      ledger: this.ledger!,
      fingerprint: this.fingerprint,
      signal: this.abort.signal,
      stopping: () => this.stopping,
      timed: (stage, fn) => this.timed(stage, fn),
      ...(this.throttle ? { throttle: () => this.throttle!.gate() } : {}),
    };
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
    if (this.uploads.lastBundle) snap.lastBundle = { ...this.uploads.lastBundle };
    const est = this.estimates;
    if (est.backlog !== undefined) snap.backlog = est.backlog;
    if (est.oldestAgeSeconds !== undefined) snap.oldestEligibleAgeSeconds = est.oldestAgeSeconds;
    if (this.lastFetchTime) snap.lastFetchTime = this.lastFetchTime;
    if (this.uploads.lastUploadTime) snap.lastUploadTime = this.uploads.lastUploadTime;
    const success = [this.lastSuccessTime, this.uploads.lastDryRunDone].filter(Boolean).sort().pop();
    if (success) snap.lastSuccessTime = success;
    if (this.lastError) snap.lastError = { ...this.lastError };
    const p = this.expiry.last;
    if (p) {
      const kept = Object.values(p.kept).reduce((a, n) => a + n, 0);
      snap.lastPrune = {
        time: p.time,
        cutoff: p.cutoff,
        bundles: p.expired.length,
        bytes: p.bytes,
        dryRun: p.dryRun,
        kept,
      };
    }
    if (this.throttle) snap.throttle = this.throttle.snapshot();
    return snap;
  }

  /**
   * `gochive archive` printed its statistics: what was counted so far is reported, so the next run
   * starts from zero (a run killed before printing hands its counts to the next run instead).
   */
  async markReported(): Promise<void> {
    await this.ledger?.step((cur) => ({ bundles: cur.bundles, reported: { ...cur.totals } }));
  }

  /** Counts since this run started (or, with carryTotals, since the last markReported()). */
  private currentTotals(): WorkerTotals {
    const counted =
      this.ledger && this.countBase ? countersSince(this.ledger.view.totals, this.countBase) : zeroCounters();
    return { ...counted, documentsIneligible: this.estimates.ineligible };
  }

  /** Timing and volume figures (for `--statistics`). */
  statistics(): WorkerStats {
    return {
      ...this.stats,
      stageSeconds: { ...this.stats.stageSeconds },
      ...(this.throttle ? { throttledSeconds: this.throttle.snapshot().seconds } : {}),
    };
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

  /**
   * A connected client, shared with the policies on the same cluster (a new one after dropMongo()).
   * Single-flight: the throttle's re-checks may ask while a tick does.
   */
  private ensureMongo(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connectMongo().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connectMongo(): Promise<void> {
    const lease = mongoClients.acquire(this.opts.mongoUri);
    try {
      await lease.client.connect();
    } catch (err) {
      await lease.release();
      throw err;
    }
    this.clientLease = lease;
    this.client = lease.client;
    const client = lease.client;
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
    const old = this.clientLease;
    this.clientLease = undefined;
    this.client = undefined;
    this.coll = undefined;
    this.fetcher = undefined;
    this.connectivityFailures = 0;
    if (old) await Promise.race([old.discard(), sleep(5000)]);
    this.log.warn('MongoDB unreachable on several attempts in a row: reconnecting with a new client');
  }

  /** Connects, locks the spool, loads and recovers the journal. False when the worker must not go on. */
  private async startUp(): Promise<boolean> {
    this.setState('Starting');
    const t0 = this.now();
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
        const limit = this.opts.connectTimeoutMs;
        if (this.opts.once && limit !== undefined && this.stage === 'connect' && this.now() - t0 >= limit) {
          // Unreachable from the start: a one-shot run says so and exits instead of retrying for ages.
          const msg = errorMessage(err, this.secrets);
          this.fail(
            'connect',
            new Error(`MongoDB not reachable for ${formatDuration(limit)} (--connect-timeout): ${msg}`),
          );
          return false;
        }
        if (!(await this.failedAttempt(this.stage, err))) return false;
      }
    }
  }

  private async shutdown(): Promise<void> {
    // A seal cut short by stop() leaves its bundle `sealing`: the next start seals it again.
    await this.seals.settle();
    await this.clientLease?.release();
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
    await sleep(this.backOff(1000, 0), this.abort.signal);
    return !this.stopping;
  }

  /**
   * Wait before the next attempt (at least `minMs`): exponential, capped, jittered so failing policies do
   * not retry in lockstep. Logged with the failure count it was chosen for, so the back-off can be seen
   * (and checked) per loop rather than guessed from the timing of failure lines.
   */
  private backOff(baseMs: number, minMs: number): number {
    const failures = this.consecutiveFailures;
    const delay = backoffDelay(failures, { baseMs, maxMs: this.tuning.maxBackoffMs ?? 60_000, jitter: 0.25 });
    const waitMs = Math.max(minMs, delay);
    this.log.info({ stage: this.stage, failures, baseMs, waitMs }, 'backing off');
    return waitMs;
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

  /**
   * Runs a tick; a failure is recorded (and backed off in once mode) instead of thrown. `resets`: whether
   * success clears the failure counts. The continuous upload loop's tick passes false: with nothing to
   * upload it succeeds without asking MongoDB anything, and clearing the counts then restarted the fetch
   * loop's back-off (and put off the fresh client) during an outage.
   */
  private async guarded(fn: () => Promise<void>, resets = true): Promise<boolean> {
    try {
      await this.ensureMongo();
      await fn();
      if (resets) {
        this.consecutiveFailures = 0;
        this.connectivityFailures = 0;
      }
      return true;
    } catch (err) {
      if (MONGO_CONNECTIVITY_ERRORS.has((err as Error).name) && ++this.connectivityFailures >= 2)
        await this.dropMongo();
      if (this.stopping) {
        this.log.info({ stage: this.stage, err: errorMessage(err, this.secrets) }, 'interrupted by stop');
        return false;
      }
      if (err instanceof LedgerConflictError) {
        // Another worker changed this policy's ledger (or the policy is gone): stop rather than guess;
        // a restarted worker reads the ledger afresh.
        this.fail(this.stage, err);
        this.stopping = true;
        this.abort.abort();
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
      // Nothing left to fetch for now: everything spooled is sealed, uploaded and deleted.
      const finish =
        this.drained ||
        this.spoolFull(open?.commit ?? EMPTY_COMMIT) ||
        (this.state === 'Paused' && fetched.kept === 0);
      const intervalDue = this.now() - this.lastUploadTick >= this.cfg.uploadIntervalMs;
      // A bundle still being sealed does not stop the fetching: that is the overlap.
      const ready = j.bundles.some(
        (b) => b.state !== 'open' && (b.state !== 'sealing' || this.seals.inFlight !== b.id),
      );
      if (finish || intervalDue || ready) {
        const ok = await this.guarded(() =>
          this.uploadTick({ sealOpen: finish || intervalDue, wait: finish }),
        );
        if (!ok) continue;
      }
      if ((this.state as WorkerState) === 'Blocked' || (this.state as WorkerState) === 'Failed') return;
      if (this.drained && this.journal!.bundles.length === 0) {
        await this.guarded(() => this.estimate(true, true));
        if (this.cfg.expireAfterMs !== undefined) await this.expirePass();
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
        // Throttled: wait outside the mutex, so uploads of sealed bundles (S3 only) go on meanwhile.
        await this.throttle?.gate();
        await this.mutex.runExclusive(() => this.guarded(async () => void (await this.fetchTick())));
        if (this.stopping) break;
        const wait = this.consecutiveFailures
          ? this.backOff(2000, this.cfg.archiveCheckIntervalMs)
          : this.cfg.archiveCheckIntervalMs;
        await sleep(wait, this.abort.signal);
      }
    };
    const uploadLoop = async (): Promise<void> => {
      while (!this.stopping) {
        await sleep(this.cfg.uploadIntervalMs, this.abort.signal);
        if (this.stopping) break;
        await this.mutex.runExclusive(() => this.guarded(() => this.uploadTick(), false));
      }
    };
    const expireLoop = async (): Promise<void> => {
      if (this.cfg.expireAfterMs === undefined) return;
      let wait = this.tuning.expireIntervalMs === undefined ? this.expiry.firstDelayMs() : 0;
      while (!this.stopping) {
        await sleep(wait, this.abort.signal);
        if (this.stopping) break;
        // After a failure (recorded, with an Event), try again sooner than a full interval.
        wait = (await this.expirePass()) ?? Math.min(this.expiry.intervalMs, 300_000);
      }
    };
    await Promise.all([fetchLoop(), uploadLoop(), expireLoop()]);
  }

  /**
   * One expiry pass (expire-stage.ts), outside the mutex: it touches neither the spool nor MongoDB and
   * reads the ledger afresh. Returns the wait before the next pass, undefined after a failure.
   */
  private async expirePass(): Promise<number | undefined> {
    // Not timed(): that sets this.stage, which the fetch and upload loops own.
    const t0 = performance.now();
    try {
      return await this.expiry.pass({
        cfg: this.cfg,
        dest: this.dest!,
        ledger: this.ledger!,
        log: this.log,
        now: this.now,
        stopping: () => this.stopping,
      });
    } catch (err) {
      if (!this.stopping) this.recordError('expire', err, true);
      return undefined;
    } finally {
      const seconds = (performance.now() - t0) / 1000;
      this.stats.stageSeconds.expire = (this.stats.stageSeconds.expire ?? 0) + seconds;
      this.opts.events?.onStageDuration?.('expire', seconds);
    }
  }

  // ------------------------------------------------------------------ recovery

  private async recover(): Promise<void> {
    this.ledger ??= new Ledger(this.opts.ledger ?? FileLedgerStore.inDir(this.spool!.dir));
    const r = await recoverPolicy({
      spool: this.spool!,
      ledger: this.ledger,
      fingerprint: this.fingerprint,
      ...(this.opts.policyUid ? { policyUid: this.opts.policyUid } : {}),
      log: this.log,
      now: this.now,
    });
    this.journal = r.journal;
    this.deletes.mayHaveStarted(r.uploaded);
    this.stats.recoveredBundles = r.inFlight;
    // At most one bundle may be open; a second one (not expected) is sealed first.
    const opens = r.journal.bundles.filter((b) => b.state === 'open');
    for (const extra of opens.slice(0, -1)) {
      await this.startSeal(extra, false);
      await this.finishSeals();
    }
    // Bundles a crash or a stop caught while they were being sealed (finishSeals seals them again).
    await this.finishSeals();
    // Without carryTotals a run counts from zero; with it, from what the last clean exit reported.
    const view = this.ledger.view;
    this.countBase = this.opts.carryTotals ? { ...(view.reported ?? zeroCounters()) } : { ...view.totals };
    this.emitSnapshot();
  }

  private get fingerprint(): JournalFingerprint {
    return this.fp;
  }

  // ------------------------------------------------------------------ fetch tick

  private bundleFull(c: SpoolCommit): boolean {
    return this.fetches.bundleFull(this.cfg, c);
  }

  private spoolFull(open: SpoolCommit): boolean {
    return this.fetches.spoolFull(this.cfg, this.journal, open);
  }

  /** False when the collection does not exist (Idle); throws BlockedError without a usable index. */
  private async checkIndex(): Promise<boolean> {
    const r = await this.fetches.checkIndex(this.ctx, this.coll!, this.target);
    if (r === true) return true;
    this.setState('Idle', r.reason, r.message);
    this.drained = true;
    this.lastFetchFoundNothing = true;
    return false;
  }

  private async fetchTick(): Promise<{ kept: number }> {
    this.stage = 'index';
    if (!(await this.checkIndex())) return { kept: 0 };
    if (!insideWindows(this.cfg.windows, new Date(this.now()))) {
      this.setState('Paused', 'OutsideWindow', "outside the policy's archive windows");
      return { kept: 0 };
    }
    // spec.throttle: no new batch while the database is under pressure (throttle.ts).
    await this.throttle?.gate();
    if (this.stopping) return { kept: 0 };
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
      if (j.data.positionFromLedger) {
        const from = this.cfg.dryRun
          ? continueFrom(this.fingerprint, this.ledger?.view.dryRunPosition)
          : undefined;
        j.data.position = from ?? START_POSITION;
        j.data.passComplete = false;
        delete j.data.positionFromLedger;
        if (from)
          this.log.info('dry run: continuing where the uploaded bundles reach (status.dryRunPosition)');
      }
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
      await this.startSeal(b);
      b = undefined;
    }
    const positionBefore = JSON.stringify(j.data.position);
    const passCompleteBefore = j.data.passComplete;
    // A finished pass starts over once everything it found is deleted (documents skipped at delete
    // time get another chance). A dry run never starts over: it would archive the same documents again.
    const restarted = j.data.passComplete && !this.cfg.dryRun && !j.bundles.some((x) => x.commit.docs > 0);
    if (restarted) {
      j.data.position = START_POSITION;
      j.data.passComplete = false;
    }
    const cutoffMs = this.now() - this.cfg.ageLimitMs;
    const isNew = !b;
    const bundle = b ?? this.fetches.newBundle(this.ctx, this.target, cutoffMs);
    const before = bundle.commit;

    const res = await this.fetches.fetchInto(this.ctx, {
      fetcher: this.fetcher!,
      bundle,
      position: j.data.position,
      target: this.target,
      cutoffMs,
      ...(this.limiter ? { limiter: this.limiter } : {}),
      ...(this.throttle ? { onRoundTrip: (ms: number) => this.throttle!.recordLatency(ms) } : {}),
      setStage: (st) => (this.stage = st),
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
    // An idle fetch (nothing kept, position and pass unchanged) changed nothing worth an fsync; nor
    // did a start-over that found nothing: a complete pass on disk starts over the same way.
    const changed =
      kept > 0 ||
      (!(restarted && r.reachedEnd) &&
        (JSON.stringify(j.data.position) !== positionBefore || j.data.passComplete !== passCompleteBefore));
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
    if (kept > 0 && this.bundleFull(bundle.commit)) await this.startSeal(bundle);
    if (this.spoolFull(j.openBundle()?.commit ?? EMPTY_COMMIT)) {
      this.setState(
        'Paused',
        'SpoolFull',
        `spool holds ${this.cfg.spoolMaxBytes} bytes or more; fetching waits for an upload`,
      );
    } else this.updateActivityState(kept);
    return { kept };
  }

  private noteFetch(r: FetchResult): void {
    this.stats.documentsFetched += r.kept;
    this.stats.batches++;
    this.stats.serverWaitSeconds += r.serverMs / 1000;
  }

  private updateActivityState(kept: number): void {
    if (this.state === 'Blocked' && this.fetches.indexOk) this.setState('Archiving');
    const pending = this.journal!.bundles.some((b) => b.commit.docs > 0);
    // Idle only when the last fetch found nothing eligible and nothing is spooled: an upload that
    // empties the spool while a backlog remains is still Archiving (no Archiving/Idle flapping).
    if (kept > 0 || pending || !this.lastFetchFoundNothing) this.setState('Archiving');
    else this.setState('Idle');
  }

  /** Backlog, oldest eligible age and ineligible count (backlog.ts); at most once per interval. */
  private async estimate(force: boolean, countOnly = false): Promise<void> {
    const every = this.tuning.estimateIntervalMs ?? ESTIMATE_EVERY_MS;
    if (!force && this.now() - this.estimates.lastAt < every) return;
    const inFlight = this.cfg.dryRun
      ? 0
      : (this.journal?.bundles ?? [])
          .filter((b) => b.state !== 'deleted')
          .reduce((n, b) => n + b.commit.docs, 0);
    const seconds = await this.estimates.measure(this.coll!, this.target, {
      cutoffMs: this.now() - this.cfg.ageLimitMs,
      nowMs: this.now(),
      inFlight,
      countOnly,
      withAliasFallback: (fn) => this.fetches.withAliasFallback(this.log, fn),
    });
    this.stats.serverWaitSeconds += seconds;
    this.stats.estimateSeconds += seconds;
    this.emitSnapshot();
  }

  // ------------------------------------------------------------------ upload tick

  /**
   * Starts sealing `b` in the background (background-seal.ts): its journal state is `sealing` until the
   * bundle file is written, then `sealed`. Earlier bundles are sealed first, one at a time.
   * `atPosition`: the journal's fetch position is just past this bundle's documents (false when
   * recovery seals an older, second open bundle: a newer one holds documents before the position).
   */
  private async startSeal(b: JournalBundle, atPosition = true): Promise<void> {
    if (b.commit.docs === 0) return;
    // The hashing pass reads only this bundle's files, which no fetch appends to any more: it runs
    // while the previous bundle compresses rather than after it (seal.ts prepareSeal).
    const prepared = this.seals.inFlight ? prepareSeal(this.spool!, b, this.abort.signal) : undefined;
    prepared?.catch(() => undefined); // a failed pass is redone inside the seal
    await this.finishSeals();
    if (b.state === 'open') {
      if (this.cfg.dryRun && atPosition) b.positionAfter = { ...this.journal!.data.position };
      b.state = 'sealing';
      await this.journal!.save();
    }
    this.seals.start(b.id, () => this.sealNow(b, prepared));
  }

  /** Waits until no bundle is `sealing`: the seal in flight, then any a failure or a stop cut short. */
  private async finishSeals(): Promise<void> {
    this.stage = 'bundle';
    await this.seals.wait();
    for (const b of this.journal!.bundles) {
      if (b.state !== 'sealing') continue;
      this.seals.start(b.id, () => this.sealNow(b));
      await this.seals.wait();
    }
  }

  /** The seal itself (timed as the `bundle` stage, without taking over the stage the worker reports). */
  private async sealNow(b: JournalBundle, prepared?: Promise<PreparedSeal>): Promise<void> {
    if (process.env.GOCHIVE_TEST_CRASH_AT === 'while-sealing') {
      // Test hook: die while this bundle is `sealing` and the next one holds journaled documents.
      while (!this.journal!.bundles.some((x) => x.state === 'open' && x.commit.docs > 0) && !this.stopping)
        await sleep(20, this.abort.signal);
      crashPoint('while-sealing');
    }
    const t0 = performance.now();
    let info;
    try {
      const ready = await prepared?.catch(() => undefined);
      info = await sealBundle(this.spool!, b, this.cfg, this.fetches.indexes, this.abort.signal, ready);
    } finally {
      const s = (performance.now() - t0) / 1000;
      this.stats.stageSeconds.bundle = (this.stats.stageSeconds.bundle ?? 0) + s;
      this.opts.events?.onStageDuration?.('bundle', s);
    }
    b.state = 'sealed';
    b.key = info.key;
    b.file = info.file;
    b.size = info.size;
    b.sha256Base64 = info.sha256Base64;
    await this.journal!.save();
    this.log.debug({ bundle: b.id, key: b.key, documents: b.commit.docs, bytes: b.size }, 'bundle sealed');
    crashPoint('after-seal');
  }

  /**
   * Seals the open bundle (`sealOpen`), then uploads and deletes every bundle that is sealed, in order.
   * `wait`: waits for the seal in flight too; without it (`once` mode while documents remain) the tick
   * ends at a bundle still being sealed, and the worker goes on fetching meanwhile.
   */
  private async uploadTick(
    o: { sealOpen: boolean; wait: boolean } = { sealOpen: true, wait: true },
  ): Promise<void> {
    this.lastUploadTick = this.now();
    const j = this.journal!;
    const open = j.openBundle();
    if (o.sealOpen && open && open.commit.docs > 0 && (o.wait || !this.seals.inFlight))
      await this.startSeal(open);
    for (const b of [...j.bundles]) {
      if (this.stopping) return;
      if (!j.bundles.includes(b)) continue; // dropped with a ledger bundle that never reached the store
      if (b.state === 'sealing') {
        if (!o.wait && this.seals.inFlight === b.id) break; // later bundles wait: uploads stay in order
        await this.finishSeals();
      }
      // A ledger bundle that never reached the store is dropped with the bundles fetched after it.
      if (b.remote) await this.seals.settle();
      if (b.state === 'sealed') {
        // Deletes waiting for an archive window hold their entries: no new one until there is room.
        if (this.ledger!.view.bundles.length >= MAX_LEDGER_BUNDLES) break;
        await this.uploads.record(this.ctx, b);
      }
      if (b.state === 'uploading') await this.uploads.upload(this.ctx, b);
      if (this.stopping) return;
      if (b.state === 'uploaded') {
        if (!insideWindows(this.cfg.windows, new Date(this.now()))) continue; // deletes wait for the window
        const e = b.ledger!;
        const coll =
          e.database === this.cfg.database && e.collection === this.cfg.collection
            ? this.coll!
            : this.client!.db(e.database).collection(e.collection);
        await this.deletes.run(this.ctx, b, coll, this.limiter);
      }
      if (b.state === 'deleted') await this.cleanup(b);
    }
    this.updateActivityState(0);
  }

  private async cleanup(b: JournalBundle): Promise<void> {
    await this.timed('cleanup', async () => {
      if (!b.remote) await this.spool!.removeBundle(b.id);
      this.journal!.remove(b.id);
      await this.journal!.save();
    });
    this.emitSnapshot();
  }
}

/** Convenience: the engine's factory. */
export function createWorker(opts: WorkerOptions, tuning?: WorkerTuning): Worker {
  return new Worker(opts, tuning);
}

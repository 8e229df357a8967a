// Owns the running archiver workers of this replica: starts one per policy key, stops it (waiting until
// it has really stopped), and notices when one exits on its own. It never decides *whether* a worker
// should run — that is the reconciler's job — so this stays a small, testable lifecycle manager.
import type { ArchiveWorker, WorkerEvents, WorkerOptions, WorkerSnapshot } from '../archiver/worker-api.js';
import type { PolicyConfig } from '../archiver/config.js';
import type { LedgerStore } from '../archiver/ledger.js';
import type { Logger } from '../util/logger.js';
import { zeroTotals } from '../archiver/counters.js';
import { errorMessage } from '../util/redact.js';

export type CreateWorker = (opts: WorkerOptions) => ArchiveWorker;

export interface RunningWorker {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  fingerprint: string;
  worker: ArchiveWorker;
  startedAt: number;
  /** Latest snapshot the worker reported (or polled). */
  snapshot: WorkerSnapshot;
  /** Resolves when run() has settled. */
  done: Promise<void>;
  stopRequested: boolean;
  stopping?: Promise<WorkerSnapshot>;
  /** Set when run() settled without stop(): the error (if it threw). */
  exited?: { error?: string; at: number };
}

export interface StartParams {
  key: string;
  uid: string;
  generation: number;
  fingerprint: string;
  config: PolicyConfig;
  mongoUri: string;
  /** Secret values to scrub from error messages. */
  secretValues: string[];
  logger: Logger;
  events: WorkerEvents;
  /** See WorkerOptions.ledger. */
  ledger: LedgerStore;
}

export interface WorkerSupervisorOptions {
  createWorker: CreateWorker;
  spoolRoot: string;
  log: Logger;
  /** Time between a worker's expiry passes (the operator's --expire-interval). */
  expireIntervalMs?: number;
  /** run() settled although nobody asked the worker to stop. */
  onExit(key: string, w: RunningWorker): void;
}

export class WorkerSupervisor {
  private readonly workers = new Map<string, RunningWorker>();

  constructor(private readonly o: WorkerSupervisorOptions) {}

  get(key: string): RunningWorker | undefined {
    return this.workers.get(key);
  }

  keys(): string[] {
    return [...this.workers.keys()];
  }

  get size(): number {
    return this.workers.size;
  }

  /** Starts a worker for `key`. The caller must have stopped any previous one. */
  start(p: StartParams): RunningWorker {
    if (this.workers.has(p.key)) throw new Error(`a worker for ${p.key} is already running; stop it first`);
    const { namespace, name } = p.config;
    const snapshotHook = p.events.onSnapshot;
    const rw: RunningWorker = {
      key: p.key,
      namespace,
      name,
      uid: p.uid,
      generation: p.generation,
      fingerprint: p.fingerprint,
      worker: undefined as unknown as ArchiveWorker,
      startedAt: Date.now(),
      snapshot: initialSnapshot(),
      done: Promise.resolve(),
      stopRequested: false,
    };
    const events: WorkerEvents = {
      ...p.events,
      onSnapshot: (s) => {
        rw.snapshot = s;
        snapshotHook?.(s);
      },
    };
    rw.worker = this.o.createWorker({
      config: p.config,
      mongoUri: p.mongoUri,
      spoolRoot: this.o.spoolRoot,
      logger: p.logger,
      events,
      policyUid: p.uid, // a spool left by a deleted policy of the same name is dropped
      ledger: p.ledger,
      ...(this.o.expireIntervalMs ? { expireIntervalMs: this.o.expireIntervalMs } : {}),
    });
    this.workers.set(p.key, rw);
    this.o.log.info({ policy: name, namespace, generation: p.generation }, 'worker started');
    rw.done = (async () => {
      try {
        await rw.worker.run();
      } catch (err) {
        rw.exited = { error: errorMessage(err, p.secretValues), at: Date.now() };
      }
      rw.snapshot = safeSnapshot(rw);
      if (!rw.stopRequested) {
        rw.exited ??= { at: Date.now() };
        this.o.log.warn(
          { policy: name, namespace, state: rw.snapshot.state, err: rw.exited.error },
          'worker exited on its own',
        );
        this.o.onExit(p.key, rw);
      }
    })();
    return rw;
  }

  /**
   * Asks the worker to stop (it finishes or safely abandons the bundle in flight) and resolves with its
   * final snapshot once run() has settled. Idempotent; concurrent callers share one stop.
   */
  stop(key: string, why: string): Promise<WorkerSnapshot | undefined> {
    const rw = this.workers.get(key);
    if (!rw) return Promise.resolve(undefined);
    if (rw.stopping) return rw.stopping;
    rw.stopRequested = true;
    this.o.log.info(
      { policy: rw.name, namespace: rw.namespace, generation: rw.generation, reason: why },
      'stopping worker',
    );
    rw.stopping = (async () => {
      if (!rw.exited) {
        try {
          await rw.worker.stop();
        } catch (err) {
          this.o.log.warn(
            { policy: rw.name, namespace: rw.namespace, err: errorMessage(err) },
            'worker stop() failed',
          );
        }
      }
      await rw.done;
      rw.snapshot = safeSnapshot(rw);
      if (this.workers.get(key) === rw) this.workers.delete(key);
      this.o.log.info(
        { policy: rw.name, namespace: rw.namespace, generation: rw.generation, reason: why },
        'worker stopped',
      );
      return rw.snapshot;
    })();
    return rw.stopping;
  }

  /** Forgets a worker that exited on its own (after its exit was handled). */
  remove(key: string, rw: RunningWorker): void {
    if (this.workers.get(key) === rw && rw.exited) this.workers.delete(key);
  }

  async stopAll(why: string): Promise<void> {
    await Promise.all(this.keys().map((k) => this.stop(k, why)));
  }
}

function safeSnapshot(rw: RunningWorker): WorkerSnapshot {
  try {
    return rw.worker.snapshot();
  } catch {
    return rw.snapshot;
  }
}

export function initialSnapshot(): WorkerSnapshot {
  return { state: 'Starting', totals: zeroTotals(), spooledDocuments: 0, spooledBytes: 0 };
}

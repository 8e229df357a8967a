// Level-based reconcile of one ArchivePolicy key: compare what should run (spec, generation, resolved
// connection) with what runs on this replica, and start, restart or stop the worker accordingly.
// Everything it needs comes in through ReconcilerDeps, so unit tests drive it with fakes.
import { createHash } from 'node:crypto';
import type { ArchivePolicy, ArchivePolicyPhase } from '../api/schema.js';
import { API_VERSION, KIND } from '../api/schema.js';
import { formatSpecErrors, resolvePolicy, validateSpec } from '../api/resolve.js';
import type { PolicyConfig } from '../archiver/config.js';
import type { Stage, WorkerEvents, WorkerSnapshot } from '../archiver/worker-api.js';
import { policyLogger, type Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { backoffDelay, type BackoffOptions } from '../util/backoff.js';
import { resolveConnection, secretRefsOf, type ConnectionSettings, type SecretRef } from './connection.js';
import type { EventInput } from './events.js';
import type { ReconcileResult } from './workqueue.js';
import type { LedgerStore } from '../archiver/ledger.js';
import { describeExpiry } from '../archiver/expire-result.js';
import { computeStatus, type Observation } from './status.js';
import type { StatusWriter } from './status-writer.js';
import { decide, type Mode, type Plan, type PolicyState, type Seen } from './reconcile-plan.js';
import { initialSnapshot, type RunningWorker, type WorkerSupervisor } from './workers.js';

export interface ReconcilerDeps {
  identity: string;
  log: Logger;
  settings: ConnectionSettings;
  getPolicy(key: string): ArchivePolicy | undefined;
  /** May run a worker: the lease is held and not being handed back. */
  isHeld(key: string): boolean;
  /** May write status and events: the lease is held (possibly being handed back). */
  ownsStatus(key: string): boolean;
  workers: WorkerSupervisor;
  secrets: {
    use(user: string, refs: SecretRef[]): void;
    release(user: string): void;
    get(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  };
  /** The status writer (the last status it wrote or read is optional for fakes). */
  status: Pick<StatusWriter, 'request' | 'flush' | 'forget'> & Partial<Pick<StatusWriter, 'last'>>;
  recordEvent(policy: ArchivePolicy, ev: EventInput): void;
  forgetEvents(namespace: string, name: string): void;
  metrics: {
    workerStarted(namespace: string, name: string): void;
    observeSnapshot(namespace: string, name: string, s: WorkerSnapshot): void;
    observeStage(namespace: string, name: string, stage: Stage, seconds: number): void;
    observeError(namespace: string, name: string, stage: Stage): void;
    observeExpired?(namespace: string, name: string, bytes: number): void;
    observeExpiryPass?(namespace: string, name: string, kept: number, at: number): void;
    /** The policy's phase, exported for every policy this replica holds (with or without a worker). */
    setPhase(namespace: string, name: string, phase: ArchivePolicyPhase): void;
    forgetPolicy(namespace: string, name: string): void;
  };
  /** Registers secret values so every log line, event and status is scrubbed of them (I7). */
  addSecrets(values: string[]): void;
  /** Re-run reconcile for the key after a delay. */
  requeueAfter(key: string, delayMs: number): void;
  /** The ledger of a policy (its status): where its worker records bundles in flight. */
  ledgerFor(namespace: string, name: string, uid: string): LedgerStore;
  /** Back-off between restarts of a worker that keeps exiting. */
  restartBackoff?: BackoffOptions;
  now?: () => number;
}

const defaultRestartBackoff: BackoffOptions = { baseMs: 2000, maxMs: 300_000, jitter: 0.1 };

export class Reconciler {
  private readonly states = new Map<string, PolicyState>();
  private readonly now: () => number;

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Keys whose lease this replica holds and which it tracks. */
  trackedKeys(): string[] {
    return [...this.states.keys()];
  }

  /**
   * One level-based pass over a policy key: observe what is (policy, lease, spec, connection, worker),
   * decide what should be, act on the worker, report in status and events.
   */
  async reconcile(key: string): Promise<ReconcileResult | void> {
    const seen = await this.observe(key);
    const plan = decide(seen, this.now());
    const started = await this.act(key, seen, plan);
    this.report(key, seen, plan, started);
    // A re-created policy: the old one is forgotten; now reconcile the new one from scratch.
    if (plan.kind === 'drop' && seen.kind === 'recreated') return this.reconcile(key);
    if (plan.kind === 'wait') return { requeueAfterMs: plan.ms };
  }

  /**
   * What is: the policy, whether this replica holds its lease, its spec, connection and worker. Starts
   * tracking a held policy, watches the Secrets it reads, and registers their values for redaction.
   */
  private async observe(key: string): Promise<Seen> {
    const policy = this.d.getPolicy(key);
    if (!policy || policy.metadata.deletionTimestamp) return { kind: 'deleted' };
    const { namespace = '', name, uid = '', generation = 0 } = policy.metadata;
    const known = this.states.get(key);
    if (known && known.uid !== uid) return { kind: 'recreated' };
    if (!this.d.isHeld(key)) return { kind: 'not-held', handingBack: this.d.ownsStatus(key) };
    const st = known ?? this.track(key, { uid, namespace, name, generation });
    st.generation = generation;

    const v = validateSpec(policy.spec);
    if (!v.ok) return { kind: 'invalid', st, policy, message: formatSpecErrors(v.errors) };
    const spec = v.spec;
    if (spec.suspend) return { kind: 'suspended', st, policy };

    this.d.secrets.use(key, secretRefsOf(spec, namespace, this.d.settings));
    // Throws when a Secret cannot be read at all (API trouble): the queue retries with back-off.
    const conn = await resolveConnection(spec, namespace, this.d.settings, (ns, n) =>
      this.d.secrets.get(ns, n),
    );
    if (!conn.ok) return { kind: 'blocked', st, policy, reason: conn.reason, message: conn.message };
    st.secretValues = conn.secretValues;
    this.d.addSecrets(conn.secretValues);

    let config: PolicyConfig;
    try {
      config = resolvePolicy(spec, {
        name,
        namespace,
        ...(conn.s3Credentials ? { s3Credentials: conn.s3Credentials } : {}),
      });
    } catch (err) {
      return { kind: 'invalid', st, policy, message: errorMessage(err, conn.secretValues) };
    }
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ uid, generation, spec, connection: conn.fingerprint }))
      .digest('hex');
    return {
      kind: 'runnable',
      st,
      policy,
      config,
      mongoUri: conn.mongoUri,
      fingerprint,
      worker: this.d.workers.get(key),
    };
  }

  /** Makes it so: stops or starts the worker. True when a worker was started. */
  private async act(key: string, seen: Seen, plan: Plan): Promise<boolean> {
    switch (plan.kind) {
      case 'drop':
        await this.drop(key, plan.why);
        return false;
      case 'stand':
        await this.stopWorker(key, plan.stopWhy);
        if (plan.releaseSecrets) this.d.secrets.release(key);
        return false;
      case 'start': {
        if (seen.kind !== 'runnable') return false;
        const st = seen.st;
        if (plan.replacing) {
          await this.stopWorker(key, plan.replacing);
          st.restarts = 0;
          st.nextStartAt = 0;
          st.exit = undefined;
        }
        // Re-check after every await above: the lease may have gone meanwhile (I6).
        if (!this.d.isHeld(key) || this.d.workers.get(key)) return false;
        this.startWorker(key, seen);
        return true;
      }
      default:
        return false;
    }
  }

  /** Says so: the policy's mode, events and status (only while this replica owns them). */
  private report(key: string, seen: Seen, plan: Plan, started: boolean): void {
    if (!('st' in seen)) return;
    if (plan.kind === 'stand') this.setMode(key, seen.st, seen.policy, plan.mode, plan.event);
    else if (plan.kind === 'keep') this.requestStatus(key, seen.st, seen.policy);
    else if (plan.kind === 'start' && started) {
      this.d.recordEvent(seen.policy, {
        type: 'Normal',
        reason: 'Started',
        action: 'Start',
        note: `worker started for generation ${seen.st.generation} on ${this.d.identity}`,
      });
      seen.st.lastEvent = undefined;
      this.requestStatus(key, seen.st, seen.policy);
    }
  }

  private track(
    key: string,
    id: Pick<PolicyState, 'uid' | 'namespace' | 'name' | 'generation'>,
  ): PolicyState {
    const st: PolicyState = {
      ...id,
      mode: { kind: 'pending' },
      restarts: 0,
      nextStartAt: 0,
      secretValues: [],
    };
    this.states.set(key, st);
    return st;
  }

  private startWorker(key: string, seen: Extract<Seen, { kind: 'runnable' }>): void {
    const { st } = seen;
    const { namespace, name } = st;
    st.mode = { kind: 'running' };
    this.d.metrics.workerStarted(namespace, name);
    this.d.workers.start({
      key,
      uid: st.uid,
      generation: st.generation,
      fingerprint: seen.fingerprint,
      config: seen.config,
      mongoUri: seen.mongoUri,
      secretValues: st.secretValues,
      logger: policyLogger(this.d.log, namespace, name),
      ledger: this.d.ledgerFor(namespace, name, st.uid),
      events: this.workerEvents(key, namespace, name, st.secretValues),
    });
  }

  /** What a worker's events turn into: metrics, Kubernetes events and status updates. */
  private workerEvents(key: string, namespace: string, name: string, secrets: string[]): WorkerEvents {
    return {
      onSnapshot: (s) => {
        this.d.metrics.observeSnapshot(namespace, name, s);
        if (s.state === 'Archiving' || s.state === 'Idle') {
          const cur = this.states.get(key);
          if (cur) {
            cur.restarts = 0;
            cur.exit = undefined;
          }
        }
        this.requestStatusByKey(key);
      },
      onBundleUploaded: (b) => {
        this.event(key, {
          type: 'Normal',
          reason: 'BundleUploaded',
          action: 'Upload',
          note: `uploaded ${b.key}: ${b.documents} documents, ${b.bytes} bytes${b.archiveFieldMin ? `, ${b.archiveFieldMin} .. ${b.archiveFieldMax ?? ''}` : ''}`,
        });
      },
      onDeleted: (info) => {
        this.event(key, {
          type: 'Normal',
          reason: 'DocumentsDeleted',
          action: 'Delete',
          note: `deleted ${info.deleted} documents archived in ${info.key}${info.skipped ? ` (${info.skipped} skipped: changed or no longer eligible)` : ''}`,
        });
      },
      onError: (info) => {
        this.d.metrics.observeError(namespace, name, info.stage);
        const stage = info.stage.charAt(0).toUpperCase() + info.stage.slice(1);
        this.event(key, {
          type: 'Warning',
          reason: `${stage}Failed`,
          action: stage,
          note: `${errorMessage(info.message, secrets)}${info.retrying ? ' (retrying)' : ''}`,
        });
        this.requestStatusByKey(key);
      },
      onThrottle: (t) => {
        this.event(key, {
          type: 'Normal',
          reason: t.phase === 'start' ? 'Throttled' : 'ThrottleEnded',
          action: 'Throttle',
          note: t.phase === 'start' ? `${t.reason}: ${t.message}` : t.message,
        });
        this.requestStatusByKey(key);
      },
      onStageDuration: (stage, seconds) => this.d.metrics.observeStage(namespace, name, stage, seconds),
      // Metrics move per removed bundle; Events come one per pass with its counts (a first pass may
      // remove thousands, and repeats of a reason only bump one Event's series count anyway).
      onBundleExpired: (b) => this.d.metrics.observeExpired?.(namespace, name, b.bytes),
      onExpiryPass: (r) => {
        const kept = Object.values(r.kept).reduce((a, n) => a + n, 0);
        this.d.metrics.observeExpiryPass?.(namespace, name, kept, this.now());
        if (r.expired.length > 0)
          this.event(key, {
            type: 'Normal',
            reason: r.dryRun ? 'BundlesWouldExpire' : 'BundlesExpired',
            action: 'Expire',
            note: describeExpiry(r),
          });
        const unreadable = r.kept.ageUnreadable + r.kept.manifestUnreadable;
        if (unreadable > 0)
          this.event(key, {
            type: 'Warning',
            reason: 'ExpiryKeptUnreadable',
            action: 'Expire',
            note: `${unreadable} object(s) under the policy's prefix are old enough to expire but their age or manifest cannot be read, so they are kept, e.g. ${r.keptKeys
              .filter((k) => k.reason === 'ageUnreadable' || k.reason === 'manifestUnreadable')
              .slice(0, 3)
              .map((k) => k.key)
              .join(', ')}`,
          });
      },
    };
  }

  /** A worker's run() settled without being asked to stop: record why and restart it after back-off. */
  handleExit(key: string, rw: RunningWorker): void {
    const st = this.states.get(key);
    this.d.workers.remove(key, rw);
    if (!st || st.uid !== rw.uid) return;
    this.fold(st, rw.snapshot);
    st.restarts++;
    const delay = backoffDelay(st.restarts, this.d.restartBackoff ?? defaultRestartBackoff);
    st.nextStartAt = this.now() + delay;
    const s = rw.snapshot;
    const message =
      rw.exited?.error ??
      `worker stopped in state ${s.state}${s.reason ? ` (${s.reason}${s.message ? `: ${s.message}` : ''})` : ''}`;
    st.exit = { message: errorMessage(message, st.secretValues), retryInMs: delay };
    const reason = s.state === 'Blocked' ? (s.reason ?? 'Blocked') : 'WorkerExited';
    this.event(key, {
      type: 'Warning',
      reason,
      action: 'Run',
      note: `${st.exit.message}; restarting in ${Math.round(delay / 1000)}s`,
    });
    this.requestStatusByKey(key);
    this.d.requeueAfter(key, delay);
  }

  /**
   * Stops the worker because the lease is being handed back (`handover`: we still hold it, so the final
   * status is written) or was lost (another replica may already own the status: write nothing).
   */
  async stopForLease(key: string, handover: boolean): Promise<void> {
    await this.stopWorker(key, handover ? 'handing the lease to another replica' : 'lease lost');
    if (handover && this.states.has(key)) await this.d.status.flush(key);
  }

  /** Shutdown: stop every worker, write the final statuses (the leases are still held). */
  async stopAll(): Promise<void> {
    await Promise.all(this.d.workers.keys().map((k) => this.stopWorker(k, 'operator shutting down')));
    await Promise.all([...this.states.keys()].map((k) => this.d.status.flush(k).catch(() => undefined)));
  }

  private async stopWorker(key: string, why: string): Promise<void> {
    const rw = this.d.workers.get(key);
    if (!rw) return;
    const final = await this.d.workers.stop(key, why);
    const st = this.states.get(key);
    if (final && st && st.uid === rw.uid && !rw.exited) {
      this.d.metrics.observeSnapshot(rw.namespace, rw.name, final);
      this.fold(st, final);
    }
  }

  /** A worker finished: remember its last picture. */
  private fold(st: PolicyState, s: WorkerSnapshot): void {
    st.lastSnapshot = s;
  }

  /** Forgets a policy on this replica (deleted, re-created, or not ours): stop, write nothing. */
  private async drop(key: string, why: string): Promise<void> {
    const st = this.states.get(key);
    await this.d.workers.stop(key, why);
    this.d.secrets.release(key);
    this.d.status.forget(key);
    if (st) {
      this.d.metrics.forgetPolicy(st.namespace, st.name);
      if (why === 'policy deleted') this.d.forgetEvents(st.namespace, st.name);
    }
    this.states.delete(key);
  }

  private setMode(key: string, st: PolicyState, policy: ArchivePolicy, mode: Mode, ev: EventInput): void {
    st.mode = mode;
    const eventKey = `${mode.kind}/${ev.reason}/${st.generation}/${'message' in mode ? mode.message : ''}`;
    if (st.lastEvent !== eventKey) {
      st.lastEvent = eventKey;
      this.d.recordEvent(policy, ev);
    }
    this.requestStatus(key, st, policy);
  }

  /** The status computer's input: the policy's mode and its worker's picture. */
  private statusObservation(st: PolicyState, rw: RunningWorker | undefined): Observation {
    const remembered = st.lastSnapshot ? { snapshot: st.lastSnapshot } : {};
    const g = st.generation;
    switch (st.mode.kind) {
      case 'pending':
        return {
          kind: 'pending',
          generation: g,
          ...(st.mode.message ? { message: st.mode.message } : {}),
          ...remembered,
        };
      case 'invalid':
        return { kind: 'invalid', generation: g, message: st.mode.message, ...remembered };
      case 'suspended':
        return { kind: 'suspended', generation: g, ...remembered };
      case 'blocked':
        return {
          kind: 'blocked',
          generation: g,
          reason: st.mode.reason,
          message: st.mode.message,
          ...remembered,
        };
      case 'running':
        if (rw && !rw.exited)
          return {
            kind: 'running',
            generation: rw.generation,
            snapshot: rw.snapshot,
          };
        return {
          kind: 'running',
          generation: g,
          snapshot: st.lastSnapshot ?? initialSnapshot(),
          ...(st.exit ? { exited: st.exit } : {}),
        };
    }
  }

  private requestStatusByKey(key: string): void {
    const st = this.states.get(key);
    const policy = this.d.getPolicy(key);
    if (st && policy) this.requestStatus(key, st, policy);
  }

  private requestStatus(key: string, st: PolicyState, policy: ArchivePolicy): void {
    if (!this.d.ownsStatus(key)) return;
    this.exportPhase(key, st, policy);
    this.d.status.request(
      key,
      { namespace: st.namespace, name: st.name },
      policy.status,
      policy.metadata.resourceVersion,
      (prev) => {
        const cur = this.states.get(key);
        if (!cur || cur !== st || !this.d.ownsStatus(key)) return undefined;
        const rw = this.d.workers.get(key);
        const next = computeStatus(prev, this.statusObservation(st, rw), {
          replica: this.d.identity,
          now: new Date(this.now()),
        });
        return next;
      },
    );
  }

  /**
   * Exports the phase the status is about to show, at once (not when the throttled write happens), and
   * for every mode: InvalidSpec, SecretNotFound… have no worker, hence no gochive_worker_state series.
   */
  private exportPhase(key: string, st: PolicyState, policy: ArchivePolicy): void {
    const prev = this.d.status.last?.(key) ?? policy.status;
    const { phase } = computeStatus(prev, this.statusObservation(st, this.d.workers.get(key)), {
      replica: this.d.identity,
      now: new Date(this.now()),
    });
    if (phase) this.d.metrics.setPhase(st.namespace, st.name, phase);
  }

  private event(key: string, ev: EventInput): void {
    const policy = this.d.getPolicy(key);
    if (policy && this.d.ownsStatus(key)) this.d.recordEvent(policy, ev);
  }
}

/** The regarding reference of an event about a policy. */
export function regardingOf(policy: ArchivePolicy): {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
} {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    namespace: policy.metadata.namespace ?? '',
    name: policy.metadata.name,
    ...(policy.metadata.uid ? { uid: policy.metadata.uid } : {}),
  };
}

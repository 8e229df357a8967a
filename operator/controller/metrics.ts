// Prometheus metrics (prom-client, one private registry). Per-policy counters are fed from the deltas of
// worker snapshots, so a restarted worker (whose own totals start again at zero) never makes a counter
// go backwards. Label values are namespace and policy names only — never URIs or secrets (I7).
import client from 'prom-client';
import type { Stage, WorkerSnapshot, WorkerState, WorkerTotals } from '../archiver/worker-api.js';
import { PHASES, type ArchivePolicyPhase } from '../api/schema.js';
import { zeroTotals } from '../archiver/counters.js';
import { THROTTLE_REASONS, type ThrottleReason } from '../archiver/throttle.js';

const STATES: WorkerState[] = ['Starting', 'Archiving', 'Idle', 'Paused', 'Blocked', 'Failed', 'Stopped'];
const STAGES: Stage[] = [
  'connect',
  'index',
  'fetch',
  'spool',
  'bundle',
  'upload',
  'verify',
  'delete',
  'cleanup',
  'recover',
  'expire',
];
type PolicyLabels = { namespace: string; policy: string };

export class OperatorMetrics {
  readonly registry = new client.Registry();
  private readonly archived: client.Counter<'namespace' | 'policy'>;
  private readonly deleted: client.Counter<'namespace' | 'policy'>;
  private readonly skipped: client.Counter<'namespace' | 'policy'>;
  private readonly bytes: client.Counter<'namespace' | 'policy'>;
  private readonly bundles: client.Counter<'namespace' | 'policy'>;
  private readonly duplicates: client.Counter<'namespace' | 'policy'>;
  private readonly stageSeconds: client.Histogram<'namespace' | 'policy' | 'stage'>;
  private readonly backlog: client.Gauge<'namespace' | 'policy'>;
  private readonly spooled: client.Gauge<'namespace' | 'policy'>;
  private readonly lastSuccess: client.Gauge<'namespace' | 'policy'>;
  private readonly workerState: client.Gauge<'namespace' | 'policy' | 'state'>;
  private readonly policyPhase: client.Gauge<'namespace' | 'policy' | 'phase'>;
  private readonly errors: client.Counter<'namespace' | 'policy' | 'stage'>;
  private readonly expired: client.Counter<'namespace' | 'policy'>;
  private readonly expiredBytes: client.Counter<'namespace' | 'policy'>;
  private readonly expiryKept: client.Gauge<'namespace' | 'policy'>;
  private readonly expiryLastPass: client.Gauge<'namespace' | 'policy'>;
  private readonly throttledSeconds: client.Counter<'namespace' | 'policy' | 'reason'>;
  readonly reconciles: client.Counter<'result'>;
  readonly reconcileSeconds: client.Histogram;
  readonly leasesHeld: client.Gauge;
  readonly replicasLive: client.Gauge;
  readonly queueDepth: client.Gauge;
  readonly statusWrites: client.Counter<'result'>;
  readonly leaseWrites: client.Counter<'op'>;
  private readonly seen = new Map<
    string,
    { labels: PolicyLabels; totals: WorkerTotals; throttled?: Record<ThrottleReason, number> }
  >();

  constructor() {
    const r = [this.registry];
    const pl = ['namespace', 'policy'] as const;
    this.archived = new client.Counter({
      name: 'gochive_documents_archived_total',
      help: 'Documents in uploaded, verified bundles',
      labelNames: pl,
      registers: r,
    });
    this.deleted = new client.Counter({
      name: 'gochive_documents_deleted_total',
      help: 'Documents deleted from MongoDB after archiving',
      labelNames: pl,
      registers: r,
    });
    this.skipped = new client.Counter({
      name: 'gochive_documents_skipped_total',
      help: 'Documents not deleted because they changed or were no longer eligible at delete time',
      labelNames: pl,
      registers: r,
    });
    this.bytes = new client.Counter({
      name: 'gochive_bytes_uploaded_total',
      help: 'Compressed bundle bytes uploaded',
      labelNames: pl,
      registers: r,
    });
    this.bundles = new client.Counter({
      name: 'gochive_bundles_uploaded_total',
      help: 'Bundles uploaded and verified',
      labelNames: pl,
      registers: r,
    });
    this.duplicates = new client.Counter({
      name: 'gochive_documents_duplicated_total',
      help: 'Documents uploaded twice after a crash or retry (restore removes them)',
      labelNames: pl,
      registers: r,
    });
    this.stageSeconds = new client.Histogram({
      name: 'gochive_stage_duration_seconds',
      help: 'Duration of archiver stages (fetch, spool, bundle, upload, verify, delete, …)',
      labelNames: ['namespace', 'policy', 'stage'],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180],
      registers: r,
    });
    this.backlog = new client.Gauge({
      name: 'gochive_backlog_documents',
      help: 'Estimated eligible documents still in MongoDB',
      labelNames: pl,
      registers: r,
    });
    this.spooled = new client.Gauge({
      name: 'gochive_spooled_bytes',
      help: 'Bytes waiting in the local spool',
      labelNames: pl,
      registers: r,
    });
    this.lastSuccess = new client.Gauge({
      name: 'gochive_last_success_timestamp_seconds',
      help: 'Unix time of the last successful upload+delete cycle',
      labelNames: pl,
      registers: r,
    });
    this.workerState = new client.Gauge({
      name: 'gochive_worker_state',
      help: '1 for the current state of the policy worker on this replica',
      labelNames: ['namespace', 'policy', 'state'],
      registers: r,
    });
    // Unlike gochive_worker_state, this covers policies that have no worker: an invalid spec (Failed), a
    // missing Secret or key or an unusable URI (Blocked), suspended or not yet started ones.
    this.policyPhase = new client.Gauge({
      name: 'gochive_policy_phase',
      help: "1 for the policy's current status.phase, for every policy whose lease this replica holds",
      labelNames: ['namespace', 'policy', 'phase'],
      registers: r,
    });
    this.errors = new client.Counter({
      name: 'gochive_errors_total',
      help: 'Errors reported by workers, by stage',
      labelNames: ['namespace', 'policy', 'stage'],
      registers: r,
    });
    // Expiry: counters move per removed bundle; the gauges describe the last pass.
    this.expired = new client.Counter({
      name: 'gochive_bundles_expired_total',
      help: 'Bundles removed from the bucket because their newest document passed spec.s3.expireAfter',
      labelNames: pl,
      registers: r,
    });
    this.expiredBytes = new client.Counter({
      name: 'gochive_bytes_expired_total',
      help: 'Bytes of the bundles removed by expiry',
      labelNames: pl,
      registers: r,
    });
    this.expiryKept = new client.Gauge({
      name: 'gochive_expiry_kept_bundles',
      help: "Bundles the last expiry pass kept although old enough: age or manifest unreadable, another policy's, or still in the ledger",
      labelNames: pl,
      registers: r,
    });
    this.expiryLastPass = new client.Gauge({
      name: 'gochive_expiry_last_pass_timestamp_seconds',
      help: 'Unix time of the last expiry pass',
      labelNames: pl,
      registers: r,
    });
    this.throttledSeconds = new client.Counter({
      name: 'gochive_throttled_seconds_total',
      help: 'Time a policy spent backing off because the database was under pressure (spec.throttle), by reason',
      labelNames: ['namespace', 'policy', 'reason'],
      registers: r,
    });
    this.reconciles = new client.Counter({
      name: 'gochive_reconcile_total',
      help: 'Reconciles by result',
      labelNames: ['result'],
      registers: r,
    });
    this.reconcileSeconds = new client.Histogram({
      name: 'gochive_reconcile_duration_seconds',
      help: 'Reconcile duration',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: r,
    });
    this.leasesHeld = new client.Gauge({
      name: 'gochive_leases_held',
      help: 'Policy leases held by this replica',
      registers: r,
    });
    this.replicasLive = new client.Gauge({
      name: 'gochive_replicas_live',
      help: 'Operator replicas with a live heartbeat lease, as seen by this replica',
      registers: r,
    });
    this.queueDepth = new client.Gauge({
      name: 'gochive_workqueue_depth',
      help: 'Keys waiting in the reconcile queue',
      registers: r,
    });
    this.statusWrites = new client.Counter({
      name: 'gochive_status_writes_total',
      help: 'ArchivePolicy status patches by result',
      labelNames: ['result'],
      registers: r,
    });
    this.leaseWrites = new client.Counter({
      name: 'gochive_lease_writes_total',
      help: 'Lease API writes by operation (acquire, renew, release, delete, heartbeat)',
      labelNames: ['op'],
      registers: r,
    });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'gochive_' });
  }

  /** Called when a worker starts: its totals count from zero from here on. */
  workerStarted(namespace: string, policy: string): void {
    this.seen.set(`${namespace}/${policy}`, { labels: { namespace, policy }, totals: zeroTotals() });
    this.setState(namespace, policy, 'Starting');
  }

  observeSnapshot(namespace: string, policy: string, s: WorkerSnapshot): void {
    const key = `${namespace}/${policy}`;
    let prev = this.seen.get(key);
    if (!prev) {
      prev = { labels: { namespace, policy }, totals: zeroTotals() };
      this.seen.set(key, prev);
    }
    const l = prev.labels;
    const inc = (c: client.Counter<'namespace' | 'policy'>, now: number, before: number): void => {
      if (now > before) c.inc(l, now - before);
    };
    inc(this.archived, s.totals.documentsArchived, prev.totals.documentsArchived);
    inc(this.deleted, s.totals.documentsDeleted, prev.totals.documentsDeleted);
    inc(this.skipped, s.totals.documentsSkipped, prev.totals.documentsSkipped);
    inc(this.bytes, s.totals.bytesUploaded, prev.totals.bytesUploaded);
    inc(this.bundles, s.totals.bundlesUploaded, prev.totals.bundlesUploaded);
    inc(this.duplicates, s.totals.duplicatesUploaded, prev.totals.duplicatesUploaded);
    prev.totals = { ...s.totals };
    if (s.throttle) {
      for (const reason of THROTTLE_REASONS) {
        const now = s.throttle.seconds[reason];
        const before = prev.throttled?.[reason] ?? 0;
        if (now > before) this.throttledSeconds.inc({ namespace, policy, reason }, now - before);
      }
      prev.throttled = { ...s.throttle.seconds };
    }
    if (s.backlog !== undefined) this.backlog.set(l, s.backlog);
    this.spooled.set(l, s.spooledBytes);
    if (s.lastSuccessTime) this.lastSuccess.set(l, Date.parse(s.lastSuccessTime) / 1000);
    this.setState(namespace, policy, s.state);
  }

  observeStage(namespace: string, policy: string, stage: Stage, seconds: number): void {
    this.stageSeconds.observe({ namespace, policy, stage }, seconds);
  }

  /** One expired bundle removed. */
  observeExpired(namespace: string, policy: string, bytes: number): void {
    this.expired.inc({ namespace, policy });
    this.expiredBytes.inc({ namespace, policy }, bytes);
  }

  /** An expiry pass ended, keeping `kept` old-enough bundles. */
  observeExpiryPass(namespace: string, policy: string, kept: number, at: number): void {
    this.expiryKept.set({ namespace, policy }, kept);
    this.expiryLastPass.set({ namespace, policy }, at / 1000);
  }

  observeError(namespace: string, policy: string, stage: Stage): void {
    this.errors.inc({ namespace, policy, stage });
  }

  setState(namespace: string, policy: string, state: WorkerState): void {
    for (const st of STATES) this.workerState.set({ namespace, policy, state: st }, st === state ? 1 : 0);
  }

  /** The phase the policy's status shows (or is about to show): set whether or not a worker runs. */
  setPhase(namespace: string, policy: string, phase: ArchivePolicyPhase): void {
    for (const p of PHASES) this.policyPhase.set({ namespace, policy, phase: p }, p === phase ? 1 : 0);
  }

  /** The policy is gone from this replica (deleted, or its lease moved): drop its series. */
  forgetPolicy(namespace: string, policy: string): void {
    this.seen.delete(`${namespace}/${policy}`);
    const l = { namespace, policy };
    for (const m of [
      this.archived,
      this.deleted,
      this.skipped,
      this.bytes,
      this.bundles,
      this.duplicates,
      this.backlog,
      this.spooled,
      this.lastSuccess,
      this.expired,
      this.expiredBytes,
      this.expiryKept,
      this.expiryLastPass,
    ])
      m.remove(l);
    for (const st of STATES) this.workerState.remove({ namespace, policy, state: st });
    for (const phase of PHASES) this.policyPhase.remove({ namespace, policy, phase });
    for (const reason of THROTTLE_REASONS) this.throttledSeconds.remove({ namespace, policy, reason });
    for (const stage of STAGES) {
      this.stageSeconds.remove({ namespace, policy, stage });
      this.errors.remove({ namespace, policy, stage });
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

// Wires the operator together: policy informers feed a work queue, the reconciler runs workers for the
// policies whose Leases this replica holds, and the status writer, event recorder, metrics and health
// server report on them. Also owns the orderly shutdown (SIGTERM) sequence.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ArchivePolicy } from '../api/schema.js';
import { GROUP, PLURAL, VERSION } from '../api/schema.js';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { EventRecorder } from './events.js';
import { HealthServer, parseBindAddress } from './http-server.js';
import { ResourceInformer } from './informer.js';
import type { KubeClient } from './kube-rest.js';
import { LeaseManager } from './leases.js';
import { OperatorMetrics } from './metrics.js';
import type { OperatorOptions } from './options.js';
import { Reconciler, regardingOf } from './reconciler.js';
import type { SecretSet } from './scrub.js';
import { SecretWatcher } from './secret-watcher.js';
import type { ConnectionSettings } from './connection.js';
import { StatusWriter } from './status-writer.js';
import { WorkerSupervisor, type CreateWorker } from './workers.js';
import { WorkQueue } from './workqueue.js';
import { StatusLedgerStore } from './status-ledger.js';

export interface OperatorDeps {
  options: OperatorOptions;
  kc: KubeConfig;
  rest: KubeClient & { close?(): void };
  /**
   * For the Lease writes (default: `rest`): a client of their own, so renewals never queue behind
   * status patches and Events for a free socket.
   */
  leaseRest?: KubeClient & { close?(): void };
  log: Logger;
  secrets: SecretSet;
  createWorker: CreateWorker;
}

const policyKey = (p: ArchivePolicy): string => `${p.metadata.namespace ?? ''}/${p.metadata.name}`;

export class Operator {
  readonly metrics = new OperatorMetrics();
  private readonly policyInformers = new Map<string, ResourceInformer<ArchivePolicy>>();
  private readonly leases: LeaseManager;
  private readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly workers: WorkerSupervisor;
  private readonly secretWatcher: SecretWatcher;
  private readonly connectionSettings: ConnectionSettings;
  private readonly statusWriter: StatusWriter;
  private readonly events: EventRecorder;
  private readonly health: HealthServer;
  /** Last generation/uid seen per key: status-only updates do not need a reconcile. */
  private readonly seen = new Map<string, string>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private started = false;
  private shuttingDown = false;
  private policiesSynced = false;
  boundAddress: { host: string; port: number } | undefined;

  constructor(private readonly d: OperatorDeps) {
    const o = d.options;
    const log = d.log;
    const scopes = o.namespaces.length > 0 ? o.namespaces : [''];
    for (const ns of scopes) {
      const path = ns
        ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`
        : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
      const informer = new ResourceInformer<ArchivePolicy>(
        d.kc,
        d.rest,
        { path, what: `archivepolicies${ns ? ` in ${ns}` : ''}` },
        {
          add: (p) => this.onPolicy(p, 'add'),
          update: (p) => this.onPolicy(p, 'update'),
          delete: (p) => this.onPolicy(p, 'delete'),
        },
        log,
      );
      this.policyInformers.set(ns, informer);
    }
    this.queue = new WorkQueue({
      concurrency: o.maxConcurrentReconciles,
      onError: (key, err, failures, retryInMs) => {
        this.metrics.reconciles.inc({ result: 'error' });
        log.warn(
          { key, err: d.secrets.redact(errorMessage(err)), failures, retryInMs },
          'reconcile failed; will retry',
        );
      },
    });
    this.statusWriter = new StatusWriter({
      rest: d.rest,
      log,
      minIntervalMs: o.statusMinIntervalMs,
      onWrite: (r) => this.metrics.statusWrites.inc({ result: r }),
    });
    this.events = new EventRecorder({
      rest: d.rest,
      instance: o.identity,
      log,
      redact: (t) => d.secrets.redact(t),
    });
    this.secretWatcher = new SecretWatcher(d.kc, d.rest, log, (users) => {
      for (const u of users) this.queue.add(u);
    });
    this.workers = new WorkerSupervisor({
      createWorker: d.createWorker,
      spoolRoot: o.spoolDir,
      expireIntervalMs: o.expireIntervalMs,
      log,
      onExit: (key, rw) => this.reconciler.handleExit(key, rw),
    });
    this.leases = new LeaseManager({
      kc: d.kc,
      rest: d.leaseRest ?? d.rest,
      namespace: o.leaseNamespace,
      identity: o.identity,
      leaseDurationMs: o.leaseDurationMs,
      renewIntervalMs: o.renewIntervalMs,
      log,
      onChange: (key) => this.queue.add(key),
      stopWork: (key, handover) => this.reconciler.stopForLease(key, handover),
      onWrite: (op) => this.metrics.leaseWrites.inc({ op }),
      inScope: (key) => o.namespaces.length === 0 || o.namespaces.includes(key.slice(0, key.indexOf('/'))),
    });
    this.connectionSettings = {
      ...(o.mongodbUriTemplate ? { uriTemplate: o.mongodbUriTemplate } : {}),
      ...(o.credentialsSecret ? { credentialsSecret: o.credentialsSecret } : {}),
      usernameKey: o.credentialsUsernameKey,
      passwordKey: o.credentialsPasswordKey,
    };
    this.reconciler = new Reconciler({
      identity: o.identity,
      log,
      settings: this.connectionSettings,
      getPolicy: (key) => this.getPolicy(key),
      isHeld: (key) => this.leases.isHeld(key),
      ownsStatus: (key) => this.leases.ownsStatus(key),
      workers: this.workers,
      secrets: this.secretWatcher,
      status: this.statusWriter,
      recordEvent: (p, ev) => this.events.record(regardingOf(p), ev),
      forgetEvents: (ns, name) => this.events.forget(ns, name),
      metrics: this.metrics,
      addSecrets: (values) => d.secrets.add(values),
      requeueAfter: (key, ms) => this.queue.addAfter(key, ms),
      ledgerFor: (namespace, name, uid) =>
        new StatusLedgerStore({
          rest: d.rest,
          namespace,
          name,
          uid,
          onWritten: (status, rv) => this.statusWriter.rebase(`${namespace}/${name}`, status, rv),
        }),
    });
    this.health = new HealthServer({
      metrics: async () => {
        this.metrics.leasesHeld.set(this.leases.heldKeys().length);
        this.metrics.replicasLive.set(this.leases.liveReplicas().length);
        this.metrics.queueDepth.set(this.queue.length);
        return this.metrics.render();
      },
      healthy: () => ({ ok: true, detail: this.shuttingDown ? 'shutting down' : 'running' }),
      ready: () => {
        if (this.shuttingDown) return { ok: false, detail: 'shutting down' };
        const pending = [...this.policyInformers.entries()]
          .filter(([, i]) => !i.hasSynced)
          .map(([ns]) => ns || 'all namespaces');
        if (!this.leases.synced) pending.push(`leases in ${o.leaseNamespace}`);
        return pending.length === 0 && this.policiesSynced
          ? { ok: true, detail: 'caches synced' }
          : { ok: false, detail: `waiting for caches: ${pending.join(', ') || 'policies'}` };
      },
    });
  }

  /** Starts serving health/metrics, the caches, the lease manager and the reconcile loop. */
  async start(): Promise<void> {
    if (this.started) throw new Error('operator already started');
    this.started = true;
    const o = this.d.options;
    const bind = parseBindAddress(o.metricsBindAddress);
    if (bind) {
      const addr = await this.health.listen(bind.host, bind.port);
      this.boundAddress = { host: addr.address, port: addr.port };
      this.d.log.info({ address: `${addr.address}:${addr.port}` }, 'serving /metrics, /healthz and /readyz');
    }
    await this.leases.start();
    await Promise.all([...this.policyInformers.values()].map((i) => i.start()));
    // Keep trying until every policy cache has listed once; reconciling a partial picture could make
    // this replica drop policies it should run.
    while (!this.shuttingDown && ![...this.policyInformers.values()].every((i) => i.hasSynced)) {
      await Promise.all([...this.policyInformers.values()].map((i) => i.waitForSync(1000)));
    }
    if (this.shuttingDown) return;
    this.policiesSynced = true;
    this.leases.setDesired(this.allKeys());
    this.queue.start(async (key) => {
      const end = this.metrics.reconcileSeconds.startTimer();
      try {
        const r = await this.reconciler.reconcile(key);
        this.metrics.reconciles.inc({ result: 'ok' });
        return r;
      } finally {
        end();
      }
    });
    for (const k of this.allKeys()) this.queue.add(k);
    this.resyncTimer = setInterval(() => {
      for (const k of new Set([...this.allKeys(), ...this.reconciler.trackedKeys()])) this.queue.add(k);
    }, o.resyncPeriodMs);
    this.resyncTimer.unref();
    this.d.log.info(
      {
        namespaces: o.namespaces.length ? o.namespaces : 'all',
        leaseNamespace: o.leaseNamespace,
        policies: this.allKeys().length,
      },
      'operator started',
    );
  }

  /**
   * SIGTERM: stop watching, let running reconciles finish, stop every worker (each finishes or safely
   * abandons its bundle in flight) while the leases are still renewed, write final statuses, then hand
   * the leases back so another replica takes over at once.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const log = this.d.log;
    log.info({ workers: this.workers.size }, 'shutting down: stopping workers');
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await Promise.all([...this.policyInformers.values()].map((i) => i.stop()));
    await this.queue.shutdown();
    await this.reconciler.stopAll();
    await this.leases.stop();
    await this.statusWriter.close();
    await this.events.close();
    await this.secretWatcher.stop();
    await this.health.close();
    this.d.rest.close?.();
    this.d.leaseRest?.close?.();
    log.info('shutdown complete: workers stopped, leases released');
  }

  get workerCount(): number {
    return this.workers.size;
  }

  private getPolicy(key: string): ArchivePolicy | undefined {
    const i = key.indexOf('/');
    const ns = key.slice(0, i);
    const name = key.slice(i + 1);
    const informer = this.policyInformers.get(ns) ?? this.policyInformers.get('');
    return informer?.get(name, ns);
  }

  private allKeys(): string[] {
    const keys: string[] = [];
    for (const i of this.policyInformers.values()) for (const p of i.list()) keys.push(policyKey(p));
    return keys;
  }

  private onPolicy(p: ArchivePolicy, what: 'add' | 'update' | 'delete'): void {
    const key = policyKey(p);
    if (what === 'delete') {
      this.seen.delete(key);
      this.queue.add(key);
      if (this.policiesSynced) this.leases.setDesired(this.allKeys());
      return;
    }
    const sig = `${p.metadata.uid}/${p.metadata.generation}/${p.metadata.deletionTimestamp ?? ''}`;
    if (what === 'update' && this.seen.get(key) === sig) return; // our own status write
    this.seen.set(key, sig);
    this.queue.add(key);
    if (what === 'add' && this.policiesSynced) this.leases.setDesired(this.allKeys());
  }
}

// Per-policy Leases (coordination.k8s.io/v1) so that at most one replica in the cluster runs a policy
// (invariant I6), and the policies spread over the live replicas.
//
// - Every write is guarded by resourceVersion, so two replicas racing for one Lease cannot both win.
// - Expiry is judged by when *this* replica last saw the Lease change (client-go's rule), never by the
//   holder's clock, so clock skew between nodes cannot hand out a Lease early.
// - A replica fences itself: if it has not renewed within the renew deadline (< lease duration) it
//   treats the Lease as lost and stops the worker before anyone else may take it over.
// - Fair share: each replica renews a heartbeat Lease; the live ones are counted and a replica holds at
//   most ceil(policies / replicas). Above that it hands policies back (worker stopped first, then
//   released), below it takes free or expired ones, preferring a replica-specific (rendezvous) order so
//   replicas rarely collide.
// - No affinity: a policy's bundles in flight are in its status (the ledger), so any replica can finish
//   them; which replica held the policy before does not matter.
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { ResourceInformer } from './informer.js';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from './kube-rest.js';
import {
  LEASE_TYPE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POLICY_ANNOTATION,
  policyLeaseName,
  rendezvousScore,
  replicaLeaseName,
} from './lease-names.js';
import { microTime } from './microtime.js';

export interface LeaseManagerOptions {
  kc: KubeConfig;
  rest: KubeClient;
  /** Namespace holding the Leases (the operator's own). */
  namespace: string;
  identity: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  log: Logger;
  /** The policy's lease was gained or lost; the controller re-reconciles the key. */
  onChange(key: string, held: boolean): void;
  /**
   * Stops the policy's worker. `handover`: the lease is still ours and is handed back only after this
   * resolves; otherwise it is already lost.
   */
  stopWork(key: string, handover: boolean): Promise<void>;
  /** Whether a Lease for this policy key belongs to this operator's scope (for garbage collection). */
  inScope(key: string): boolean;
  /** Counts API writes (for metrics). */
  onWrite?: (op: 'acquire' | 'renew' | 'release' | 'delete' | 'heartbeat') => void;
  now?: () => number;
}

interface Held {
  name: string;
  resourceVersion: string;
  lastRenewOk: number;
  acquiredAt: number;
  /** Being handed back (worker stopping): no longer counts as held for running work. */
  releasing: boolean;
  /** The worker of a lease being handed back has stopped: no more renewals, the release PUT follows. */
  workerStopped?: boolean;
  /** The renewal in flight, so the release PUT never races it on resourceVersion. */
  renewing?: Promise<void>;
}

const LEASES_API = '/apis/coordination.k8s.io/v1';
const MAX_PARALLEL = 8;

export class LeaseManager {
  private readonly informer: ResourceInformer<V1Lease>;
  private readonly held = new Map<string, Held>();
  private readonly observed = new Map<string, { rv: string; at: number }>();
  private desired = new Set<string>();
  private desiredKnown = false;
  private timer: NodeJS.Timeout | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private rerun = false;
  private fenceTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private heartbeat: { rv?: string; lastOk: number } = { lastOk: 0 };
  private readonly now: () => number;
  private readonly renewDeadlineMs: number;
  private readonly leaseSeconds: number;

  constructor(private readonly o: LeaseManagerOptions) {
    this.now = o.now ?? Date.now;
    this.leaseSeconds = Math.max(1, Math.round(o.leaseDurationMs / 1000));
    // Stop work well before anyone else may consider the lease expired.
    this.renewDeadlineMs = Math.max(o.renewIntervalMs + 500, Math.floor((o.leaseDurationMs * 2) / 3));
    const seen = (l: V1Lease): void => this.onLeaseSeen(l);
    this.informer = new ResourceInformer<V1Lease>(
      o.kc,
      o.rest,
      {
        path: `${LEASES_API}/namespaces/${encodeURIComponent(o.namespace)}/leases`,
        labelSelector: LEASE_TYPE_LABEL,
        what: 'leases',
      },
      { add: seen, update: seen, delete: (l) => this.onLeaseDeleted(l) },
      o.log,
    );
  }

  async start(): Promise<void> {
    await this.informer.start();
    const tickMs = Math.max(100, Math.min(1000, Math.floor(this.o.renewIntervalMs / 2)));
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
    // Fencing runs on its own clock so a slow API call inside a pass cannot delay it.
    this.fenceTimer = setInterval(
      () => this.fence(),
      Math.max(50, Math.min(250, Math.floor(this.o.renewIntervalMs / 4))),
    );
    this.fenceTimer.unref();
  }

  get synced(): boolean {
    return this.informer.hasSynced;
  }

  /** The complete set of policy keys (`namespace/name`) that exist; call after the policy cache synced. */
  setDesired(keys: Iterable<string>): void {
    const next = new Set(keys);
    const grew = [...next].some((k) => !this.desired.has(k));
    const shrank = [...this.desired].some((k) => !next.has(k));
    this.desired = next;
    this.desiredKnown = true;
    if (grew || shrank) this.kick();
  }

  /** True only while this replica holds the policy's lease and has renewed it in time. */
  isHeld(key: string): boolean {
    const h = this.held.get(key);
    return !!h && !h.releasing && this.now() - h.lastRenewOk < this.renewDeadlineMs;
  }

  /**
   * True while the lease is ours, including while it is being handed back: the final status of a
   * stopping worker may still be written, but no worker may start.
   */
  ownsStatus(key: string): boolean {
    const h = this.held.get(key);
    return !!h && this.now() - h.lastRenewOk < this.renewDeadlineMs;
  }

  heldKeys(): string[] {
    return [...this.held.entries()].filter(([k, h]) => !h.releasing && this.isHeld(k)).map(([k]) => k);
  }

  /** Identities of replicas whose heartbeat is live (this one included). */
  liveReplicas(): string[] {
    const live = new Set<string>([this.o.identity]);
    for (const l of this.informer.list(this.o.namespace)) {
      if (l.metadata?.labels?.[LEASE_TYPE_LABEL] !== 'replica') continue;
      const holder = l.spec?.holderIdentity;
      if (holder && !this.expired(l)) live.add(holder);
    }
    return [...live];
  }

  /** Runs the next tick soon (debounced) — a new policy should not wait a whole tick. */
  kick(): void {
    if (this.kickTimer || this.stopping) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      void this.tick();
    }, 50);
    this.kickTimer.unref();
  }

  /** Stops renewing; hands back every lease (callers stop the workers first) and the heartbeat. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.fenceTimer) clearInterval(this.fenceTimer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    while (this.ticking) await new Promise((r) => setTimeout(r, 20));
    // Keep renewing while the workers stop (the regular tick is off now): a slow stop must not let a
    // lease expire and another replica start the policy while this worker still runs (I6).
    const keepAlive = setInterval(
      () => {
        for (const [k, h] of this.held) {
          if (!h.workerStopped && !h.renewing && this.now() - h.lastRenewOk >= this.o.renewIntervalMs)
            void this.renew(k);
        }
      },
      Math.max(100, Math.floor(this.o.renewIntervalMs / 2)),
    );
    try {
      await parallel([...this.held.keys()], MAX_PARALLEL, (k) => this.release(k, 'shutdown'));
    } finally {
      clearInterval(keepAlive);
    }
    await this.deleteLease(replicaLeaseName(this.o.identity), this.heartbeat.rv).catch(() => undefined);
    await this.informer.stop();
  }

  /** One pass: heartbeat, renew, fence, tidy up, then shed or acquire towards the fair share. */
  async tick(): Promise<void> {
    if (this.stopping || !this.informer.hasSynced) return;
    if (this.ticking) {
      // Asked for while a pass runs (e.g. a new policy): run another pass right after this one.
      this.rerun = true;
      return;
    }
    this.ticking = true;
    try {
      this.fence();
      const now = this.now();
      const due = [...this.held.entries()]
        // Leases being handed back are renewed too until their worker has stopped: a stop that takes
        // longer than the lease (a worker blocked in a stalled MongoDB or S3 call) must not let another
        // replica start the policy while the old worker still runs (I6).
        .filter(([, h]) => !h.workerStopped && now - h.lastRenewOk >= this.o.renewIntervalMs)
        .map(([k]) => k);
      // Renewals and acquisitions run side by side: a new policy does not wait behind 200 renewals.
      await Promise.all([
        this.renewHeartbeat(),
        parallel(due, MAX_PARALLEL, (k) => this.renew(k)),
        this.balance(),
      ]);
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'lease tick failed');
    } finally {
      this.ticking = false;
    }
    if (this.rerun && !this.stopping) {
      this.rerun = false;
      void this.tick();
    }
  }

  /** A lease not renewed within the renew deadline is treated as lost at once (its worker stops). */
  private fence(): void {
    const now = this.now();
    for (const [key, h] of this.held) {
      if (!h.releasing && now - h.lastRenewOk >= this.renewDeadlineMs)
        this.lost(key, 'not renewed within the renew deadline');
    }
  }

  /** Hands back leases of deleted policies and above the fair share; takes free ones below it. */
  private async balance(): Promise<void> {
    if (!this.desiredKnown) return;
    // Policies that no longer exist: stop, then delete their lease. Never awaited here: stopping a
    // worker may take a while and must not hold up the renewals of the other leases.
    for (const k of [...this.held.keys()]) {
      if (!this.desired.has(k) && !this.held.get(k)!.releasing) void this.release(k, 'policy deleted');
    }
    await this.collectGarbage();
    const cap = Math.ceil(this.desired.size / this.liveReplicas().length);
    const holding = [...this.held.values()].filter((h) => !h.releasing).length;
    if (holding > cap) {
      // Hand back one per pass, the one this replica prefers least.
      const victim = [...this.held.entries()]
        .filter(([, h]) => !h.releasing)
        .sort(([a], [b]) => rendezvousScore(this.o.identity, a) - rendezvousScore(this.o.identity, b))[0];
      if (victim) void this.release(victim[0], `rebalancing: holding ${holding} > fair share ${cap}`);
    } else if (holding < cap) {
      const free = [...this.desired]
        .filter((k) => !this.held.has(k) && this.isFree(k))
        .sort((a, b) => rendezvousScore(this.o.identity, b) - rendezvousScore(this.o.identity, a))
        .slice(0, Math.min(cap - holding, 32));
      await parallel(free, MAX_PARALLEL, (k) => this.acquire(k));
    }
  }

  private leaseOf(key: string): V1Lease | undefined {
    const [ns, name] = splitKey(key);
    return this.informer.get(policyLeaseName(ns, name), this.o.namespace);
  }

  private expired(l: V1Lease): boolean {
    const seen = this.observed.get(l.metadata?.name ?? '');
    const seconds = l.spec?.leaseDurationSeconds ?? this.leaseSeconds;
    return !seen || this.now() - seen.at > seconds * 1000;
  }

  private isFree(key: string): boolean {
    return this.leaseFree(this.leaseOf(key));
  }

  private leaseFree(l: V1Lease | undefined): boolean {
    if (!l) return true;
    const holder = l.spec?.holderIdentity;
    // Our own identity on a lease we do not track: a previous run of this same replica; it is dead.
    return !holder || holder === this.o.identity || this.expired(l);
  }

  private leaseBody(key: string, name: string, prev: V1Lease | undefined, acquiring: boolean): V1Lease {
    const now = microTime(new Date(this.now()));
    const changedHolder = prev?.spec?.holderIdentity !== this.o.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace: this.o.namespace,
        ...(prev?.metadata?.resourceVersion ? { resourceVersion: prev.metadata.resourceVersion } : {}),
        labels: {
          ...(prev?.metadata?.labels ?? {}),
          [MANAGED_BY_LABEL]: MANAGED_BY,
          [LEASE_TYPE_LABEL]: 'policy',
        },
        annotations: { ...(prev?.metadata?.annotations ?? {}), [POLICY_ANNOTATION]: key },
      },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.leaseSeconds,
        acquireTime: (acquiring || !prev?.spec?.acquireTime ? now : prev.spec.acquireTime) as unknown as Date,
        renewTime: now as unknown as Date,
        leaseTransitions:
          (prev?.spec?.leaseTransitions ?? 0) +
          (prev && acquiring && changedHolder && prev.spec?.holderIdentity ? 1 : 0),
      },
    };
  }

  private async acquire(key: string): Promise<void> {
    if (this.stopping || this.held.has(key)) return;
    const [ns, name] = splitKey(key);
    const leaseName = policyLeaseName(ns, name);
    const prev = this.leaseOf(key);
    // Judged free when the pass began; another replica may have taken it since, and the cache may
    // already hold its version — a PUT at that version would succeed and steal a live Lease (I6).
    if (!this.leaseFree(prev)) return;
    try {
      const body = this.leaseBody(key, leaseName, prev, true);
      this.o.onWrite?.('acquire');
      const res = prev
        ? await this.o.rest.request<V1Lease>({ method: 'PUT', path: this.leasePath(leaseName), body })
        : await this.o.rest.request<V1Lease>({ method: 'POST', path: this.leasePath(), body });
      if (this.stopping) return;
      const t = this.now();
      this.held.set(key, {
        name: leaseName,
        resourceVersion: res.metadata?.resourceVersion ?? '',
        lastRenewOk: t,
        acquiredAt: t,
        releasing: false,
      });
      this.o.log.info(
        { policy: name, namespace: ns, lease: leaseName, previousHolder: prev?.spec?.holderIdentity ?? null },
        'lease acquired',
      );
      this.o.onChange(key, true);
    } catch (err) {
      // 409: another replica won the race (or the cache was stale): not an error.
      if (!isConflict(err))
        this.o.log.warn({ policy: name, namespace: ns, err: errorMessage(err) }, 'acquiring lease failed');
    }
  }

  private async renew(key: string): Promise<void> {
    const h = this.held.get(key);
    if (!h || h.workerStopped) return;
    const p = this.renewOnce(key, h);
    h.renewing = p;
    try {
      await p;
    } finally {
      if (h.renewing === p) h.renewing = undefined;
    }
  }

  private async renewOnce(key: string, h: Held): Promise<void> {
    const prev = this.informer.get(h.name, this.o.namespace);
    const base: V1Lease = prev ?? { metadata: { name: h.name } };
    const body = this.leaseBody(
      key,
      h.name,
      { ...base, metadata: { ...base.metadata, resourceVersion: h.resourceVersion } },
      false,
    );
    try {
      this.o.onWrite?.('renew');
      const res = await this.o.rest.request<V1Lease>({
        method: 'PUT',
        path: this.leasePath(h.name),
        body,
        timeoutMs: Math.max(1000, this.renewDeadlineMs / 2),
      });
      const cur = this.held.get(key);
      if (cur === h) {
        h.resourceVersion = res.metadata?.resourceVersion ?? h.resourceVersion;
        h.lastRenewOk = this.now();
      }
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) {
        this.lost(key, isConflict(err) ? 'lease changed by someone else' : 'lease deleted');
      } else {
        // Transient: keep trying until the renew deadline fences us.
        this.o.log.warn({ lease: h.name, err: errorMessage(err) }, 'renewing lease failed; will retry');
      }
    }
  }

  /** Lost without our consent: stop the worker at once; nothing to hand back. */
  private lost(key: string, why: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    const [ns, name] = splitKey(key);
    this.o.log.warn(
      { policy: name, namespace: ns, lease: h.name, reason: why },
      'lease lost; stopping worker',
    );
    this.o.onChange(key, false);
    void this.o.stopWork(key, false).catch(() => undefined);
  }

  /** Stops the worker, then clears the holder (or deletes the lease if the policy is gone). */
  private async release(key: string, why: string): Promise<void> {
    const h = this.held.get(key);
    if (!h) return;
    h.releasing = true;
    const [ns, name] = splitKey(key);
    try {
      await this.o.stopWork(key, true);
      h.workerStopped = true;
      await h.renewing; // the release PUT below must carry the newest resourceVersion
    } catch (err) {
      this.o.log.warn(
        { policy: name, namespace: ns, err: errorMessage(err) },
        'stopping worker before releasing lease failed; letting the lease expire',
      );
      this.held.delete(key);
      this.o.onChange(key, false);
      return;
    }
    try {
      if (!this.desired.has(key) && this.desiredKnown) {
        await this.deleteLease(h.name, h.resourceVersion);
      } else {
        const prev = this.informer.get(h.name, this.o.namespace);
        const body = this.leaseBody(
          key,
          h.name,
          {
            ...(prev ?? {}),
            metadata: { ...(prev?.metadata ?? {}), name: h.name, resourceVersion: h.resourceVersion },
          },
          false,
        );
        delete body.spec!.holderIdentity;
        this.o.onWrite?.('release');
        await this.o.rest.request({ method: 'PUT', path: this.leasePath(h.name), body });
      }
      this.o.log.info({ policy: name, namespace: ns, lease: h.name, reason: why }, 'lease released');
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err))
        this.o.log.warn({ lease: h.name, err: errorMessage(err) }, 'releasing lease failed; it will expire');
    } finally {
      if (this.held.get(key) === h) this.held.delete(key);
      this.o.onChange(key, false);
    }
  }

  private async renewHeartbeat(): Promise<void> {
    const now = this.now();
    if (now - this.heartbeat.lastOk < this.o.renewIntervalMs) return;
    const name = replicaLeaseName(this.o.identity);
    const cached = this.informer.get(name, this.o.namespace);
    const rv = this.heartbeat.rv ?? cached?.metadata?.resourceVersion;
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace: this.o.namespace,
        ...(rv ? { resourceVersion: rv } : {}),
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [LEASE_TYPE_LABEL]: 'replica' },
      },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.leaseSeconds,
        renewTime: microTime(new Date(now)) as unknown as Date,
      },
    };
    try {
      this.o.onWrite?.('heartbeat');
      const res = rv
        ? await this.o.rest.request<V1Lease>({ method: 'PUT', path: this.leasePath(name), body })
        : await this.o.rest.request<V1Lease>({ method: 'POST', path: this.leasePath(), body });
      this.heartbeat = { rv: res.metadata?.resourceVersion, lastOk: this.now() };
    } catch (err) {
      // Stale resourceVersion (or lease gone): start over from the cache next tick.
      this.heartbeat.rv = undefined;
      if (!(err instanceof KubeApiError && (isConflict(err) || isNotFound(err)))) {
        this.o.log.warn({ err: errorMessage(err) }, 'renewing replica heartbeat failed');
      } else if (isNotFound(err) && rv) {
        // Deleted under us: recreate on the next tick.
      }
    }
  }

  /** Deletes policy leases of policies that no longer exist once nobody holds them, and dead heartbeats. */
  private async collectGarbage(): Promise<void> {
    const victims: Array<{ name: string; rv?: string }> = [];
    for (const l of this.informer.list(this.o.namespace)) {
      const type = l.metadata?.labels?.[LEASE_TYPE_LABEL];
      const name = l.metadata?.name ?? '';
      if (type === 'policy') {
        const key = l.metadata?.annotations?.[POLICY_ANNOTATION];
        if (!key || this.desired.has(key) || !this.o.inScope(key) || this.held.has(key)) continue;
        if (!l.spec?.holderIdentity || this.expired(l))
          victims.push({ name, rv: l.metadata?.resourceVersion });
      } else if (type === 'replica' && l.spec?.holderIdentity !== this.o.identity) {
        const seen = this.observed.get(name);
        if (seen && this.now() - seen.at > 20 * this.leaseSeconds * 1000)
          victims.push({ name, rv: l.metadata?.resourceVersion });
      }
    }
    await parallel(victims, MAX_PARALLEL, (v) => this.deleteLease(v.name, v.rv).catch(() => undefined));
  }

  private async deleteLease(name: string, rv: string | undefined): Promise<void> {
    this.o.onWrite?.('delete');
    try {
      await this.o.rest.request({
        method: 'DELETE',
        path: this.leasePath(name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          ...(rv ? { preconditions: { resourceVersion: rv } } : {}),
        },
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  private onLeaseSeen(l: V1Lease): void {
    const name = l.metadata?.name ?? '';
    const rv = l.metadata?.resourceVersion ?? '';
    const prev = this.observed.get(name);
    if (!prev || prev.rv !== rv) this.observed.set(name, { rv, at: this.now() });
    if (l.metadata?.labels?.[LEASE_TYPE_LABEL] !== 'policy') return;
    const key = l.metadata?.annotations?.[POLICY_ANNOTATION];
    if (!key) return;
    const h = this.held.get(key);
    if (h && !h.releasing && l.spec?.holderIdentity !== this.o.identity)
      this.lost(key, `now held by ${l.spec?.holderIdentity ?? 'nobody'}`);
    // A lease freed by another replica may be ours to take.
    if (!l.spec?.holderIdentity && this.desired.has(key)) this.kick();
  }

  private onLeaseDeleted(l: V1Lease): void {
    const name = l.metadata?.name ?? '';
    this.observed.delete(name);
    const key = l.metadata?.annotations?.[POLICY_ANNOTATION];
    if (key && this.held.get(key)?.name === name && !this.held.get(key)!.releasing)
      this.lost(key, 'lease deleted');
    if (name === replicaLeaseName(this.o.identity)) this.heartbeat = { lastOk: 0 };
  }

  private leasePath(name?: string): string {
    return `${LEASES_API}/namespaces/${encodeURIComponent(this.o.namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ''}`;
  }
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function parallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

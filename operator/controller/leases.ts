// Per-policy Leases (coordination.k8s.io/v1) so that at most one replica in the cluster runs a policy
// (invariant I6), and the policies spread over the live replicas. This file keeps the Leases this
// replica holds: it acquires, renews, fences and hands them back. The API calls and expiry are in
// lease-client.ts, the fair share in lease-balancer.ts, the replica heartbeat in lease-heartbeat.ts.
//
// - A replica fences itself: if it has not renewed within the renew deadline (< lease duration) it
//   treats the Lease as lost and stops the worker before anyone else may take it over.
// - Above its fair share a replica hands policies back (worker stopped first, then released).
// - Renewals run on their own clock (lease-schedule.ts): each lease when it falls due, a bounded number
//   in flight, never waiting for acquisitions; and nothing is acquired while a renewal is overdue.
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { mapLimit } from '../util/map-limit.js';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { isConflict, isNotFound, type KubeClient } from './kube-rest.js';
import { balanceStep } from './lease-balancer.js';
import { LeaseClient, splitKey, type LeaseWrite } from './lease-client.js';
import { ReplicaHeartbeat } from './lease-heartbeat.js';
import { LEASE_TYPE_LABEL, POLICY_ANNOTATION, policyLeaseName } from './lease-names.js';
import {
  MAX_RENEWALS_IN_FLIGHT,
  mayAcquire,
  nextRenewalDue,
  overdueRenewals,
  RENEW_RETRY_FRACTION,
  renewalsDue,
  type RenewState,
} from './lease-schedule.js';

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
  onWrite?: (op: LeaseWrite) => void;
  now?: () => number;
}

interface Held {
  name: string;
  resourceVersion: string;
  lastRenewOk: number;
  /** When the next renewal is due. */
  dueAt: number;
  /** After a failed renewal: not retried before this. */
  retryAt?: number;
  acquiredAt: number;
  /** Being handed back (worker stopping): no longer counts as held for running work. */
  releasing: boolean;
  /** The worker of a lease being handed back has stopped: no more renewals, the release PUT follows. */
  workerStopped?: boolean;
  /** The renewal in flight, so the release PUT never races it on resourceVersion. */
  renewing?: Promise<void>;
}

const MAX_PARALLEL = 8;

/** Sockets for the Lease writes: every renewal and acquisition in flight at once, none queued. */
export const LEASE_SOCKETS = MAX_RENEWALS_IN_FLIGHT + MAX_PARALLEL;

export class LeaseManager {
  private readonly client: LeaseClient;
  private readonly heartbeat: ReplicaHeartbeat;
  private readonly held = new Map<string, Held>();
  private desired = new Set<string>();
  private desiredKnown = false;
  private timer: NodeJS.Timeout | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  /** The balance pass in flight (at most one); renewals never wait for it. */
  private balancing: Promise<void> | undefined;
  private balanceAgain = false;
  private heartbeating: Promise<void> | undefined;
  /** Acquisitions are held back because renewals are overdue (logged when it starts and ends). */
  private holdingBack = false;
  private fenceTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly now: () => number;
  private readonly renewDeadlineMs: number;

  constructor(private readonly o: LeaseManagerOptions) {
    this.now = o.now ?? Date.now;
    // Stop work well before anyone else may consider the lease expired.
    this.renewDeadlineMs = Math.max(o.renewIntervalMs + 500, Math.floor((o.leaseDurationMs * 2) / 3));
    this.client = new LeaseClient(
      { ...o, now: this.now },
      { seen: (l) => this.onLeaseSeen(l), deleted: (l) => this.onLeaseDeleted(l) },
    );
    this.heartbeat = new ReplicaHeartbeat(this.client, { ...o, now: this.now });
  }

  async start(): Promise<void> {
    await this.client.start();
    const tickMs = Math.max(100, Math.min(1000, Math.floor(this.o.renewIntervalMs / 2)));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
    // Fencing runs on its own clock so a slow API call inside a pass cannot delay it.
    this.fenceTimer = setInterval(
      () => this.fence(),
      Math.max(50, Math.min(250, Math.floor(this.o.renewIntervalMs / 4))),
    );
    this.fenceTimer.unref();
  }

  get synced(): boolean {
    return this.client.synced;
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
    return this.heartbeat.liveReplicas();
  }

  /** Runs the next tick soon (debounced) — a new policy should not wait a whole tick. */
  kick(): void {
    if (this.kickTimer || this.stopping) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      this.tick(true);
    }, 50);
    this.kickTimer.unref();
  }

  /** Stops renewing; hands back every lease (callers stop the workers first) and the heartbeat. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.fenceTimer) clearInterval(this.fenceTimer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    // An acquisition that completes now is recorded as held, so it is handed back below, not orphaned.
    while (this.balancing) await this.balancing;
    // Keep renewing while the workers stop (the regular tick is off now): a slow stop must not let a
    // lease expire and another replica start the policy while this worker still runs (I6).
    const keepAlive = setInterval(
      () => this.renewDue(),
      Math.max(100, Math.floor(this.o.renewIntervalMs / 2)),
    );
    try {
      await mapLimit([...this.held.keys()], MAX_PARALLEL, (k) => this.release(k, 'shutdown'));
    } finally {
      clearInterval(keepAlive);
    }
    await this.heartbeating;
    await this.heartbeat.remove().catch(() => undefined);
    await this.client.stop();
  }

  /**
   * One pass: fence, renew the heartbeat and the leases that are due, and start a balance pass (tidy
   * up, shed or acquire) unless one is in flight. Nothing here waits: a slow acquisition cannot delay
   * the renewals of the next pass. `requested`: someone asked for a pass (a new policy, a freed
   * lease), so a balance in flight is followed by another one at once.
   */
  tick(requested = false): void {
    if (this.stopping || !this.client.synced) return;
    this.fence();
    this.heartbeating ??= this.heartbeat.renew().finally(() => (this.heartbeating = undefined));
    this.renewDue();
    this.startBalance(requested);
  }

  private startBalance(again: boolean): void {
    if (this.balancing) {
      this.balanceAgain ||= again;
      return;
    }
    this.balancing = this.balance()
      .catch((err: unknown) => this.o.log.warn({ err: errorMessage(err) }, 'lease balance failed'))
      .finally(() => {
        this.balancing = undefined;
        if (this.balanceAgain && !this.stopping) {
          this.balanceAgain = false;
          this.startBalance(false);
        }
      });
  }

  /** Scheduling view of the held leases (lease-schedule.ts). */
  private *renewStates(): Generator<RenewState> {
    for (const [key, h] of this.held)
      yield {
        key,
        lastRenewOk: h.lastRenewOk,
        dueAt: h.dueAt,
        ...(h.retryAt !== undefined ? { retryAt: h.retryAt } : {}),
        renewing: !!h.renewing,
        workerStopped: !!h.workerStopped,
      };
  }

  /**
   * Launches the renewals that are due, up to the in-flight bound; called every tick and whenever a
   * renewal ends, so a free slot is used at once. Leases being handed back are renewed too until their
   * worker has stopped: a stop that takes longer than the lease (a worker blocked in a stalled MongoDB
   * or S3 call) must not let another replica start the policy while the old worker still runs (I6).
   */
  private renewDue(): void {
    for (const k of renewalsDue(this.renewStates(), this.now())) void this.renew(k);
  }

  /** Whether to take more leases now; logs when acquisitions start and stop being held back. */
  private mayAcquireNow(): boolean {
    const now = this.now();
    if (mayAcquire(this.renewStates(), now, this.renewDeadlineMs)) {
      if (this.holdingBack) {
        this.holdingBack = false;
        this.o.log.info({ held: this.held.size }, 'lease renewals caught up; acquiring again');
      }
      return true;
    }
    if (!this.holdingBack) {
      this.holdingBack = true;
      this.o.log.warn(
        {
          held: this.held.size,
          overdue: overdueRenewals(this.renewStates(), now, this.renewDeadlineMs).length,
        },
        'lease renewals overdue (API server slow?); acquiring no more leases until they catch up',
      );
    }
    return false;
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
    const step = balanceStep({
      identity: this.o.identity,
      desired: this.desired,
      holding: [...this.held.entries()].filter(([, h]) => !h.releasing).map(([k]) => k),
      tracked: (k) => this.held.has(k),
      liveReplicas: this.heartbeat.liveReplicas().length,
      isFree: (k) => this.leaseFree(this.client.policyLease(k)),
    });
    if (step.kind === 'release') void this.release(step.key, step.reason);
    else if (step.kind === 'acquire' && this.mayAcquireNow())
      await mapLimit(step.keys, MAX_PARALLEL, (k) => this.acquire(k));
  }

  private leaseFree(l: V1Lease | undefined): boolean {
    if (!l) return true;
    const holder = l.spec?.holderIdentity;
    // Our own identity on a lease we do not track: a previous run of this same replica; it is dead.
    return !holder || holder === this.o.identity || this.client.expired(l);
  }

  private async acquire(key: string): Promise<void> {
    // Checked per lease: renewals may fall behind while a batch of acquisitions is under way.
    if (this.stopping || this.held.has(key) || !this.mayAcquireNow()) return;
    const [ns, name] = splitKey(key);
    const leaseName = policyLeaseName(ns, name);
    const prev = this.client.policyLease(key);
    // Judged free when the pass began; another replica may have taken it since, and the cache may
    // already hold its version — a PUT at that version would succeed and steal a live Lease (I6).
    if (!this.leaseFree(prev)) return;
    try {
      const body = this.client.policyLeaseBody(key, leaseName, prev, true);
      const sentAt = this.now(); // counted from the request, as a renewal is
      const res = prev
        ? await this.client.replace(leaseName, body, 'acquire')
        : await this.client.create(body, 'acquire');
      // Recorded even while stopping: stop() waits for this pass and hands the lease back.
      this.held.set(key, {
        name: leaseName,
        resourceVersion: res.metadata?.resourceVersion ?? '',
        lastRenewOk: sentAt,
        dueAt: nextRenewalDue(sentAt, this.o.renewIntervalMs, Math.random()),
        acquiredAt: sentAt,
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
      // A slot is free: the next due renewal need not wait for the next tick.
      this.renewDue();
    }
  }

  private async renewOnce(key: string, h: Held): Promise<void> {
    const prev = this.client.get(h.name);
    const base: V1Lease = prev ?? { metadata: { name: h.name } };
    const body = this.client.policyLeaseBody(
      key,
      h.name,
      { ...base, metadata: { ...base.metadata, resourceVersion: h.resourceVersion } },
      false,
    );
    // The renewal counts from when it was sent: another replica may see it applied long before the
    // answer reaches us, and its expiry clock starts then (I6).
    const sentAt = this.now();
    try {
      const res = await this.client.replace(h.name, body, 'renew', Math.max(1000, this.renewDeadlineMs / 2));
      const cur = this.held.get(key);
      if (cur === h) {
        h.resourceVersion = res.metadata?.resourceVersion ?? h.resourceVersion;
        h.lastRenewOk = Math.max(h.lastRenewOk, sentAt);
        h.dueAt = nextRenewalDue(h.lastRenewOk, this.o.renewIntervalMs, Math.random());
        h.retryAt = undefined;
      }
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) {
        this.lost(key, isConflict(err) ? 'lease changed by someone else' : 'lease deleted');
      } else {
        // Transient: keep trying until the renew deadline fences us.
        h.retryAt = this.now() + Math.max(50, Math.floor(this.o.renewIntervalMs * RENEW_RETRY_FRACTION));
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
        await this.client.delete(h.name, h.resourceVersion);
      } else {
        const prev = this.client.get(h.name);
        const body = this.client.policyLeaseBody(
          key,
          h.name,
          {
            ...(prev ?? {}),
            metadata: { ...(prev?.metadata ?? {}), name: h.name, resourceVersion: h.resourceVersion },
          },
          false,
        );
        delete body.spec!.holderIdentity;
        await this.client.replace(h.name, body, 'release');
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

  /** Deletes the Leases of policies that no longer exist once nobody holds them, and long-dead heartbeats. */
  private async collectGarbage(): Promise<void> {
    const victims = this.heartbeat.deadHeartbeats();
    for (const l of this.client.list()) {
      if (l.metadata?.labels?.[LEASE_TYPE_LABEL] !== 'policy') continue;
      const key = l.metadata?.annotations?.[POLICY_ANNOTATION];
      if (!key || this.desired.has(key) || !this.o.inScope(key) || this.held.has(key)) continue;
      if (!l.spec?.holderIdentity || this.client.expired(l))
        victims.push({ name: l.metadata?.name ?? '', rv: l.metadata?.resourceVersion });
    }
    await mapLimit(victims, MAX_PARALLEL, (v) => this.client.delete(v.name, v.rv).catch(() => undefined));
  }

  private onLeaseSeen(l: V1Lease): void {
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
    const key = l.metadata?.annotations?.[POLICY_ANNOTATION];
    if (key && this.held.get(key)?.name === name && !this.held.get(key)!.releasing)
      this.lost(key, 'lease deleted');
    this.heartbeat.onDeleted(name);
  }
}

// This replica's heartbeat: a Lease of its own, renewed every renew interval, so the replicas can count
// each other (the fair share is policies / live replicas). A heartbeat not seen to change for its lease
// duration is a dead replica; long dead, its Lease is deleted.
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/redact.js';
import { isConflict, isNotFound, KubeApiError } from './kube-rest.js';
import type { LeaseClient } from './lease-client.js';
import { LEASE_TYPE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, replicaLeaseName } from './lease-names.js';
import { microTime } from './microtime.js';

/** A dead replica's heartbeat is deleted after this many lease durations unseen. */
const DEAD_HEARTBEAT_LEASES = 20;

export class ReplicaHeartbeat {
  private state: { rv?: string; lastOk: number } = { lastOk: 0 };
  readonly name: string;

  constructor(
    private readonly client: LeaseClient,
    private readonly o: {
      namespace: string;
      identity: string;
      renewIntervalMs: number;
      log: Logger;
      now: () => number;
    },
  ) {
    this.name = replicaLeaseName(o.identity);
  }

  /** Renews (or creates) the heartbeat once a renew interval has passed since the last success. */
  async renew(): Promise<void> {
    const now = this.o.now();
    if (now - this.state.lastOk < this.o.renewIntervalMs) return;
    const cached = this.client.get(this.name);
    const rv = this.state.rv ?? cached?.metadata?.resourceVersion;
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.name,
        namespace: this.o.namespace,
        ...(rv ? { resourceVersion: rv } : {}),
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [LEASE_TYPE_LABEL]: 'replica' },
      },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.client.leaseSeconds,
        renewTime: microTime(new Date(now)) as unknown as Date,
      },
    };
    try {
      const res = rv
        ? await this.client.replace(this.name, body, 'heartbeat')
        : await this.client.create(body, 'heartbeat');
      this.state = { rv: res.metadata?.resourceVersion, lastOk: this.o.now() };
    } catch (err) {
      // Stale resourceVersion, or deleted under us: start over from the cache (or recreate) next tick.
      this.state.rv = undefined;
      if (!(err instanceof KubeApiError && (isConflict(err) || isNotFound(err))))
        this.o.log.warn({ err: errorMessage(err) }, 'renewing replica heartbeat failed');
    }
  }

  /** Identities of replicas whose heartbeat is live (this one included). */
  liveReplicas(): string[] {
    const live = new Set<string>([this.o.identity]);
    for (const l of this.client.list()) {
      if (l.metadata?.labels?.[LEASE_TYPE_LABEL] !== 'replica') continue;
      const holder = l.spec?.holderIdentity;
      if (holder && !this.client.expired(l)) live.add(holder);
    }
    return [...live];
  }

  /** Heartbeats of other replicas unseen for long: theirs to delete. */
  deadHeartbeats(): Array<{ name: string; rv?: string }> {
    const out: Array<{ name: string; rv?: string }> = [];
    for (const l of this.client.list()) {
      if (l.metadata?.labels?.[LEASE_TYPE_LABEL] !== 'replica') continue;
      if (l.spec?.holderIdentity === this.o.identity) continue;
      const name = l.metadata?.name ?? '';
      const since = this.client.sinceSeen(name);
      if (since !== undefined && since > DEAD_HEARTBEAT_LEASES * this.client.leaseSeconds * 1000)
        out.push({ name, rv: l.metadata?.resourceVersion });
    }
    return out;
  }

  /** Our heartbeat Lease was deleted: recreate it on the next tick. */
  onDeleted(name: string): void {
    if (name === this.name) this.state = { lastOk: 0 };
  }

  /** Deletes the heartbeat (shutdown): the other replicas count one fewer at once. */
  remove(): Promise<void> {
    return this.client.delete(this.name, this.state.rv);
  }
}

// The API-server side of Leases (coordination.k8s.io/v1): a watched cache of this operator's Leases,
// when each was last seen to change, and the writes (create, replace, delete), each guarded by
// resourceVersion so two replicas racing for one Lease cannot both win.
//
// Expiry is judged by when *this* replica last saw the Lease change (client-go's rule), never by the
// holder's clock, so clock skew between nodes cannot hand out a Lease early.
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../util/logger.js';
import { ResourceInformer } from './informer.js';
import { isConflict, isNotFound, type KubeClient } from './kube-rest.js';
import {
  LEASE_TYPE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POLICY_ANNOTATION,
  policyLeaseName,
} from './lease-names.js';
import { microTime } from './microtime.js';

const LEASES_API = '/apis/coordination.k8s.io/v1';

export type LeaseWrite = 'acquire' | 'renew' | 'release' | 'delete' | 'heartbeat';

export interface LeaseClientOptions {
  kc: KubeConfig;
  rest: KubeClient;
  /** Namespace holding the Leases (the operator's own). */
  namespace: string;
  identity: string;
  leaseDurationMs: number;
  log: Logger;
  /** Counts API writes (for metrics). */
  onWrite?: (op: LeaseWrite) => void;
  now: () => number;
}

export interface LeaseEvents {
  seen(l: V1Lease): void;
  deleted(l: V1Lease): void;
}

export class LeaseClient {
  readonly leaseSeconds: number;
  private readonly informer: ResourceInformer<V1Lease>;
  private readonly observed = new Map<string, { rv: string; at: number }>();

  constructor(
    private readonly o: LeaseClientOptions,
    events: LeaseEvents,
  ) {
    this.leaseSeconds = Math.max(1, Math.round(o.leaseDurationMs / 1000));
    this.informer = new ResourceInformer<V1Lease>(
      o.kc,
      o.rest,
      { path: this.path(), labelSelector: LEASE_TYPE_LABEL, what: 'leases' },
      {
        add: (l) => this.noteSeen(l, events),
        update: (l) => this.noteSeen(l, events),
        delete: (l) => {
          this.observed.delete(l.metadata?.name ?? '');
          events.deleted(l);
        },
      },
      o.log,
    );
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  get synced(): boolean {
    return this.informer.hasSynced;
  }

  get(name: string): V1Lease | undefined {
    return this.informer.get(name, this.o.namespace);
  }

  list(): readonly V1Lease[] {
    return this.informer.list(this.o.namespace);
  }

  /** The cached Lease of policy `key` (`namespace/name`). */
  policyLease(key: string): V1Lease | undefined {
    const [ns, name] = splitKey(key);
    return this.get(policyLeaseName(ns, name));
  }

  /** Milliseconds since this replica last saw Lease `name` change (undefined: never seen). */
  sinceSeen(name: string): number | undefined {
    const seen = this.observed.get(name);
    return seen && this.o.now() - seen.at;
  }

  /** Not seen to change for its lease duration. */
  expired(l: V1Lease): boolean {
    const since = this.sinceSeen(l.metadata?.name ?? '');
    const seconds = l.spec?.leaseDurationSeconds ?? this.leaseSeconds;
    return since === undefined || since > seconds * 1000;
  }

  /** A policy Lease held by this identity, built on `prev` (its labels, annotations and transitions). */
  policyLeaseBody(key: string, name: string, prev: V1Lease | undefined, acquiring: boolean): V1Lease {
    const now = microTime(new Date(this.o.now()));
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

  create(body: V1Lease, op: LeaseWrite): Promise<V1Lease> {
    this.o.onWrite?.(op);
    return this.o.rest.request<V1Lease>({ method: 'POST', path: this.path(), body });
  }

  /** PUT at the body's resourceVersion: a conflict means someone else changed the Lease. */
  replace(name: string, body: V1Lease, op: LeaseWrite, timeoutMs?: number): Promise<V1Lease> {
    this.o.onWrite?.(op);
    return this.o.rest.request<V1Lease>({
      method: 'PUT',
      path: this.path(name),
      body,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  /** Deletes Lease `name` if it is still at `rv`; already gone or changed is not an error. */
  async delete(name: string, rv: string | undefined): Promise<void> {
    this.o.onWrite?.('delete');
    try {
      await this.o.rest.request({
        method: 'DELETE',
        path: this.path(name),
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

  private noteSeen(l: V1Lease, events: LeaseEvents): void {
    const name = l.metadata?.name ?? '';
    const rv = l.metadata?.resourceVersion ?? '';
    const prev = this.observed.get(name);
    if (!prev || prev.rv !== rv) this.observed.set(name, { rv, at: this.o.now() });
    events.seen(l);
  }

  private path(name?: string): string {
    return `${LEASES_API}/namespaces/${encodeURIComponent(this.o.namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ''}`;
  }
}

/** `namespace/name` → [namespace, name]. */
export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

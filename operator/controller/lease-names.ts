// Names and labels of the Leases the operator keeps in its own namespace: one per policy (who runs
// it) and one per replica (a heartbeat, so replicas can count each other and share the policies).
import { createHash } from 'node:crypto';

export const LEASE_TYPE_LABEL = 'gochive.io/lease-type';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'gochive-operator';
export const POLICY_ANNOTATION = 'gochive.io/policy';

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/**
 * `gochive-<namespace>.<name>`: readable in `kubectl get leases`, and unambiguous because a namespace
 * cannot contain a dot. Falls back to a hash when the result would exceed the 253-character limit.
 */
export function policyLeaseName(namespace: string, name: string): string {
  const readable = `gochive-${namespace}.${name}`;
  return readable.length <= 253 ? readable : `gochive-policy-${shortHash(`${namespace}/${name}`)}`;
}

/** `gochive-replica-<identity>` with the identity squeezed into a DNS label. */
export function replicaLeaseName(identity: string): string {
  const clean = identity
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const base = `gochive-replica-${clean}`;
  return base.length <= 63 && clean.length > 0
    ? base
    : `gochive-replica-${clean.slice(0, 20).replace(/-+$/, '')}-${shortHash(identity)}`;
}

/** Rendezvous (highest-random-weight) score: each replica prefers a different, stable subset of policies. */
export function rendezvousScore(identity: string, key: string): number {
  return createHash('sha256').update(identity).update('\n').update(key).digest().readUInt32BE(0);
}

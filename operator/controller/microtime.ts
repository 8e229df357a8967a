// Kubernetes MicroTime (events.k8s.io eventTime, Lease acquire/renew times) must carry exactly six
// fractional digits: the API server rejects the millisecond form that Date.toISOString() produces.

export function microTime(date: Date = new Date()): string {
  const iso = date.toISOString(); // 2025-01-02T03:04:05.678Z
  return `${iso.slice(0, -1)}000Z`;
}

/** Plain RFC 3339 seconds precision, for metav1.Time fields (conditions' lastTransitionTime). */
export function rfc3339(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

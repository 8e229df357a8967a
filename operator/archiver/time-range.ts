// Archive-field values are valid BSON (a date is any int64 of milliseconds, a number any double), but
// keys and manifests name instants in the ISO years 0000-9999 (bundle/keys.ts: fixed-width compact
// times), and a JavaScript Date holds only ±8.64e15 ms. A document outside is still archived — its
// bytes go into the payload unchanged — and only the bundle's *labels* (key, manifest range, status)
// are clamped to the nearest expressible instant. The clamped range still covers the document for a
// restore by time range: a value before year 0 is labelled 0000-01-01, which every "until" includes.
export const KEY_MIN_MS = Date.parse('0000-01-01T00:00:00.000Z');
export const KEY_MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** The instant nearest to `ms` that keys and manifests can express. */
export function clampToKeyRange(ms: number): number {
  return Math.min(KEY_MAX_MS, Math.max(KEY_MIN_MS, ms));
}

/** `ms` clamped to the key range, as a Date. */
export function keyDate(ms: number): Date {
  return new Date(clampToKeyRange(ms));
}

/** True when a JavaScript Date (and so a BSON date built from one) holds `ms` exactly. */
export function dateRepresentable(ms: number): boolean {
  return Number.isInteger(ms) && Math.abs(ms) <= 8.64e15;
}

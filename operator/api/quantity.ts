// Byte sizes in specs: integers (bytes) or Kubernetes-style quantities with a binary (Ki, Mi, Gi, Ti)
// or decimal (k, M, G, T) suffix, e.g. "512Mi", "2G". No fractions, no exponents: sizes are whole bytes.

export const QUANTITY_MULTIPLIERS = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
} as const;

/** Anchored regex for a byte quantity string: a positive integer without leading zeros, optional suffix. */
export const BYTES_PATTERN = '^[1-9][0-9]{0,14}(?:Ki|Mi|Gi|Ti|k|M|G|T)?$';
const bytesRe = new RegExp(BYTES_PATTERN);
export const BYTES_HINT = 'use bytes as an integer or a quantity such as 512Mi, 2Gi or 500M';

/** Bytes in a size, or an error message naming `field`. Never throws. */
export function bytesProblem(value: unknown, field: string): { bytes: number } | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value <= 0)
      return { error: `${field}: ${value} must be a positive whole number of bytes; ${BYTES_HINT}` };
    return { bytes: value };
  }
  if (value === undefined) return { error: `${field}: is required; ${BYTES_HINT}` };
  if (typeof value !== 'string' || !bytesRe.test(value)) {
    return { error: `${field}: ${JSON.stringify(value)} is not a size; ${BYTES_HINT}` };
  }
  const m = /^([0-9]+)([A-Za-z]*)$/.exec(value)!;
  const mult = m[2] ? QUANTITY_MULTIPLIERS[m[2] as keyof typeof QUANTITY_MULTIPLIERS] : 1;
  const bytes = Number(m[1]) * mult;
  if (!Number.isSafeInteger(bytes)) return { error: `${field}: ${JSON.stringify(value)} is too large` };
  return { bytes };
}

/** Bytes in a size; throws an Error naming `field` and the accepted forms. */
export function parseBytes(value: unknown, field = 'size'): number {
  const r = bytesProblem(value, field);
  if ('error' in r) throw new Error(r.error);
  return r.bytes;
}

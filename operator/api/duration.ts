// Durations in ArchivePolicy specs. The original tool took `ageLimit` as `<n>d` and intervals as plain
// seconds; gochive accepts those unchanged plus `w`, `d`, `h`, `m`, `s` components in that order
// (`1w2d`, `1d12h`, `90m`, `36h`). Integers — JSON numbers or numeric strings — are seconds.
// Sub-second units (`ms`) are deliberately not accepted: every interval in the original is whole
// seconds, and keeping the grammar small lets the CRD's CEL rules compute seconds cheaply so that
// `kubectl apply` itself can compare `uploadInterval` with `archiveCheckInterval`.

/** Seconds per unit, in the order components must appear. */
export const DURATION_UNITS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;
type Unit = keyof typeof DURATION_UNITS;

/** Upper bound for any duration: 100 years, far beyond any sensible age limit or interval. */
export const MAX_DURATION_SECONDS = 3_153_600_000;

/** Longest accepted duration string (keeps CEL cost estimates small). */
export const DURATION_MAX_LENGTH = 32;

const component = (u: Unit): string => `(?:[0-9]{1,10}${u})?`;
/**
 * Regex (RE2- and ECMA-compatible, anchored) for a duration string: digits only, or ordered unit
 * components. It admits the empty string; pair it with minLength 1.
 */
export const DURATION_PATTERN = `^(?:[0-9]{1,10}|${(Object.keys(DURATION_UNITS) as Unit[]).map(component).join('')})$`;
const durationRe = new RegExp(DURATION_PATTERN);

/** A spec value as written: integer seconds or a duration string. */
export type DurationInput = number | string;

export const DURATION_HINT = 'use e.g. 92d, 36h, 1w2d or seconds as an integer';

/** Seconds in a duration, or an error message naming `field`. Never throws. */
export function durationSeconds(value: unknown, field: string): { seconds: number } | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      return { error: `${field}: ${value} is not a whole number of seconds; ${DURATION_HINT}` };
    return checkRange(value, value, field);
  }
  if (value === undefined) return { error: `${field}: is required; ${DURATION_HINT}` };
  if (typeof value !== 'string') {
    return {
      error: `${field}: expected a duration (string) or seconds (integer), got ${describe(value)}; ${DURATION_HINT}`,
    };
  }
  const text = value.trim();
  if (text === '' || text.length > DURATION_MAX_LENGTH || !durationRe.test(text)) {
    return { error: `${field}: ${JSON.stringify(value)} is not a duration; ${DURATION_HINT}` };
  }
  if (/^[0-9]+$/.test(text)) return checkRange(Number(text), value, field);
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)([wdhms])/g)) total += Number(m[1]) * DURATION_UNITS[m[2] as Unit];
  return checkRange(total, value, field);
}

function checkRange(seconds: number, value: unknown, field: string): { seconds: number } | { error: string } {
  if (seconds <= 0)
    return { error: `${field}: ${JSON.stringify(value)} must be greater than zero; ${DURATION_HINT}` };
  if (seconds > MAX_DURATION_SECONDS) {
    return { error: `${field}: ${JSON.stringify(value)} is longer than 100 years; ${DURATION_HINT}` };
  }
  return { seconds };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Milliseconds in a duration; throws an Error whose message names `field` and the accepted forms. */
export function parseDuration(value: unknown, field = 'duration'): number {
  const r = durationSeconds(value, field);
  if ('error' in r) throw new Error(r.error);
  return r.seconds * 1000;
}

/** Canonical short form (`92d`, `1d12h`, `65s`) of a number of milliseconds, for messages and status. */
export function formatDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  if (s <= 0) return '0s';
  let out = '';
  for (const [u, n] of Object.entries(DURATION_UNITS)) {
    if (s >= n) {
      out += `${Math.floor(s / n)}${u}`;
      s %= n;
    }
  }
  return out;
}

/** A CEL expression that is true when the int-or-string field `expr` is an integer or a well-formed duration string. */
export function celDurationWellFormed(expr: string): string {
  return `(type(${expr}) == int || ${expr}.matches(r'${DURATION_PATTERN}'))`;
}

/**
 * A CEL expression (Kubernetes CRD validation) evaluating to the seconds in the int-or-string field
 * `expr`. It assumes the field already matched DURATION_PATTERN, which the schema enforces.
 */
export function celDurationSeconds(expr: string): string {
  const parts = (Object.entries(DURATION_UNITS) as [Unit, number][]).map(
    ([u, n]) =>
      `(${expr}.find('[0-9]+${u}') == '' ? 0 : int(${expr}.find('[0-9]+${u}').replace('${u}', '')) * ${n})`,
  );
  return `(type(${expr}) == int ? ${expr} : (${expr}.matches('^[0-9]+$') ? int(${expr}) : ${parts.join(' + ')}))`;
}

// Object keys for bundles.
//
//   <prefix><YYYY>/<MM>/<DD>/<minAF>_<maxAF>_<created>_<bundleId>.tar.gz      (.tar for codec 'none')
//
// YYYY/MM/DD is the UTC date of the bundle's smallest archive-field value; minAF, maxAF and created are
// compact UTC instants (YYYYMMDDTHHMMSSmmmZ, fixed width, so lexical order = time order); bundleId is 13
// random base32 characters (64 bits). Why this shape:
// - unique without coordination: the random id alone makes collisions practically impossible, even for
//   many bundles in one millisecond (the original named bundles by the second and collided);
// - sorted by time: keys sort by the date folder, then by archive-field range, then by creation;
// - dated: `ls --from/--to` and `restore` filter on the key alone (parseBundleKey) without reading
//   objects, and stop listing after the folder of `--to` (a bundle's minAF cannot exceed its folder date).
//   A bundle dated earlier may still reach into the range (its maxAF), which the key also says.
// Keys of the original tool (`archive_YYYYMMDD_HHMMSS.tar.gz`, upload time) are recognised too.
import { randomBytes } from 'node:crypto';
import type { CompressionCodec } from './writer.js';

const BASE32 = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford: no i, l, o, u

/** 13 random lowercase base32 characters (64 random bits, one of them wasted). */
export function newBundleId(): string {
  const bytes = randomBytes(8);
  let n = bytes.readBigUInt64BE(0);
  let out = '';
  for (let i = 0; i < 13; i++) {
    out = BASE32[Number(n & 31n)]! + out;
    n >>= 5n;
  }
  return out;
}

/** YYYYMMDDTHHMMSSmmmZ in UTC. */
export function compactTime(d: Date): string {
  const iso = d.toISOString(); // 2024-01-02T03:04:05.678Z
  if (iso.length !== 24) throw new RangeError(`time ${iso} is outside the years 0000-9999`);
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}Z`;
}

export function parseCompactTime(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** `YYYY/MM/DD/` of an instant in UTC. */
export function dateFolder(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/`;
}

export interface BundleKeyParts {
  archiveFieldMin: Date;
  archiveFieldMax: Date;
  createdAt: Date;
  bundleId: string;
  codec: CompressionCodec;
}

export function bundleKey(prefix: string, parts: BundleKeyParts): string {
  if (prefix && !prefix.endsWith('/'))
    throw new Error(`key prefix '${prefix}' must be empty or end with '/'`);
  if (!/^[0-9a-z]+$/.test(parts.bundleId))
    throw new Error(`bundleId '${parts.bundleId}' must be lowercase base32`);
  const ext = parts.codec === 'gzip' ? '.tar.gz' : '.tar';
  return `${prefix}${dateFolder(parts.archiveFieldMin)}${compactTime(parts.archiveFieldMin)}_${compactTime(parts.archiveFieldMax)}_${compactTime(parts.createdAt)}_${parts.bundleId}${ext}`;
}

export type ParsedBundleKey =
  | ({ kind: 'gochive'; key: string; prefix: string } & BundleKeyParts)
  | { kind: 'legacy'; key: string; prefix: string; createdAt: Date; codec: CompressionCodec };

const GOCHIVE_KEY =
  /^(.*?)(\d{4})\/(\d{2})\/(\d{2})\/(\d{8}T\d{9}Z)_(\d{8}T\d{9}Z)_(\d{8}T\d{9}Z)_([0-9a-z]+)\.(tar\.gz|tar)$/;
const LEGACY_KEY = /^(.*?)archive_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.(tar\.gz|tgz|tar)$/;

/** Reads a key back into its parts; undefined for keys that are not bundles. */
export function parseBundleKey(key: string): ParsedBundleKey | undefined {
  const g = GOCHIVE_KEY.exec(key);
  if (g) {
    const archiveFieldMin = parseCompactTime(g[5]!);
    const archiveFieldMax = parseCompactTime(g[6]!);
    const createdAt = parseCompactTime(g[7]!);
    if (!archiveFieldMin || !archiveFieldMax || !createdAt) return undefined;
    if (dateFolder(archiveFieldMin) !== `${g[2]}/${g[3]}/${g[4]}/`) return undefined;
    return {
      kind: 'gochive',
      key,
      prefix: g[1]!,
      archiveFieldMin,
      archiveFieldMax,
      createdAt,
      bundleId: g[8]!,
      codec: g[9] === 'tar' ? 'none' : 'gzip',
    };
  }
  const l = LEGACY_KEY.exec(key);
  if (l) {
    const createdAt = new Date(`${l[2]}-${l[3]}-${l[4]}T${l[5]}:${l[6]}:${l[7]}Z`);
    if (Number.isNaN(createdAt.getTime())) return undefined;
    return { kind: 'legacy', key, prefix: l[1]!, createdAt, codec: l[8] === 'tar' ? 'none' : 'gzip' };
  }
  return undefined;
}

/**
 * Whether a bundle key may hold documents whose archive field is in [from, to). Legacy keys carry only
 * the upload time, which is after every document it holds was archived, so they are kept when
 * uploaded at or after `from`.
 */
export function keyMayOverlap(parsed: ParsedBundleKey, from?: Date, to?: Date): boolean {
  if (parsed.kind === 'legacy') return !from || parsed.createdAt.getTime() >= from.getTime();
  if (from && parsed.archiveFieldMax.getTime() < from.getTime()) return false;
  if (to && parsed.archiveFieldMin.getTime() >= to.getTime()) return false;
  return true;
}

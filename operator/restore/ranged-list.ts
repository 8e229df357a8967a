// Lists the keys under a prefix that can hold bundles overlapping an archive-field range ending at `to`,
// without asking the store for any date folder after it.
//
// gochive files a bundle under the UTC date of its smallest archive-field value (bundle/keys.ts), so a
// bundle in a date folder after the day of `to - 1 ms` starts after the range and is never needed. The
// other side cannot be cut the same way: a bundle filed before `from` may reach into the range (its
// largest value, which only its key says), and nothing bounds how far — so every folder up to `to` is
// listed and the key filter (keyMayOverlap) decides. Keys of the original tool (`archive_<upload
// time>.tar.gz`) carry no archive-field date and are never pruned.
//
// S3 can start a listing at a key but not stop at one (a page holds up to 1,000 keys past the point),
// so the range is covered by prefixes, each listed whole: one level is read at a time (Delimiter '/')
// to learn which year/month/day folders exist, and folders before the target are grouped under the
// shortest prefix that holds nothing after it (months 01-09 as `0` when --to is in November; years
// 2010-2019 as `201`). A one-day range costs three folder reads and a few listings, run in parallel.
// Date trees may sit anywhere under the prefix (a bucket URI above several policies' prefixes), so
// other folders at the top are walked the same way. Assumption: a folder named like a date holds only
// gochive's YYYY/MM/DD/ tree, so one after the date of `to` is never read.
import type { Destination, ObjectInfo } from '../storage/destination.js';
import { mapLimit } from '../util/map-limit.js';

const DIGITS = [/^\d{4}$/, /^\d{2}$/, /^\d{2}$/]; // year, month, day folder names
const PARALLEL_LISTINGS = 4;

/** Keys under `prefix` that may belong to bundles overlapping [.., to), in key order; all without `to`. */
export async function* listUpTo(dest: Destination, prefix: string, to?: Date): AsyncIterable<ObjectInfo> {
  if (!to || (prefix && !prefix.endsWith('/'))) {
    yield* dest.list(prefix); // no upper bound, or a prefix cut mid-name: nothing to prune by folder
    return;
  }
  const last = new Date(to.getTime() - 1).toISOString(); // the range's last instant (`to` is exclusive)
  const target = [last.slice(0, 4), last.slice(5, 7), last.slice(8, 10)];
  const out: ObjectInfo[] = [];
  const whole: string[] = [];
  await plan(dest, prefix, target, out, whole);
  const listed = await mapLimit(whole, PARALLEL_LISTINGS, async (p) => {
    const objects: ObjectInfo[] = [];
    for await (const o of dest.list(p)) objects.push(o);
    return objects;
  });
  for (const l of listed) out.push(...l);
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  yield* out;
}

/** Reads the folder levels of one date tree (and walks other folders), collecting prefixes to list. */
async function plan(
  dest: Destination,
  prefix: string,
  target: string[],
  out: ObjectInfo[],
  whole: string[],
): Promise<void> {
  const others: string[] = [];
  let level = prefix;
  for (let depth = 0; depth < target.length; depth++) {
    const t = target[depth]!;
    const groups = new Set<string>();
    let next: string | undefined;
    for await (const e of dest.listFolder(level)) {
      if (e.kind === 'object') {
        out.push(e);
        continue;
      }
      const name = e.prefix.slice(level.length, -1);
      if (!DIGITS[depth]!.test(name)) {
        // Not a date: at the top another tree may start there; inside a date tree it is listed whole.
        if (depth === 0) others.push(e.prefix);
        else whole.push(e.prefix);
      } else if (name === t) next = e.prefix;
      else if (name < t) {
        const i = [...name].findIndex((c, k) => c < t[k]!); // first digit below the target's
        groups.add(i === name.length - 1 ? `${level}${name}/` : `${level}${name.slice(0, i + 1)}`);
      }
      // after the target: skipped
    }
    whole.push(...groups);
    if (next === undefined) break;
    if (depth === target.length - 1) whole.push(next);
    else level = next;
  }
  for (const p of others) await plan(dest, p, target, out, whole);
}

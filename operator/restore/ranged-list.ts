// Lists the keys under a prefix that can hold bundles overlapping an archive-field range ending at `to`,
// without listing date folders after it.
//
// gochive files a bundle under the UTC date of its smallest archive-field value (bundle/keys.ts), so a
// bundle in a date folder after the day of `to - 1 ms` starts after the range and is never needed. The
// other side cannot be cut the same way: a bundle filed before `from` may reach into the range (its
// largest value, which only its key says), and nothing bounds how far — so every folder up to `to` is
// listed and the key filter (keyMayOverlap) decides. Keys of the original tool (`archive_<upload
// time>.tar.gz`) carry no archive-field date and are never pruned here.
//
// Date trees may sit anywhere under the prefix (a bucket URI one level above several policies' prefixes
// is common), so the walk reads one level at a time (Delimiter '/'): year-shaped folders (`YYYY/`) up to
// the year of `to` are read in ONE listing that stops after the folder of `to`; every other folder is
// walked the same way. For the usual layout that is two requests plus one per 1,000 keys listed.
// Assumption: a year-shaped folder holds only gochive's YYYY/MM/DD/ tree, so names in it after the date
// of `to` are skipped.
import type { Destination, ObjectInfo } from '../storage/destination.js';

const YEAR_FOLDER = /^\d{4}\/$/;

/** Keys under `prefix` that may belong to bundles overlapping [.., to); all keys when `to` is unset. */
export async function* listUpTo(dest: Destination, prefix: string, to?: Date): AsyncIterable<ObjectInfo> {
  if (!to || (prefix && !prefix.endsWith('/'))) {
    yield* dest.list(prefix); // no upper bound, or a prefix cut mid-name: nothing to prune by folder
    return;
  }
  const last = new Date(to.getTime() - 1).toISOString(); // the range's last instant (to is exclusive)
  const lastYear = last.slice(0, 4);
  // Every key in the folder of `last` sorts before this, every later date folder after it ('/' < '0').
  const end = `${lastYear}/${last.slice(5, 7)}/${last.slice(8, 10)}0`;
  yield* walk(dest, prefix, lastYear, end);
}

async function* walk(
  dest: Destination,
  prefix: string,
  lastYear: string,
  end: string,
): AsyncIterable<ObjectInfo> {
  const years: string[] = [];
  const others: string[] = [];
  for await (const e of dest.listFolder(prefix)) {
    if (e.kind === 'object') {
      yield e;
      continue;
    }
    const name = e.prefix.slice(prefix.length);
    if (!YEAR_FOLDER.test(name)) others.push(e.prefix);
    else if (name.slice(0, 4) <= lastYear) years.push(name);
  }
  if (years.length > 0) {
    years.sort();
    // One listing over the year folders, from the first to the folder of `to`. Names that sort between
    // year folders but are not in one (`2024-old/`…) are other folders, walked below instead.
    for await (const o of dest.list(prefix, `${prefix}${years[0]!.slice(0, 4)}`)) {
      const rel = o.key.slice(prefix.length);
      if (rel >= end) break;
      if (years.includes(rel.slice(0, 5))) yield o;
    }
  }
  for (const p of others) yield* walk(dest, p, lastYear, end);
}

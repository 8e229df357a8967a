// The objects expiry may look at: those directly under a prefix (where the original tool's
// `archive_<upload time>.tar.gz` keys sit) and those directly inside its own YYYY/MM/DD/ date folders up
// to the day of the cutoff, oldest day first, one folder at a time.
//
// Not ranged-list.ts's listUpTo, on purpose: that one lists folders recursively, walks every non-date
// folder under the prefix (where another policy's longer prefix lives: `archive/` vs `archive/orders/`)
// and buffers the whole selection before yielding. Expiry must never see another policy's keys, and a
// pass stops at its bound, so every level here is read with Delimiter '/' and streamed.
import type { Destination, ObjectInfo } from '../storage/destination.js';

const LEVELS = [/^\d{4}$/, /^\d{2}$/, /^\d{2}$/]; // year, month, day

export interface ListedObject extends ObjectInfo {
  /** True when the object sits in a date folder (false: directly under the prefix). */
  dated: boolean;
}

/** Objects under `prefix` and in its date folders up to `lastDay` (YYYY/MM/DD/, inclusive), oldest first. */
export async function* listExpiryCandidates(
  dest: Destination,
  prefix: string,
  lastDay: Date,
): AsyncIterable<ListedObject> {
  const iso = lastDay.toISOString();
  const target = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
  yield* walk(dest, prefix, 0, target, true);
}

async function* walk(
  dest: Destination,
  level: string,
  depth: number,
  target: string[],
  onTargetPath: boolean,
): AsyncIterable<ListedObject> {
  const folders: string[] = [];
  for await (const e of dest.listFolder(level)) {
    if (e.kind === 'object') {
      yield {
        key: e.key,
        size: e.size,
        ...(e.lastModified ? { lastModified: e.lastModified } : {}),
        dated: depth > 0,
      };
      continue;
    }
    if (depth >= LEVELS.length) continue; // below a day folder: never ours (another prefix, or foreign)
    const name = e.prefix.slice(level.length, -1);
    if (!LEVELS[depth]!.test(name)) continue; // not a date folder: another policy's prefix, or foreign
    if (onTargetPath && name > target[depth]!) continue; // after the cutoff's day
    folders.push(e.prefix);
  }
  folders.sort();
  for (const f of folders) {
    const name = f.slice(level.length, -1);
    yield* walk(dest, f, depth + 1, target, onTargetPath && name === target[depth]);
  }
}

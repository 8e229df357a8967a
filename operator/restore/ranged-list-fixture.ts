// A bucket layout for ranged-listing tests (unit: file://, integration: versitygw): bundles on every day
// across a year and a month boundary, one filed long before the range that reaches into it, original-
// format keys, another policy's date tree one level down, and objects that are not bundles.
import { bundleKey, type BundleKeyParts } from '../bundle/keys.js';

export interface RangedLayout {
  keys: string[];
  from: Date;
  to: Date;
  /** Keys that overlap [from, to) and must be found. */
  spanning: string;
  legacyAfter: string;
  nestedInRange: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function key(prefix: string, min: number, max: number, n: number): string {
  const parts: BundleKeyParts = {
    archiveFieldMin: new Date(min),
    archiveFieldMax: new Date(max),
    createdAt: new Date(Date.UTC(2024, 5, 1) + n * 1000),
    bundleId: `b${String(n).padStart(12, '0')}`,
    codec: 'gzip',
  };
  return bundleKey(prefix, parts);
}

export function rangedListingLayout(prefix: string, perDay = 2): RangedLayout {
  const from = new Date(Date.UTC(2024, 0, 10));
  const to = new Date(Date.UTC(2024, 0, 11));
  const keys: string[] = [];
  let n = 0;
  const start = Date.UTC(2023, 11, 20);
  for (let d = 0; d < 45; d++) {
    for (let i = 0; i < perDay; i++) {
      const min = start + d * DAY + i * HOUR;
      keys.push(key(prefix, min, min + HOUR / 2, n++));
    }
  }
  keys.push(key(prefix, to.getTime() - HOUR, to.getTime() - 1, n++)); // last instant of the range
  keys.push(key(prefix, to.getTime(), to.getTime() + HOUR, n++)); // starts at `to`: outside
  const spanning = key(prefix, Date.UTC(2023, 0, 5), from.getTime() + 5 * HOUR, n++);
  const nestedInRange = key(`${prefix}orders/`, from.getTime() + HOUR, from.getTime() + 2 * HOUR, n++);
  const legacyAfter = `${prefix}archive_20240215_000000.tar.gz`;
  keys.push(
    spanning,
    nestedInRange,
    key(`${prefix}orders/`, Date.UTC(2024, 1, 1), Date.UTC(2024, 1, 2), n),
    legacyAfter,
    `${prefix}archive_20240105_120000.tar.gz`, // uploaded before `from`: holds nothing in range
    `${prefix}2024-notes/readme.txt`,
    `${prefix}2024/01/10/notes.txt`,
  );
  return { keys: keys.sort(), from, to, spanning, legacyAfter, nestedInRange };
}

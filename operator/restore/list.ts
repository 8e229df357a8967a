// The rows of `gochive ls`.
import type { Destination } from '../storage/destination.js';
import type { SourceSelection } from './args.js';
import { mapLimit } from '../util/map-limit.js';
import { headMatches, readHead, selectBundles } from './catalog.js';
import { formatBytes } from '../util/format-bytes.js';

export interface BundleRow {
  key: string;
  format: 'gochive' | 'legacy';
  policy?: string;
  namespace?: string;
  database?: string;
  collection?: string;
  documents?: number;
  archiveFieldMin?: string;
  archiveFieldMax?: string;
  size: number;
  createdAt?: string;
  bundleId?: string;
}

export async function listBundles(dest: Destination, sel: SourceSelection): Promise<BundleRow[]> {
  const { refs } = await selectBundles(dest, sel);
  const rows = await mapLimit(refs, 8, async (ref) => {
    const head = await readHead(dest, ref);
    if (!headMatches(head, sel)) return undefined;
    const m = head.manifest;
    const row: BundleRow = { key: ref.key, format: head.format, size: ref.size };
    if (m) {
      Object.assign(row, {
        policy: m.policy.name,
        namespace: m.policy.namespace,
        database: m.database,
        collection: m.collection,
        documents: m.documentCount,
        createdAt: m.createdAt,
        bundleId: m.bundleId,
      });
      if (m.archiveFieldRange) {
        row.archiveFieldMin = m.archiveFieldRange.min;
        row.archiveFieldMax = m.archiveFieldRange.max;
      }
    } else if (ref.parsed) {
      row.createdAt = ref.parsed.createdAt.toISOString(); // the original names bundles by upload time
    }
    return row;
  });
  return rows.filter((r): r is BundleRow => r !== undefined);
}

const short = (iso?: string): string => (iso ? iso.replace('.000Z', 'Z') : '-');

export function printBundleTable(rows: BundleRow[]): string {
  const header = ['CREATED', 'NAMESPACE', 'DOCS', 'FROM', 'TO', 'SIZE', 'KEY'];
  const lines = rows.map((r) => [
    short(r.createdAt),
    r.format === 'legacy' ? '(original format)' : `${r.database}.${r.collection}`,
    r.documents === undefined ? '-' : String(r.documents),
    short(r.archiveFieldMin),
    short(r.archiveFieldMax),
    formatBytes(r.size),
    r.key,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]): string =>
    cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const total = rows.reduce((a, r) => a + (r.documents ?? 0), 0);
  const bytes = rows.reduce((a, r) => a + r.size, 0);
  return `${[fmt(header), ...lines.map(fmt)].join('\n')}\n${rows.length} bundle(s), ${total} document(s) in manifests, ${formatBytes(bytes)}\n`;
}

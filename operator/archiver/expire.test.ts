// The expiry pass on a file:// destination (a real directory): the ledger is read only after the
// listing, the cutoff's own day folder, original-format keys aged by upload time, and a stop between
// removals. versitygw, overlapping prefixes and manifests: test/integration/restore/prune.test.ts.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleKey, newBundleId } from '../bundle/keys.js';
import { FileDestination } from '../storage/file.js';
import type { Destination, FolderEntry } from '../storage/destination.js';
import { expireBundles } from './expire.js';

const HOUR = 3_600_000;
const cutoff = new Date('2024-06-15T12:00:00.000Z');

describe('expireBundles', () => {
  let root: string;
  let dest: FileDestination;
  const put = (key: string): string => {
    const file = path.join(root, ...key.split('/'));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'x');
    return key;
  };
  const bundle = (min: Date, max: Date, prefix = 'p/'): string =>
    put(
      bundleKey(prefix, {
        archiveFieldMin: min,
        archiveFieldMax: max,
        createdAt: new Date(max.getTime() + HOUR),
        bundleId: newBundleId(),
        codec: 'gzip',
      }),
    );
  const exists = (key: string): boolean => existsSync(path.join(root, ...key.split('/')));

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'gochive-expire-'));
    dest = new FileDestination({ kind: 'file', root, prefix: '' });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads the ledger only after the listing is complete (an entry written during it is honoured)', async () => {
    const a = bundle(
      new Date(cutoff.getTime() - 30 * 24 * HOUR),
      new Date(cutoff.getTime() - 29 * 24 * HOUR),
    );
    const b = bundle(
      new Date(cutoff.getTime() - 20 * 24 * HOUR),
      new Date(cutoff.getTime() - 19 * 24 * HOUR),
    );
    const calls: string[] = [];
    const spy: Destination = Object.assign(Object.create(dest) as Destination, {
      listFolder: (prefix: string): AsyncIterable<FolderEntry> => {
        calls.push(`list ${prefix}`);
        return dest.listFolder(prefix);
      },
    });
    const r = await expireBundles({
      dest: spy,
      prefix: 'p/',
      cutoff,
      dryRun: false,
      inFlight: async () => {
        calls.push('ledger');
        return new Set([b]);
      },
    });
    expect(calls[calls.length - 1]).toBe('ledger');
    expect(calls.filter((c) => c === 'ledger')).toHaveLength(1);
    expect(r.expired.map((x) => x.key)).toEqual([a]);
    expect(r.kept.inFlight).toBe(1);
    expect([exists(a), exists(b)]).toEqual([false, true]);
  });

  it("compares the newest document with the cutoff, inside the cutoff's own day folder too", async () => {
    const sameDayBefore = bundle(new Date(cutoff.getTime() - 2 * HOUR), new Date(cutoff.getTime() - 1));
    const sameDayAt = bundle(new Date(cutoff.getTime() - 2 * HOUR), cutoff);
    const nextDay = bundle(new Date(cutoff.getTime() + 24 * HOUR), new Date(cutoff.getTime() + 25 * HOUR));
    const r = await expireBundles({ dest, prefix: 'p/', cutoff, dryRun: false });
    expect(r.expired.map((x) => x.key)).toEqual([sameDayBefore]);
    expect([exists(sameDayBefore), exists(sameDayAt), exists(nextDay)]).toEqual([false, true, true]);
  });

  it("ages the original tool's keys by their upload time; without a match they may go", async () => {
    const before = put('p/archive_20240615_115959.tar.gz'); // uploaded before the cutoff
    const after = put('p/archive_20240615_120000.tar.gz'); // at the cutoff: its documents may be newer
    const loose = put('p/README.txt'); // beside the date folders: not a bundle, not counted
    const r = await expireBundles({ dest, prefix: 'p/', cutoff, dryRun: false });
    expect(r.expired.map((x) => x.key)).toEqual([before]);
    expect(r.kept.ageUnreadable).toBe(0);
    expect([exists(before), exists(after), exists(loose)]).toEqual([false, true, true]);
  });

  it('starts no removal once the worker stops, saying more remain', async () => {
    const keys = Array.from({ length: 20 }, (_, d) =>
      bundle(
        new Date(cutoff.getTime() - (40 - d) * 24 * HOUR),
        new Date(cutoff.getTime() - (40 - d) * 24 * HOUR),
      ),
    );
    let removed = 0;
    const r = await expireBundles({
      dest,
      prefix: 'p/',
      cutoff,
      dryRun: false,
      stopping: () => removed >= 1,
      onRemoved: () => removed++,
    });
    expect(r.truncated).toBe(true);
    expect(r.expired.length).toBe(removed);
    expect(removed).toBeLessThan(keys.length); // those already under way finish; no new one starts
    const gone = new Set(r.expired.map((x) => x.key));
    expect(keys.filter((k) => !exists(k))).toEqual(keys.filter((k) => gone.has(k)));
  });
});

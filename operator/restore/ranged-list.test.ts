import { mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { dateFolder, keyMayOverlap, parseBundleKey } from '../bundle/keys.js';
import { FileDestination } from '../storage/file.js';
import type { SourceSelection } from './args.js';
import { selectBundles } from './catalog.js';
import { listUpTo } from './ranged-list.js';
import { rangedListingLayout } from './ranged-list-fixture.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'gochive-ranged-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function putAll(d: FileDestination, keys: string[]): Promise<void> {
  const sha = createHash('sha256').update('x').digest('base64');
  for (const k of keys)
    await d.putObject(k, () => Readable.from([Buffer.from('x')]), { sha256Base64: sha, contentLength: 1 });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('ranged listing', () => {
  it.each(['', 'archive/'])(
    'finds every bundle the whole listing finds, without listing date folders after --to (prefix %j)',
    async (prefix) => {
      const dest = new FileDestination({ kind: 'file', root, prefix: '' });
      const layout = rangedListingLayout(prefix);
      await putAll(dest, layout.keys);
      const expected = layout.keys.filter((k) => {
        const p = parseBundleKey(k);
        return p !== undefined && keyMayOverlap(p, layout.from, layout.to);
      });
      expect(expected).toEqual(
        expect.arrayContaining([layout.spanning, layout.legacyAfter, layout.nestedInRange]),
      );
      const sel: SourceSelection = {
        destination: { kind: 'file', root, prefix: '' },
        prefix,
        from: layout.from,
        to: layout.to,
      };
      const { refs } = await selectBundles(dest, sel);
      expect(refs.map((r) => r.key)).toEqual(expected);

      const listed = (await collect(listUpTo(dest, prefix, layout.to))).map((o) => o.key);
      const lastFolder = dateFolder(new Date(layout.to.getTime() - 1));
      const afterTo = listed.filter((k) => {
        const p = parseBundleKey(k);
        return p?.kind === 'gochive' && dateFolder(p.archiveFieldMin) > lastFolder;
      });
      expect(afterTo).toEqual([]);
      expect(listed.length).toBeLessThan(layout.keys.length);
    },
  );

  it('lists everything when there is no --to', async () => {
    const dest = new FileDestination({ kind: 'file', root, prefix: '' });
    const layout = rangedListingLayout('');
    await putAll(dest, layout.keys);
    const listed = (await collect(listUpTo(dest, '', undefined))).map((o) => o.key);
    expect(listed).toEqual(layout.keys);
  });
});

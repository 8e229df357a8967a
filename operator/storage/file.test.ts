import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FileDestination } from './file.js';
import { ObjectExistsError } from './destination.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'gochive-file-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const body = (s: string) => () => Readable.from([Buffer.from(s)]);
const sha = (s: string) => createHash('sha256').update(s).digest('base64');
const put = (d: FileDestination, key: string, s: string) =>
  d.putObject(key, body(s), {
    sha256Base64: sha(s),
    contentLength: Buffer.byteLength(s),
    metadata: { a: 'b' },
  });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('file destination', () => {
  test('atomic create, never overwrite, head, range get, sorted listing', async () => {
    const d = new FileDestination({ kind: 'file', root, prefix: '' });
    await put(d, 'p/2024/01/02/b.tar.gz', 'hello');
    await expect(put(d, 'p/2024/01/02/b.tar.gz', 'other')).rejects.toBeInstanceOf(ObjectExistsError);
    await put(d, 'p/2024/01/02/b.tar.gz', 'hello'); // same content: an earlier attempt of ours, accepted
    await put(d, 'p/2024/01/02/a.tar.gz', 'x');
    await put(d, 'p/2024/01/10/c.tar.gz', 'y');
    await put(d, 'p.other', 'z');
    expect(await d.headObject('p/2024/01/02/b.tar.gz')).toEqual({
      size: 5,
      sha256Base64: sha('hello'),
      metadata: { a: 'b' },
    });
    expect(await d.headObject('p/nope')).toBeUndefined();
    const chunks = await collect(
      (await d.getObject('p/2024/01/02/b.tar.gz', { start: 1, end: 3 })) as AsyncIterable<Buffer>,
    );
    expect(Buffer.concat(chunks).toString()).toBe('ell');
    expect((await collect(d.list(''))).map((o) => o.key)).toEqual([
      'p.other',
      'p/2024/01/02/a.tar.gz',
      'p/2024/01/02/b.tar.gz',
      'p/2024/01/10/c.tar.gz',
    ]);
    expect((await collect(d.list('p/2024/01/0', 'p/2024/01/02/a.tar.gz'))).map((o) => o.key)).toEqual([
      'p/2024/01/02/b.tar.gz',
    ]);
    expect(readdirSync(path.join(root, 'p/2024/01/02')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  test('a body that does not match the declared hash is refused and leaves nothing', async () => {
    const d = new FileDestination({ kind: 'file', root, prefix: '' });
    await expect(
      d.putObject('k', body('abc'), { sha256Base64: sha('abd'), contentLength: 3 }),
    ).rejects.toThrow(/declared/);
    expect(readdirSync(root)).toEqual([]);
    await expect(put(d, '../escape', 'x')).rejects.toThrow(/not valid/);
  });
});

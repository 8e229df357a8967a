// Spool and bundle stage without servers: appends are cut back to the last checkpoint, survive a
// reopen at the journaled length, and every BSON type (including those FerretDB cannot store) goes
// spool → sealed bundle → reader byte-exact.
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { openBundle } from '../bundle/reader.js';
import { everyTypeDocuments } from '../bundle/test-docs.js';
import type { PolicyConfig } from './config.js';
import type { DocMeta } from './fetch.js';
import type { JournalBundle } from './journal.js';
import { getRawValue } from './raw-bson.js';
import { sealBundle } from './seal.js';
import { EMPTY_COMMIT, readIdRecords, Spool, SpoolLockedError, type SpoolCommit } from './spool.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gochive-spool-test-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function meta(doc: Uint8Array, ageMs = 1000): DocMeta {
  return { id: getRawValue(doc, '_id')!, ageMs };
}

const doc = (i: number) => Buffer.from(BSON.serialize({ _id: new BSON.Int32(i), v: 'x'.repeat(i % 7) }));

/** A journal bundle of the date-format target `at` on d.c, as the worker hands it to sealBundle. */
function bundleOf(id: string, commit: SpoolCommit, more: Partial<JournalBundle> = {}): JournalBundle {
  return {
    id,
    state: 'open',
    createdAt: new Date().toISOString(),
    target: { database: 'd', collection: 'c', archiveField: 'at', archiveFieldFormat: 'date' },
    commit,
    ...more,
  };
}

/** What sealBundle reads of a policy: gzip 6 to a file destination under the test root. */
function sealCfg(name: string): Pick<PolicyConfig, 'name' | 'namespace' | 'compression' | 'destination'> {
  return {
    name,
    namespace: 'ns',
    compression: { codec: 'gzip', level: 6 },
    destination: { kind: 'file', root, prefix: 'pre/' },
  };
}

describe('Spool', () => {
  test('cutToCommitted drops what a crash wrote past the journal, so the bundle seals without a fetch', async () => {
    const spool = await Spool.open(root, 'ns', 'p');
    const a = await spool.openAppender('b1', EMPTY_COMMIT, 5000);
    await a.append(doc(1), meta(doc(1), 10));
    a.checkpoint();
    const c = await a.finish();
    await a.append(doc(2), meta(doc(2), 20)); // appended after the journal save: a crash leaves it
    await a.close();
    await writeFile(
      spool.idsFile('b1'),
      Buffer.concat([await readFile(spool.idsFile('b1')), Buffer.from('x')]),
    );
    await spool.cutToCommitted('b1', c);
    expect((await stat(spool.docsFile('b1'))).size).toBe(c.docsBytes);
    expect((await stat(spool.idsFile('b1'))).size).toBe(c.idsBytes);
    await expect(sealBundle(spool, bundleOf('b1', c), sealCfg('p'), undefined)).resolves.toMatchObject({
      size: expect.any(Number),
    });
  });

  test('keeps only checkpointed documents; a reopen truncates to the committed length', async () => {
    const spool = await Spool.open(root, 'ns', 'p');
    const a = await spool.openAppender('b1', EMPTY_COMMIT, 5000);
    await a.append(doc(1), meta(doc(1), 10));
    await a.append(doc(2), meta(doc(2), 20));
    a.checkpoint();
    await a.append(doc(3), meta(doc(3), 30)); // a cut tie group: dropped
    const c = await a.finish();
    await a.close();
    expect(c.docs).toBe(2);
    expect(c.docsBytes).toBe(doc(1).length + doc(2).length);
    expect([c.ageMinMs, c.ageMaxMs]).toEqual([10, 20]);
    expect((await stat(spool.docsFile('b1'))).size).toBe(c.docsBytes);

    // A crash after more appends: garbage past the journaled length is cut on reopen.
    await writeFile(
      spool.docsFile('b1'),
      Buffer.concat([await readFile(spool.docsFile('b1')), Buffer.from('partial')]),
    );
    const b = await spool.openAppender('b1', c, 6000);
    await b.append(doc(4), meta(doc(4), 40));
    b.checkpoint();
    const c2 = await b.finish();
    await b.close();
    expect(await readFile(spool.docsFile('b1'))).toEqual(Buffer.concat([doc(1), doc(2), doc(4)]));
    const records = [];
    for await (const r of readIdRecords(spool.idsFile('b1'), 0, c2.idsBytes)) records.push(r);
    expect(records).toHaveLength(3);
    expect(records.map((r) => [r.cutoffMs, r.ageMs])).toEqual([
      [5000, 10],
      [5000, 20],
      [6000, 40],
    ]);
    expect(records.map((r) => Buffer.from(r.id.value).readInt32LE(0))).toEqual([1, 2, 4]);
    await spool.unlock();
  });

  test('reset() drops everything appended by a failed batch', async () => {
    const spool = await Spool.open(root, 'ns', 'p');
    const a = await spool.openAppender('b1', EMPTY_COMMIT, 1);
    for (let i = 0; i < 3000; i++) await a.append(doc(i), meta(doc(i))); // more than the write buffer
    a.checkpoint();
    await a.reset();
    const c = await a.finish();
    await a.close();
    expect(c.docs).toBe(0);
    expect((await stat(spool.docsFile('b1'))).size).toBe(0);
    await spool.unlock();
  });

  test('one policy directory is locked by one worker; a stale lock (dead pid) is taken over', async () => {
    const spool = await Spool.open(root, 'ns', 'p');
    await expect(Spool.open(root, 'ns', 'p')).rejects.toBeInstanceOf(SpoolLockedError);
    const other = await Spool.open(root, 'ns', 'q');
    expect(other.dir).not.toBe(spool.dir);
    await spool.unlock();
    await other.unlock();
    await writeFile(path.join(root, 'ns', 'p', 'lock'), '999999999\n');
    const again = await Spool.open(root, 'ns', 'p');
    await again.unlock();
  });

  test('a brief hold (the journal sweep) makes a worker of this process wait, not refuse; a worker makes the sweep refuse', async () => {
    const brief = await Spool.open(root, 'ns', 'p', true);
    let opened = false;
    const worker = Spool.open(root, 'ns', 'p').then((s) => {
      opened = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(opened).toBe(false);
    await brief.unlock();
    const held = await worker;
    await expect(Spool.open(root, 'ns', 'p', true)).rejects.toBeInstanceOf(SpoolLockedError);
    await held.unlock();
  });

  test('a bundle with bytes past its commit (a batch that failed half-flushed) still seals', async () => {
    // Chaos finding: a fetch whose flush hit ENOSPC left bytes past the journaled length; the upload
    // tick then sealed the bundle without a fetch reopening (and so cutting) it, and every retry of
    // the seal failed on the length check: the bundle was never uploaded.
    const spool = await Spool.open(root, 'ns', 'tail');
    const a = await spool.openAppender('t1', EMPTY_COMMIT, 5000);
    await a.append(doc(1), meta(doc(1), 10));
    a.checkpoint();
    const c = await a.finish();
    await a.close();
    await writeFile(spool.docsFile('t1'), Buffer.concat([await readFile(spool.docsFile('t1')), doc(2)]));
    const sealed = await sealBundle(
      spool,
      bundleOf('t1', c, { state: 'sealing' }),
      sealCfg('tail'),
      undefined,
    );
    const docs: Buffer[] = [];
    const r = await openBundle(createReadStream(sealed.file));
    for await (const d of r.documents()) docs.push(Buffer.from(d));
    expect(docs).toEqual([doc(1)]);
    await spool.unlock();
  });

  test('rejects names that would escape the spool root', async () => {
    await expect(Spool.open(root, '..', 'p')).rejects.toThrow(/cannot be used as a spool directory/);
    await expect(Spool.open(root, 'ns', 'a/b')).rejects.toThrow(/cannot be used as a spool directory/);
  });

  test('every BSON type goes spool → bundle → reader byte-exact', async () => {
    const docs = everyTypeDocuments();
    const spool = await Spool.open(root, 'ns', 'types');
    const a = await spool.openAppender('types1', EMPTY_COMMIT, Date.UTC(2025, 0, 1));
    for (const d of docs) await a.append(d, meta(d, Date.UTC(2024, 0, 2)));
    a.checkpoint();
    const commit = await a.finish();
    await a.close();
    const b = bundleOf('types1', commit, { cutoffMaxMs: Date.UTC(2025, 0, 1) });
    const sealed = await sealBundle(spool, b, sealCfg('types'), [{ v: 2, key: { _id: 1 }, name: '_id_' }]);
    expect(sealed.key).toMatch(
      /^pre\/2024\/01\/02\/20240102T000000000Z_20240102T000000000Z_\d{8}T\d{9}Z_types1\.tar\.gz$/,
    );
    const opened = await openBundle(createReadStream(sealed.file), { key: sealed.key });
    expect(opened.manifest?.documentCount).toBe(docs.length);
    expect(opened.manifest?.policy).toEqual({ name: 'types', namespace: 'ns' });
    const back: Buffer[] = [];
    for await (const d of opened.documents()) back.push(Buffer.from(d));
    expect(back).toEqual(docs);
    await spool.unlock();
  });
});

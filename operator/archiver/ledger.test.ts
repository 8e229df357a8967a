import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zeroCounters } from './counters.js';
import { ledgerEntry as entry } from './ledger-fixture.js';
import {
  applyChange,
  FileLedgerStore,
  LedgerConflictError,
  putEntry,
  withoutEntry,
  type LedgerBundle,
  type LedgerView,
} from './ledger.js';

const view = (...bundles: LedgerBundle[]): LedgerView => ({ bundles, totals: zeroCounters() });

describe('ledger steps', () => {
  test('a step applied twice (a retry after a lost reply) changes nothing the second time', () => {
    const v0 = view();
    const recorded = putEntry(v0, entry('b1'), undefined)!;
    const v1 = applyChange(v0, { bundles: recorded });
    expect(putEntry(v1, entry('b1'), undefined)).toBeUndefined();
    const up = putEntry(v1, entry('b1', 'uploaded'), 'uploading')!;
    const v2 = applyChange(v1, { bundles: up, add: { documentsArchived: 10, bundlesUploaded: 1 } });
    expect(v2.totals.documentsArchived).toBe(10);
    // The same step again: already uploaded, so no second count.
    expect(putEntry(v2, entry('b1', 'uploaded'), 'uploading')).toBeUndefined();
    const gone = withoutEntry(v2, 'b1')!;
    const v3 = applyChange(v2, { bundles: gone, add: { documentsDeleted: 10 } });
    expect(v3.bundles).toEqual([]);
    expect(withoutEntry(v3, 'b1')).toBeUndefined();
    expect(v3.totals).toMatchObject({ documentsArchived: 10, documentsDeleted: 10, bundlesUploaded: 1 });
  });

  test('advancing an entry another worker removed or moved on is a conflict, not a guess', () => {
    expect(() => putEntry(view(), entry('b1', 'uploaded'), 'uploading')).toThrow(LedgerConflictError);
    const v = view({ ...entry('b1'), state: 'uploaded' });
    expect(() => putEntry(v, { ...entry('b1'), state: 'uploading' }, 'sealed' as never)).toThrow(
      LedgerConflictError,
    );
  });

  test('epoch, dryRunPosition and reported carry over unless a step replaces them', () => {
    const v = applyChange(view(), {
      bundles: [],
      epoch: 'e1',
      dryRunPosition: { selection: 's', mode: 'range', lastAge: 'AA==' },
    });
    const w = applyChange(v, { bundles: [] });
    expect(w.epoch).toBe('e1');
    expect(w.dryRunPosition?.lastAge).toBe('AA==');
    expect(applyChange(w, { bundles: [], epoch: 'e2' }).epoch).toBe('e2');
  });
});

describe('FileLedgerStore', () => {
  test('persists each step atomically and reads it back in a new process', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gochive-ledger-'));
    try {
      const a = FileLedgerStore.inDir(dir);
      expect((await a.read()).bundles).toEqual([]);
      await a.update((cur) => ({ bundles: putEntry(cur, entry('b1'), undefined)!, epoch: 'e1' }));
      await a.update((cur) => ({
        bundles: putEntry(cur, entry('b1', 'uploaded'), 'uploading')!,
        add: { documentsArchived: 10 },
      }));
      const b = FileLedgerStore.inDir(dir);
      const read = await b.read();
      expect(read.epoch).toBe('e1');
      expect(read.bundles.map((x) => [x.id, x.state])).toEqual([['b1', 'uploaded']]);
      expect(read.totals.documentsArchived).toBe(10);
      await expect(readFile(path.join(dir, 'ledger.json.tmp'))).rejects.toThrow();
      // A step with nothing to do writes nothing.
      const before = await readFile(path.join(dir, 'ledger.json'), 'utf8');
      await b.update(() => undefined);
      expect(await readFile(path.join(dir, 'ledger.json'), 'utf8')).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreadable ledger stops the worker with a message, never starts afresh', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gochive-ledger-'));
    try {
      await writeFile(path.join(dir, 'ledger.json'), '{not json');
      await expect(FileLedgerStore.inDir(dir).read()).rejects.toThrow(/ledger .* is not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

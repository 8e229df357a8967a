// Recovery without servers: which bundles a starting worker takes from the ledger and which from its
// spool. The spool is trusted only when its journal worked under the ledger's previous epoch; a ledger
// bundle without a local copy is finished from the store (remote), and a stale spool is dropped.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { createLogger } from '../util/logger.js';
import { Journal, type JournalFingerprint } from './journal.js';
import { FileLedgerStore, Ledger, type LedgerBundle } from './ledger.js';
import { getRawValue } from './raw-bson.js';
import { recoverPolicy } from './recovery.js';
import { EMPTY_COMMIT, Spool } from './spool.js';

const fp: JournalFingerprint = {
  database: 'd',
  collection: 'c',
  archiveField: 'at',
  archiveFieldFormat: 'date',
};
const log = createLogger({ level: 'silent' });
const uploaded: LedgerBundle = {
  id: 'up1',
  key: 'pre/2024/01/01/up1.tar.gz',
  state: 'uploaded',
  documents: 3,
  bytes: 100,
  sha256: 'A'.repeat(44),
  database: 'd',
  collection: 'c',
  archiveField: 'at',
  archiveFieldFormat: 'date',
  cutoffMs: 1_700_000_000_000,
};

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gochive-recovery-test-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A spool whose journal holds one open bundle of two documents, written under `epoch`. */
async function spoolWithOpenBundle(epoch: string | undefined): Promise<Spool> {
  const spool = await Spool.open(root, 'ns', 'p');
  const a = await spool.openAppender('open1', EMPTY_COMMIT, 5000);
  for (const i of [1, 2]) {
    const doc = Buffer.from(BSON.serialize({ _id: i, at: new Date(i) }));
    await a.append(doc, { id: getRawValue(doc, '_id')!, ageMs: i });
  }
  a.checkpoint();
  const commit = await a.finish();
  await a.close();
  const { journal } = await Journal.load(spool.dir, fp);
  journal.data.bundles.push({
    id: 'open1',
    state: 'open',
    createdAt: new Date().toISOString(),
    target: { database: 'd', collection: 'c', archiveField: 'at', archiveFieldFormat: 'date' },
    commit,
  });
  journal.data.position = { mode: 'range', lastAge: 'AAAA' };
  if (epoch) journal.data.epoch = epoch;
  await journal.save();
  return spool;
}

async function ledgerWith(epoch: string, bundles: LedgerBundle[]): Promise<Ledger> {
  const ledger = new Ledger(FileLedgerStore.inDir(path.join(root, 'ledger')));
  await ledger.step(() => ({ bundles, epoch }));
  return ledger;
}

describe('recoverPolicy', () => {
  test('an empty spool (a new pod): the ledger bundles come from the store, fetching waits for them', async () => {
    const spool = await Spool.open(root, 'ns', 'p');
    const ledger = await ledgerWith('e1', [uploaded]);
    const r = await recoverPolicy({ spool, ledger, fingerprint: fp, log, now: Date.now });
    expect(r.journal.bundles.map((b) => [b.id, b.state, b.remote])).toEqual([['up1', 'uploaded', true]]);
    expect(r.uploaded).toEqual(['up1']);
    expect(r.journal.data).toMatchObject({ finishPendingBeforeFetch: true, positionFromLedger: true });
    // A new epoch is taken, and the journal works under it.
    expect(ledger.view.epoch).not.toBe('e1');
    expect(r.journal.data.epoch).toBe(ledger.view.epoch);
  });

  test('the same worker restarting on its spool keeps what it fetched and where it was', async () => {
    const spool = await spoolWithOpenBundle('e1');
    const ledger = await ledgerWith('e1', []);
    const r = await recoverPolicy({ spool, ledger, fingerprint: fp, log, now: Date.now });
    expect(r.journal.bundles.map((b) => [b.id, b.state, b.commit.docs])).toEqual([['open1', 'open', 2]]);
    expect(r.journal.data.position).toEqual({ mode: 'range', lastAge: 'AAAA' });
    expect(r.journal.data.finishPendingBeforeFetch).toBeUndefined();
    expect(await spool.bundleIds()).toEqual(['open1']);
  });

  test('a spool another worker ran the policy after (other epoch) is dropped: its documents are fetched again', async () => {
    const spool = await spoolWithOpenBundle('e0');
    const ledger = await ledgerWith('e1', [uploaded]);
    const r = await recoverPolicy({ spool, ledger, fingerprint: fp, log, now: Date.now });
    expect(r.journal.bundles.map((b) => b.id)).toEqual(['up1']);
    expect(await spool.bundleIds()).toEqual([]);
    expect(r.journal.data.position).toEqual({ mode: 'range' });
    expect(r.journal.data.positionFromLedger).toBe(true);
  });

  test('a spool from before the ledger (no epoch) is not trusted', async () => {
    const spool = await spoolWithOpenBundle(undefined);
    const ledger = await ledgerWith('e1', []);
    const r = await recoverPolicy({ spool, ledger, fingerprint: fp, log, now: Date.now });
    expect(r.journal.bundles).toEqual([]);
    expect(await spool.bundleIds()).toEqual([]);
  });
});

// The dry-run position shared through the status: published for a selection, taken only for that
// selection, never taken when damaged (the status is writable by users), never published when too long.
import { DRY_RUN_POSITION_MAX_CHARS } from '../api/schema.js';
import { BSON } from 'mongodb';
import { continueFrom, publishPosition } from './dry-run-position.js';
import type { JournalFingerprint } from './journal.js';

const fp: JournalFingerprint = {
  database: 'd',
  collection: 'c',
  archiveField: 'createdAt',
  archiveFieldFormat: 'date',
};
const raw = (v: unknown) => Buffer.from(BSON.serialize({ v })).toString('base64');

describe('dry-run position', () => {
  test('round trip for range and tie positions, for the same selection only', () => {
    const range = { mode: 'range' as const, lastAge: raw(new Date(1000)) };
    const tie = { mode: 'tie' as const, age: raw(new Date(1000)), lastId: raw('id-7') };
    for (const p of [range, tie]) {
      const published = publishPosition(fp, p)!;
      expect(continueFrom(fp, published)).toEqual(p);
      expect(continueFrom({ ...fp, filterEJSON: '{"a":1}' }, published)).toBeUndefined();
      expect(continueFrom({ ...fp, collection: 'other' }, published)).toBeUndefined();
    }
    // A position at the very start carries nothing worth sharing.
    expect(continueFrom(fp, publishPosition(fp, { mode: 'range' }))).toBeUndefined();
  });

  test('a damaged value is not taken; an oversized one is not published', () => {
    const published = publishPosition(fp, { mode: 'range', lastAge: raw(5) })!;
    expect(continueFrom(fp, { ...published, lastAge: 'bm90IGJzb24=' })).toBeUndefined();
    expect(continueFrom(fp, { ...published, mode: 'tie' })).toBeUndefined();
    const big = raw('x'.repeat(DRY_RUN_POSITION_MAX_CHARS));
    expect(publishPosition(fp, { mode: 'tie', age: raw(5), lastId: big })).toBeUndefined();
  });
});

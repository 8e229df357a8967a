// Query shapes of the fetch and delete stages, raw BSON field access, journal and pacing helpers.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { chunkFilter } from './delete.js';
import {
  ageMillis,
  eligibleQuery,
  ineligibleQuery,
  normalizeFilter,
  type EligibilityTarget,
} from './eligibility.js';
import { decodeRawOperand, encodeRaw, laterTypeAliases, rangeQuery, tieQuery } from './fetch.js';
import { Journal } from './journal.js';
import { insideWindows } from './pacing.js';
import { bracketRank, decodeExact, getRawValue, T } from './raw-bson.js';
import type { IdRecord } from './spool.js';

const target: EligibilityTarget = {
  database: 'd',
  collection: 'c',
  archiveField: 'meta.createdAt',
  archiveFieldFormat: 'date',
};
const cutoff = Date.UTC(2024, 0, 1);

describe('raw BSON', () => {
  const doc = BSON.serialize({
    _id: BSON.Long.fromNumber(5),
    meta: { createdAt: new Date(cutoff), n: new BSON.Int32(3) },
    arr: [1, 2],
  });

  test('finds nested fields without decoding and keeps exact types', () => {
    const id = getRawValue(doc, '_id')!;
    expect(id.type).toBe(T.int64);
    expect(decodeExact(id)).toEqual(BSON.Long.fromNumber(5));
    expect(ageMillis('date', getRawValue(doc, 'meta.createdAt'))).toBe(cutoff);
    expect(getRawValue(doc, 'meta.missing')).toBeUndefined();
    expect(getRawValue(doc, 'arr.0')).toBeUndefined(); // paths never cross arrays
    expect(decodeRawOperand(encodeRaw(getRawValue(doc, 'meta.n')!))).toEqual(new BSON.Int32(3));
  });

  test('age values per format; wrong types give undefined', () => {
    const v = (x: unknown) => getRawValue(BSON.serialize({ x }), 'x');
    expect(ageMillis('epochSeconds', v(new BSON.Int32(10)))).toBe(10_000);
    expect(ageMillis('epochMillis', v(BSON.Long.fromNumber(1234)))).toBe(1234);
    expect(ageMillis('epochMillis', v(2.5))).toBe(2.5);
    // epochNanos: an Int64 read exactly (this one is not a double: 1704067200123456789 rounds to ...6768),
    // floored to the millisecond, also before 1970; other numbers divided.
    expect(ageMillis('epochNanos', v(BSON.Long.fromBigInt(1704067200123999999n)))).toBe(1704067200123);
    expect(ageMillis('epochNanos', v(BSON.Long.fromBigInt(-1n)))).toBe(-1);
    expect(ageMillis('epochNanos', v(new BSON.Double(2e6)))).toBe(2);
    expect(ageMillis('epochNanos', v(new Date(0)))).toBeUndefined();
    expect(ageMillis('date', v('2024-01-01'))).toBeUndefined();
    expect(ageMillis('epochSeconds', v(new Date(0)))).toBeUndefined();
    expect(ageMillis('objectId', v(BSON.ObjectId.createFromTime(100)))).toBe(100_000);
  });

  test('epochNanos cutoff is an exact Int64 and delete bounds stay inside Int64', () => {
    const t: EligibilityTarget = { ...target, archiveField: 'ns', archiveFieldFormat: 'epochNanos' };
    const q = eligibleQuery(t, cutoff + 0.5);
    expect(q).toEqual({
      $and: [
        { ns: { $lt: BSON.Long.fromBigInt(BigInt(cutoff) * 1_000_000n) } },
        { ns: { $not: { $type: 'array' } } },
      ],
    });
    const rec = (ageMs: number): IdRecord => ({
      id: getRawValue(BSON.serialize({ _id: new BSON.Int32(1) }), '_id')!,
      ageMs,
      cutoffMs: cutoff,
      end: 0,
    });
    const f = JSON.stringify(
      BSON.EJSON.serialize(chunkFilter(t, undefined, [rec(cutoff - 5)]), { relaxed: false }),
    );
    expect(f).toContain(`"$gte":{"$numberLong":"${BigInt(cutoff - 6) * 1_000_000n}"}`);
    expect(f).toContain(`"$lte":{"$numberLong":"${BigInt(cutoff - 4) * 1_000_000n}"}`);
    // An age beyond what Int64 nanoseconds hold (a double of 1e300 in the field) leaves that side open.
    const open = JSON.stringify(
      BSON.EJSON.serialize(chunkFilter(t, undefined, [rec(1e294)]), { relaxed: false }),
    );
    expect(open).not.toContain('$lte');
  });

  test("type brackets follow MongoDB's canonical order", () => {
    expect(bracketRank(T.int32)).toBe(bracketRank(T.double));
    expect(bracketRank(T.string)).toBeLessThan(bracketRank(T.object));
    expect(bracketRank(T.object)).toBeLessThan(bracketRank(T.binary));
    expect(bracketRank(T.binary)).toBeLessThan(bracketRank(T.objectId));
    expect(laterTypeAliases(T.objectId)).toEqual([
      'bool',
      'date',
      'timestamp',
      'regex',
      'dbPointer',
      'javascript',
      'javascriptWithScope',
      'maxKey',
    ]);
    expect(laterTypeAliases(T.objectId, new Set(['bool', 'date', 'string']))).toEqual(['bool', 'date']);
    expect(laterTypeAliases(T.maxKey)).toEqual([]);
  });
});

describe('queries', () => {
  test('eligibility excludes arrays and ANDs the filter', () => {
    const q = eligibleQuery({ ...target, filter: { status: 'done' } }, cutoff);
    expect(q).toEqual({
      $and: [
        { status: 'done' },
        { 'meta.createdAt': { $lt: new Date(cutoff) } },
        { 'meta.createdAt': { $not: { $type: 'array' } } },
      ],
    });
    expect(eligibleQuery({ ...target, archiveFieldFormat: 'objectId' }, cutoff)).toEqual({
      _id: { $lt: BSON.ObjectId.createFromTime(cutoff / 1000) },
    });
    expect(ineligibleQuery(target)).toEqual({ 'meta.createdAt': { $not: { $type: ['date'] } } });
  });

  test('range and tie queries page by (age, _id) across type brackets', () => {
    const age = encodeRaw(getRawValue(BSON.serialize({ v: new Date(5) }), 'v')!);
    expect(rangeQuery(target, cutoff, { lastAge: age })).toEqual({
      $and: [
        { 'meta.createdAt': { $lt: new Date(cutoff) } },
        { 'meta.createdAt': { $not: { $type: 'array' } } },
        { 'meta.createdAt': { $gt: new Date(5) } },
      ],
    });
    // An age window bounds the page above too (fetch.ts): strictly, in the format's own operand.
    expect(rangeQuery(target, cutoff, { lastAge: age }, 1005)).toEqual({
      $and: [
        { 'meta.createdAt': { $lt: new Date(cutoff) } },
        { 'meta.createdAt': { $not: { $type: 'array' } } },
        { 'meta.createdAt': { $gt: new Date(5) } },
        { 'meta.createdAt': { $lt: new Date(1005) } },
      ],
    });
    const lastId = encodeRaw(getRawValue(BSON.serialize({ v: 'abc' }), 'v')!);
    const q = tieQuery(target, { age, lastId }, new Set(['object', 'binData', 'objectId', 'number']));
    expect(q).toEqual({
      $and: [
        { 'meta.createdAt': new Date(5) },
        { 'meta.createdAt': { $not: { $type: 'array' } } },
        { $or: [{ _id: { $gt: 'abc' } }, { _id: { $type: ['object', 'binData', 'objectId'] } }] },
      ],
    });
  });

  test('delete chunks re-check age range, cutoff, filter and guards, grouped', () => {
    const rec = (id: number, cutoffMs: number, ageMs: number, guard?: unknown): IdRecord => ({
      id: getRawValue(BSON.serialize({ v: new BSON.Int32(id) }), 'v')!,
      cutoffMs,
      ageMs,
      ...(guard !== undefined
        ? { guards: new Map([[0, getRawValue(BSON.serialize({ v: guard }), 'v')!]]) }
        : {}),
      end: 0,
    });
    const f = chunkFilter(
      { ...target, filter: { s: 1 } },
      ['rev'],
      [rec(1, 100, 10, 1), rec(2, 100, 20, 1), rec(3, 100, 30, 2), rec(4, 200, 40)],
    );
    expect(f).toEqual({
      $and: [
        { s: 1 },
        {
          $or: [
            {
              $and: [
                { 'meta.createdAt': { $gte: new Date(10), $lte: new Date(20) } },
                { 'meta.createdAt': { $lt: new Date(100) } },
                { _id: { $in: [new BSON.Int32(1), new BSON.Int32(2)] } },
                { 'meta.createdAt': { $not: { $type: 'array' } } },
                { rev: { $eq: new BSON.Int32(1) } },
              ],
            },
            {
              $and: [
                { 'meta.createdAt': { $gte: new Date(30), $lte: new Date(30) } },
                { 'meta.createdAt': { $lt: new Date(100) } },
                { _id: { $in: [new BSON.Int32(3)] } },
                { 'meta.createdAt': { $not: { $type: 'array' } } },
                { rev: { $eq: new BSON.Int32(2) } },
              ],
            },
            {
              $and: [
                { 'meta.createdAt': { $gte: new Date(40), $lte: new Date(40) } },
                { 'meta.createdAt': { $lt: new Date(200) } },
                { _id: { $in: [new BSON.Int32(4)] } },
                { 'meta.createdAt': { $not: { $type: 'array' } } },
                { rev: { $exists: false } },
              ],
            },
          ],
        },
      ],
    });
  });

  test('filters written as Extended JSON become BSON values', () => {
    expect(
      normalizeFilter({
        at: { $lt: { $date: '2024-01-01T00:00:00Z' } },
        id: { $oid: '65a1b2c3d4e5f60718293a4b' },
      }),
    ).toEqual({
      at: { $lt: new Date('2024-01-01T00:00:00Z') },
      id: new BSON.ObjectId('65a1b2c3d4e5f60718293a4b'),
    });
    expect(normalizeFilter({})).toBeUndefined();
  });
});

describe('journal', () => {
  test('saves atomically and resets the position when the policy selects differently', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gochive-journal-'));
    try {
      const fp = { database: 'd', collection: 'c', archiveField: 'a', archiveFieldFormat: 'date' };
      const { journal, fresh } = await Journal.load(dir, fp);
      expect(fresh).toBe(true);
      journal.data.position = { mode: 'range', lastAge: 'AAAA' };
      await journal.save();
      await writeFile(path.join(dir, 'journal.json.tmp'), 'half-written garbage');
      const same = await Journal.load(dir, fp);
      expect(same.journal.data.position).toEqual({ mode: 'range', lastAge: 'AAAA' });
      const changed = await Journal.load(dir, { ...fp, filterEJSON: '{"x":1}' });
      expect(changed.positionReset).toBe(true);
      expect(changed.journal.data.position).toEqual({ mode: 'range' });
      await expect(readFile(path.join(dir, 'journal.json.tmp'))).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('archive windows', () => {
  const at = (iso: string) => new Date(iso);
  test('plain, wrapping past midnight, days and time zones', () => {
    const w = [{ start: '01:00', end: '05:00' }];
    expect(insideWindows(undefined, at('2024-01-01T12:00:00Z'))).toBe(true);
    expect(insideWindows(w, at('2024-01-01T02:00:00Z'))).toBe(true);
    expect(insideWindows(w, at('2024-01-01T05:00:00Z'))).toBe(false);
    const night = [{ start: '22:00', end: '02:00', days: [1] }]; // Monday night
    expect(insideWindows(night, at('2024-01-01T23:00:00Z'))).toBe(true); // Monday 23:00
    expect(insideWindows(night, at('2024-01-02T01:00:00Z'))).toBe(true); // Tuesday 01:00, Monday's window
    expect(insideWindows(night, at('2024-01-02T23:00:00Z'))).toBe(false); // Tuesday 23:00
    const seoul = [{ start: '02:00', end: '03:00', timeZone: 'Asia/Seoul' }];
    expect(insideWindows(seoul, at('2024-01-01T17:30:00Z'))).toBe(true); // 02:30 KST
    expect(insideWindows(seoul, at('2024-01-01T02:30:00Z'))).toBe(false);
  });
});

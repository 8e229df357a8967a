import { addCounters, countersSince, readCounters, zeroCounters } from './counters.js';

describe('journal counters', () => {
  test('readCounters keeps finite positive numbers and zeroes the rest', () => {
    expect(
      readCounters({ documentsArchived: 5, documentsDeleted: -1, bundlesUploaded: Number.NaN, bogus: 3 }),
    ).toEqual({ ...zeroCounters(), documentsArchived: 5 });
    expect(readCounters(undefined)).toEqual(zeroCounters());
  });

  test('countersSince is the per-counter remainder, never negative', () => {
    const a = { ...zeroCounters(), documentsArchived: 30, bundlesUploaded: 3, bytesUploaded: 900 };
    const b = { ...zeroCounters(), documentsArchived: 20, bundlesUploaded: 4, bytesUploaded: 600 };
    expect(countersSince(a, b)).toEqual({ ...zeroCounters(), documentsArchived: 10, bytesUploaded: 300 });
    expect(addCounters(b, countersSince(a, b)).documentsArchived).toBe(30);
  });
});

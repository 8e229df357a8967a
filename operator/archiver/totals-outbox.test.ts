import { acknowledge, carriedTotals, unacknowledged, zeroCounters } from './totals-outbox.js';
import type { WorkerTotals } from './worker-api.js';

const totals = (o: Partial<WorkerTotals>): WorkerTotals => ({
  ...zeroCounters(),
  documentsIneligible: 0,
  ...o,
});

describe('totals outbox arithmetic', () => {
  test('unacknowledged = counted − acknowledged; the ineligible gauge is never carried', () => {
    const t = totals({
      documentsArchived: 30,
      bundlesUploaded: 3,
      documentsIneligible: 7,
      bytesUploaded: 900,
    });
    const acked = acknowledge(
      zeroCounters(),
      totals({ documentsArchived: 20, bundlesUploaded: 2, bytesUploaded: 600 }),
      t,
    );
    expect(unacknowledged(t, acked)).toEqual({
      ...zeroCounters(),
      documentsArchived: 10,
      bundlesUploaded: 1,
      bytesUploaded: 300,
    });
    expect(carriedTotals(unacknowledged(t, acked)).documentsIneligible).toBe(0);
  });

  test('acknowledgements never go back (out of order) nor past what was counted', () => {
    const t = totals({ documentsDeleted: 50 });
    let acked = acknowledge(zeroCounters(), totals({ documentsDeleted: 40 }), t);
    acked = acknowledge(acked, totals({ documentsDeleted: 30 }), t); // an older write acknowledged late
    expect(acked.documentsDeleted).toBe(40);
    acked = acknowledge(acked, totals({ documentsDeleted: 80 }), t); // more than counted: capped
    expect(acked.documentsDeleted).toBe(50);
    expect(unacknowledged(t, acked).documentsDeleted).toBe(0);
  });

  test('status + restarted worker = exact: a crash after writes of 20 and before the write of 30', () => {
    // Run 1 counts 30, the operator wrote (and acknowledged) 20, then kill -9.
    const run1 = totals({ documentsArchived: 30 });
    const acked = acknowledge(zeroCounters(), totals({ documentsArchived: 20 }), run1);
    const journal = unacknowledged(run1, acked);
    // Run 2 starts with the remainder and archives 5 more; the status said 20.
    const run2 = carriedTotals(journal);
    run2.documentsArchived += 5;
    expect(20 + run2.documentsArchived).toBe(35);
  });

  test('a damaged or absent journal field carries nothing', () => {
    expect(carriedTotals(undefined)).toEqual(totals({}));
    expect(carriedTotals({ documentsArchived: -3, bytesUploaded: Number.NaN }).documentsArchived).toBe(0);
  });
});

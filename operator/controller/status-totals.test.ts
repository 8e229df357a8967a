import { zeroCounters } from '../archiver/counters.js';
import { mergeTotals } from './status-totals.js';

const src = (journal: string, archived: number) => ({
  journal,
  lifetime: { ...zeroCounters(), documentsArchived: archived },
});

describe('mergeTotals', () => {
  test('adds what a journal counted beyond its checkpoint, once; the writing worker goes first', () => {
    const a1 = mergeTotals({ totals: { documentsArchived: 100 } }, src('a', 5), undefined);
    expect(a1.totals.documentsArchived).toBe(105);
    expect(mergeTotals(a1, src('a', 5), undefined)).toEqual(a1);
    const b1 = mergeTotals(a1, src('b', 3), 7);
    expect(b1.totals).toMatchObject({ documentsArchived: 108, documentsIneligible: 7 });
    expect(b1.totalsCheckpoints?.map((c) => c.journal)).toEqual(['b', 'a']);
    const a2 = mergeTotals(b1, src('a', 6), undefined);
    expect(a2.totals).toMatchObject({ documentsArchived: 109, documentsIneligible: 7 });
    expect(a2.totalsCheckpoints?.map((c) => c.journal)).toEqual(['a', 'b']);
  });

  test('a report from a journal whose worker stopped never takes the first place', () => {
    const a = mergeTotals(undefined, src('a', 5), undefined);
    const late = mergeTotals(a, src('old', 2), undefined, false);
    expect(late.totals.documentsArchived).toBe(7);
    expect(late.totalsCheckpoints?.map((c) => c.journal)).toEqual(['a', 'old']);
    const again = mergeTotals(late, src('old', 4), undefined, false);
    expect(again.totals.documentsArchived).toBe(9);
    expect(again.totalsCheckpoints?.map((c) => c.journal)).toEqual(['a', 'old']);
    expect(mergeTotals(undefined, src('old', 1), undefined, false).totalsCheckpoints?.[0]?.journal).toBe(
      'old',
    );
  });

  test('keeps at most 32 checkpoints, dropping the oldest', () => {
    let s = mergeTotals(undefined, src('j0', 1), undefined);
    for (let i = 1; i < 40; i++) s = mergeTotals(s, src(`j${i}`, 1), undefined);
    expect(s.totals.documentsArchived).toBe(40);
    expect(s.totalsCheckpoints).toHaveLength(32);
    expect(s.totalsCheckpoints?.[0]?.journal).toBe('j39');
  });
});

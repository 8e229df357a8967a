import { FILTER_MAX_BYTES, filterEjsonBytes, filterOfSize, filterSizeProblem } from './filter.js';

describe('filter size', () => {
  it('builds test filters of an exact size', () => {
    for (const n of [40, 1000, FILTER_MAX_BYTES, FILTER_MAX_BYTES + 1])
      expect(filterEjsonBytes(filterOfSize(n))).toBe(n);
  });

  it('counts canonical Extended JSON bytes, which is what each ledger entry stores', () => {
    // 1 is {"$numberInt":"1"} in canonical form: a list of small numbers costs ~10x its plain JSON.
    expect(filterEjsonBytes({ a: 1 })).toBe('{"a":{"$numberInt":"1"}}'.length);
  });

  it('allows the limit and refuses one byte more, naming the limit and the fix', () => {
    expect(filterSizeProblem(filterOfSize(FILTER_MAX_BYTES))).toBeUndefined();
    const msg = filterSizeProblem(filterOfSize(FILTER_MAX_BYTES + 1));
    expect(msg).toContain(`is ${FILTER_MAX_BYTES + 1} bytes`);
    expect(msg).toContain(`more than the ${FILTER_MAX_BYTES} allowed`);
    expect(msg).toContain('select by a field or a range');
  });
});

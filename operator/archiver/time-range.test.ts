import { bundleKey, parseBundleKey } from '../bundle/keys.js';
import { clampToKeyRange, dateRepresentable, keyDate, KEY_MAX_MS, KEY_MIN_MS } from './time-range.js';

describe('time-range: labels for archive-field values beyond the years 0000-9999', () => {
  test('bounds are the first and last instants of the key format', () => {
    expect(new Date(KEY_MIN_MS).toISOString()).toBe('0000-01-01T00:00:00.000Z');
    expect(new Date(KEY_MAX_MS).toISOString()).toBe('9999-12-31T23:59:59.999Z');
  });

  test.each([-(2 ** 62), -1e300, -8.64e15 - 1, 1e300, 2 ** 62])('%p makes a valid, parseable key', (ms) => {
    const d = keyDate(ms);
    expect(Number.isNaN(d.getTime())).toBe(false);
    const key = bundleKey('p/', {
      archiveFieldMin: d,
      archiveFieldMax: keyDate(Math.max(ms, 0)),
      createdAt: new Date(),
      bundleId: 'abc',
      codec: 'gzip',
    });
    expect(parseBundleKey(key)?.kind).toBe('gochive');
  });

  test('ordinary instants pass unchanged', () => {
    expect(clampToKeyRange(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(dateRepresentable(1_700_000_000_000)).toBe(true);
    expect(dateRepresentable(-(2 ** 62))).toBe(false);
    expect(dateRepresentable(-1e300)).toBe(false);
  });
});

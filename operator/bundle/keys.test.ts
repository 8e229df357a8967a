import {
  bundleKey,
  compactTime,
  keyMayOverlap,
  newBundleId,
  parseBundleKey,
  parseCompactTime,
} from './keys.js';

describe('bundle keys', () => {
  test('10k rapid keys are unique and sort in creation order', () => {
    const base = Date.parse('2024-03-01T00:00:00Z');
    const keys: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      // Same archive-field range and the same millisecond for many keys: only the id separates them.
      const t = new Date(base + Math.floor(i / 100));
      keys.push(
        bundleKey('pre/fix/', {
          archiveFieldMin: t,
          archiveFieldMax: t,
          createdAt: t,
          bundleId: newBundleId(),
          codec: 'gzip',
        }),
      );
    }
    expect(new Set(keys).size).toBe(keys.length);
    const sorted = [...keys].sort();
    // Time order is preserved across milliseconds (ties within one millisecond are in random id order).
    const times = sorted.map((k) => parseBundleKey(k)!.createdAt.getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
  });

  test('round trip through parseBundleKey', () => {
    const parts = {
      archiveFieldMin: new Date('2023-12-31T23:59:59.999Z'),
      archiveFieldMax: new Date('2024-01-05T10:00:00.000Z'),
      createdAt: new Date('2024-04-05T10:00:00.123Z'),
      bundleId: newBundleId(),
      codec: 'none' as const,
    };
    const key = bundleKey('a/', parts);
    expect(key).toMatch(
      /^a\/2023\/12\/31\/20231231T235959999Z_20240105T100000000Z_20240405T100000123Z_[0-9a-z]{13}\.tar$/,
    );
    expect(parseBundleKey(key)).toEqual({ kind: 'gochive', key, prefix: 'a/', ...parts });
    expect(parseBundleKey('a/notes.txt')).toBeUndefined();
    expect(parseCompactTime(compactTime(parts.createdAt))).toEqual(parts.createdAt);
  });

  test('original keys and time-range filtering', () => {
    const legacy = parseBundleKey('incubator/log/archive_20240102_030405.tar.gz');
    expect(legacy).toEqual({
      kind: 'legacy',
      key: 'incubator/log/archive_20240102_030405.tar.gz',
      prefix: 'incubator/log/',
      createdAt: new Date('2024-01-02T03:04:05Z'),
      codec: 'gzip',
    });
    const k = parseBundleKey(
      bundleKey('', {
        archiveFieldMin: new Date('2024-01-10T00:00:00Z'),
        archiveFieldMax: new Date('2024-01-20T00:00:00Z'),
        createdAt: new Date(),
        bundleId: 'x1',
        codec: 'gzip',
      }),
    )!;
    expect(keyMayOverlap(k, new Date('2024-01-15T00:00:00Z'), new Date('2024-02-01T00:00:00Z'))).toBe(true);
    expect(keyMayOverlap(k, new Date('2024-01-21T00:00:00Z'))).toBe(false);
    expect(keyMayOverlap(k, undefined, new Date('2024-01-10T00:00:00Z'))).toBe(false);
    expect(keyMayOverlap(legacy!, new Date('2024-01-03T00:00:00Z'))).toBe(false);
  });
});

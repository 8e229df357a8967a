import { DURATION_PATTERN, durationSeconds, formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['92d', 92 * 86_400_000],
    ['1d', 86_400_000],
    ['36h', 36 * 3_600_000],
    ['90m', 90 * 60_000],
    ['45s', 45_000],
    ['1w', 7 * 86_400_000],
    ['1w2d', 9 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['1h30m15s', 5_415_000],
    ['2w3d4h5m6s', ((14 + 3) * 86_400 + 4 * 3600 + 5 * 60 + 6) * 1000],
    [9, 9000],
    [65, 65_000],
    ['65', 65_000],
    [' 92d ', 92 * 86_400_000],
  ])('%j -> %d ms', (input, ms) => {
    expect(parseDuration(input, 'ageLimit')).toBe(ms);
  });

  it('rejects a bad unit with a message naming the field and the accepted forms', () => {
    expect(() => parseDuration('92x', 'ageLimit')).toThrow(
      'ageLimit: "92x" is not a duration; use e.g. 92d, 36h, 1w2d or seconds as an integer',
    );
  });

  it.each([
    ['', 'is not a duration'],
    ['d', 'is not a duration'],
    ['1.5h', 'is not a duration'],
    ['-5', 'is not a duration'],
    ['1d1w', 'is not a duration'], // components must be in w, d, h, m, s order
    ['1h1h', 'is not a duration'],
    ['500ms', 'is not a duration'], // sub-second units are deliberately not accepted
    ['1 d', 'is not a duration'],
    ['0', 'must be greater than zero'],
    ['0d0h', 'must be greater than zero'],
    [0, 'must be greater than zero'],
    [-3, 'must be greater than zero'],
    [1.5, 'is not a whole number of seconds'],
    ['99999w', 'longer than 100 years'],
    [null, 'expected a duration'],
    [undefined, 'is required'],
    [{}, 'expected a duration'],
    [true, 'expected a duration'],
  ])('rejects %j (%s)', (input, fragment) => {
    expect(() => parseDuration(input, 's3.uploadInterval')).toThrow(fragment);
    expect(() => parseDuration(input, 's3.uploadInterval')).toThrow(/^s3\.uploadInterval: /);
  });

  it('durationSeconds never throws and reports seconds', () => {
    expect(durationSeconds('1w2d', 'x')).toEqual({ seconds: 9 * 86_400 });
    expect(durationSeconds('zz', 'x')).toHaveProperty('error');
  });
});

describe('DURATION_PATTERN', () => {
  const re = new RegExp(DURATION_PATTERN);
  it('matches exactly the accepted string forms (plus the empty string, excluded by minLength)', () => {
    for (const ok of ['92d', '9', '1w2d', '1d12h', '36h', '90s', '1w1d1h1m1s', ''])
      expect(re.test(ok)).toBe(true);
    for (const bad of ['92x', '1d1w', '1.5h', '-1', '1 d', '500ms', 'h', '1d '])
      expect(re.test(bad)).toBe(false);
  });
});

describe('formatDuration', () => {
  it('renders the canonical form', () => {
    expect(formatDuration(92 * 86_400_000)).toBe('13w1d');
    expect(formatDuration(36 * 3_600_000)).toBe('1d12h');
    expect(formatDuration(65_000)).toBe('1m5s');
    expect(formatDuration(0)).toBe('0s');
  });
  it('round-trips through parseDuration', () => {
    for (const ms of [1000, 65_000, 3_600_000, 7_948_800_000, 1_234_567_000])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});

import { parseBytes } from './quantity.js';

describe('parseBytes', () => {
  it.each([
    [1, 1],
    ['1024', 1024],
    ['512Mi', 512 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['2Ti', 2 * 2 ** 40],
    ['4Ki', 4096],
    ['500M', 500e6],
    ['2G', 2e9],
    ['3k', 3000],
  ])('%j -> %d', (input, bytes) => expect(parseBytes(input, 'spool.maxBytes')).toBe(bytes));

  it.each(['0', 0, -1, '1.5Gi', '512MB', '512mi', 'Gi', '01Gi', 1.5, null, '9999999999Ti'])(
    'rejects %j naming the field',
    (input) => {
      expect(() => parseBytes(input, 'spool.maxBytes')).toThrow(/^spool\.maxBytes: /);
    },
  );
});

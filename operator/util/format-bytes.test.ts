import { formatBytes } from './format-bytes.js';

describe('formatBytes', () => {
  test('1024-based units are labelled KiB/MiB/GiB', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 2)).toBe('3.0 MiB');
    expect(formatBytes(2 * 1024 ** 3)).toBe('2.0 GiB');
    expect(formatBytes(5 * 1024 ** 5)).toBe('5120.0 TiB');
  });
});

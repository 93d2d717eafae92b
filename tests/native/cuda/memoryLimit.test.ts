// SKP_CUDA_MEMORY_LIMIT's sizes: what a user may write, and a clear error for anything else.
import { describe, expect, it } from 'vitest';
import { parseMemoryLimit } from '../../../native/cuda/memoryLimit.js';

describe('SKP_CUDA_MEMORY_LIMIT', () => {
  it('reads binary and decimal units, any case, with or without a space', () => {
    expect(parseMemoryLimit('8GiB')).toBe(8 * 2 ** 30);
    expect(parseMemoryLimit('7.5 GiB')).toBe(7.5 * 2 ** 30);
    expect(parseMemoryLimit('12gb')).toBe(12e9);
    expect(parseMemoryLimit('8192MiB')).toBe(8 * 2 ** 30);
    expect(parseMemoryLimit('1073741824')).toBe(2 ** 30);
  });

  it('refuses what is not a size, naming the setting and the value', () => {
    for (const bad of ['', 'eight', '8 TiB', '-8GiB', '8 GiB extra', '100KiB']) {
      expect(() => parseMemoryLimit(bad)).toThrow(`SKP_CUDA_MEMORY_LIMIT must be a size of at least 1 MiB`);
    }
  });
});

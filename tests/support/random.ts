// Seeded random numbers so graph tests are reproducible run to run.

/** mulberry32: a tiny, well-mixed 32-bit generator; returns uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [lo, hi). */
export function uniform(rand: () => number, n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

/** `n` uniform values that are exact float32 numbers, for graph constants read back in float64. */
export function uniform32(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from(uniform(rand, n, lo, hi));
}

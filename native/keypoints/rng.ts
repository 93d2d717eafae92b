// Seeded random numbers that are the same on every run and platform: xoshiro128**
// on 32-bit integer arithmetic (Math.imul), seeded through splitmix32. Training
// draws its noise, warps and image order from here, so a resumed run repeats the
// exact draws of an uninterrupted one.

const U32 = 0x1_0000_0000;

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** 32-bit FNV-1a of a stream name, so named streams never share a sequence by accident. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** Everything a generator needs to continue where it stood (for checkpoints). */
export interface RandomState {
  words: [number, number, number, number];
  spareNormal: number | null;
}

export class Random {
  private readonly s = new Uint32Array(4);
  /** Box–Muller yields normals in pairs; the second waits here. */
  private spareNormal: number | null = null;

  /**
   * @param seed a non-negative safe integer (the run's seed)
   * @param stream independent sequences of one seed: a name ('noise', 'warp') and/or counters (iteration)
   */
  constructor(seed: number, ...stream: Array<string | number>) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`Random: seed must be a non-negative safe integer, got ${seed}`);
    const mix = { s: (seed % U32) ^ Math.imul(Math.floor(seed / U32), 0x27d4eb2d) };
    for (const part of stream) {
      if (typeof part === 'number' && (!Number.isSafeInteger(part) || part < 0)) {
        throw new RangeError(`Random: stream counter must be a non-negative safe integer, got ${part}`);
      }
      const word =
        typeof part === 'string' ? hashName(part) : (part % U32) ^ Math.imul(Math.floor(part / U32), 0x165667b1);
      mix.s = splitmix32({ s: mix.s ^ word });
    }
    for (let i = 0; i < 4; i++) this.s[i] = splitmix32(mix);
    // xoshiro's state must not be all zero.
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  snapshot(): RandomState {
    const [a, b, c, d] = this.s;
    return { words: [a!, b!, c!, d!], spareNormal: this.spareNormal };
  }

  static restore(state: RandomState): Random {
    if (state.words.every((w) => w === 0))
      throw new RangeError('Random.restore: an all-zero state is not a valid xoshiro128** state');
    const r = new Random(0);
    state.words.forEach((w, i) => {
      if (!Number.isInteger(w) || w < 0 || w >= U32)
        throw new RangeError(`Random.restore: word ${i} is not a 32-bit unsigned integer: ${w}`);
      r.s[i] = w;
    });
    r.spareNormal = state.spareNormal;
    return r;
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniformIn(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Integer in 0..n−1 without modulo bias. */
  integer(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > U32)
      throw new RangeError(`Random.integer: n must be in 1..2^32, got ${n}`);
    const limit = U32 - (U32 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    // 1 − u lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const angle = 2 * Math.PI * this.uniform();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /** Uniforms in [0, 1) with 24 random bits each: exact in float32, so never rounded up to 1. */
  uniforms(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.nextUint32() >>> 8) / 16777216;
    return out;
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  }
}

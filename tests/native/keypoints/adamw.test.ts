import { describe, expect, it } from 'vitest';
import { AdamW, GradientAccumulator } from '../../../native/keypoints/adamw.js';
import { Random } from '../../../native/keypoints/rng.js';

/** The textbook AdamW (Loshchilov & Hutter, PyTorch's formulation) in float64. */
function textbookAdamW(p0: number[], grads: number[][], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8) {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, t) => {
    const step = t + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! * (1 - lr * wd);
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      const mHat = m[i]! / (1 - b1 ** step);
      const vHat = v[i]! / (1 - b2 ** step);
      p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  });
  return p;
}

/** The element loop as adamw.ts had it in JavaScript: Math.fround after each float64 operation. */
function froundAdamW(p: Float32Array, grads: Float32Array[], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8) {
  const f = Math.fround;
  const m = new Float32Array(p.length);
  const v = new Float32Array(p.length);
  grads.forEach((grad, t) => {
    const step = t + 1;
    const decay = f(1 - lr * wd);
    const stepSize = f(-(lr / (1 - b1 ** step)));
    const correction2Sqrt = f(Math.sqrt(1 - b2 ** step));
    for (let i = 0; i < p.length; i++) {
      const g = grad[i]!;
      const q = wd !== 0 ? f(p[i]! * decay) : p[i]!;
      m[i] = f(m[i]! + f(f(1 - b1) * f(g - m[i]!)));
      v[i] = f(f(v[i]! * f(b2)) + f(f(f(1 - b2) * g) * g));
      const denom = f(f(f(Math.sqrt(v[i]!)) / correction2Sqrt) + f(eps));
      p[i] = f(q + f(f(stepSize * m[i]!) / denom));
    }
  });
  return { p, m, v };
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('AdamW', () => {
  it('rounds every operation as the float32 loop does, bit for bit, at any size', () => {
    const rng = new Random(8);
    for (const [n, wd] of [
      [1, 0.01],
      [7, 0],
      [1024, 1e-4],
      [1003, 0.3],
    ] as const) {
      // Gradients over many magnitudes, exact zeros and negative zeros among them.
      const grads = Array.from({ length: 12 }, (_, t) =>
        rng.normals(n).map((g, i) => (i % 97 === 5 ? (t % 2 ? -0 : 0) : g * 10 ** ((i % 9) - 6))),
      );
      const p0 = rng.normals(n);
      const want = froundAdamW(Float32Array.from(p0), grads, 0.005, wd);
      const opt = new AdamW(n, { lr: 0.005, weightDecay: wd });
      const p = Float32Array.from(p0);
      for (const g of grads) opt.step(p, g);
      expect(bits(p)).toEqual(bits(want.p));
      // Parameters kept in the optimiser's own memory are stepped in place, to the same bits.
      const inPlace = new AdamW(n, { lr: 0.005, weightDecay: wd });
      inPlace.params.set(p0);
      for (const g of grads) inPlace.step(inPlace.params, g);
      expect(bits(inPlace.params)).toEqual(bits(want.p));
      // The moments too, through the checkpoint bytes.
      const state = new DataView(opt.toBytes().buffer);
      const m = Float32Array.from({ length: n }, (_, i) => state.getFloat32(16 + 4 * i, true));
      const v = Float32Array.from({ length: n }, (_, i) => state.getFloat32(16 + 4 * (n + i), true));
      expect(bits(m)).toEqual(bits(want.m));
      expect(bits(v)).toEqual(bits(want.v));
    }
  });

  it('takes the hand-computed first two steps', () => {
    const opt = new AdamW(1, { lr: 0.1, weightDecay: 0.01 });
    const p = Float32Array.from([1]);
    // Step 1: decay 1 → 0.999; m̂ = 0.5, v̂ = 0.25, so the update is lr·m̂/√v̂ = 0.1.
    opt.step(p, Float32Array.from([0.5]));
    expect(p[0]).toBeCloseTo(0.899, 6);
    // Step 2 (g = −1): p = 0.899·0.999 + 0.1/0.19 · 0.055 / (√(0.00124975/0.001999) + 1e-8).
    opt.step(p, Float32Array.from([-1]));
    const expected = 0.899 * 0.999 + ((0.1 / 0.19) * 0.055) / (Math.sqrt(0.00124975 / 0.001999) + 1e-8);
    expect(p[0]).toBeCloseTo(expected, 6);
    expect(opt.stepCount).toBe(2);
  });

  it('follows the textbook algorithm over many steps (float32 rounding only)', () => {
    const rng = new Random(11);
    const n = 64;
    const p0 = Array.from(rng.normals(n));
    const grads = Array.from({ length: 30 }, () => Array.from(rng.normals(n)).map((g) => g * 1e-3));
    const opt = new AdamW(n, { lr: 0.005, weightDecay: 1e-4 });
    const p = Float32Array.from(p0);
    for (const g of grads) opt.step(p, Float32Array.from(g));
    const want = textbookAdamW(p0, grads, 0.005, 1e-4);
    // 30 float32 roundings of values near 1 stay far below one step (lr = 5e-3).
    p.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(5e-6));
    // Tokens did move: about lr per step.
    expect(Math.abs(p[0]! - p0[0]!)).toBeGreaterThan(0.005);
  });

  it('decays weights even where the gradient is zero, and not at all without weight decay', () => {
    const withDecay = new AdamW(1, { lr: 0.5, weightDecay: 0.1 });
    const p = Float32Array.from([2]);
    withDecay.step(p, Float32Array.from([0]));
    expect(p[0]).toBeCloseTo(2 * (1 - 0.05), 6);
    const noDecay = new AdamW(1, { lr: 0.5, weightDecay: 0 });
    const q = Float32Array.from([2]);
    noDecay.step(q, Float32Array.from([0]));
    expect(q[0]).toBe(2);
  });

  it('resumes from its serialised state exactly as if never interrupted', () => {
    const rng = new Random(4);
    const n = 10;
    const grads = Array.from({ length: 6 }, () => rng.normals(n));
    const opts = { lr: 0.005, weightDecay: 1e-4 };
    const straight = new AdamW(n, opts);
    const p = rng.normals(n);
    const q = Float32Array.from(p);
    grads.forEach((g) => straight.step(p, g));
    let first = new AdamW(n, opts);
    grads.slice(0, 3).forEach((g) => first.step(q, g));
    const bytes = first.toBytes();
    // Read back from an odd offset, as a blob may sit in a database page.
    const blob = new Uint8Array(bytes.length + 3);
    blob.set(bytes, 3);
    first = AdamW.fromBytes(blob.subarray(3), n, opts);
    expect(first.stepCount).toBe(3);
    grads.slice(3).forEach((g) => first.step(q, g));
    expect(Array.from(q)).toEqual(Array.from(p));
  });

  it('refuses a state of the wrong size or kind, saying why', () => {
    const bytes = new AdamW(4, { lr: 1 }).toBytes();
    expect(() => AdamW.fromBytes(bytes, 5, { lr: 1 })).toThrow(/holds 4 values but the tokens have 5/);
    expect(() => AdamW.fromBytes(bytes.subarray(0, 20), 4, { lr: 1 })).toThrow(/bytes, expected/);
    expect(() => AdamW.fromBytes(new Uint8Array(48), 4, { lr: 1 })).toThrow(/magic/);
    expect(() => new AdamW(4, { lr: 0.1, betas: [1, 0.999] })).toThrow(/beta1/);
  });
});

describe('GradientAccumulator', () => {
  it('assigns the first gradient (a batch of one is that gradient, −0 kept) and starts each batch empty', () => {
    const one = new GradientAccumulator(3, 1);
    one.add(Float32Array.from([-0, 1.5, -2]));
    const first = one.take();
    expect(Object.is(first[0], -0)).toBe(true);
    expect(Array.from(first)).toEqual([-0, 1.5, -2]);
    one.add(Float32Array.from([4, 5, 6]));
    expect(Array.from(one.take())).toEqual([4, 5, 6]);
    // Arrays handed out earlier are reused: nothing of an earlier batch may remain in a sum.
    const two = new GradientAccumulator(2, 2);
    for (const [a, b, want] of [
      [
        [1, 1],
        [3, -1],
        [2, 0],
      ],
      [
        [2, 2],
        [2, 2],
        [2, 2],
      ],
      [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
    ]) {
      two.add(Float32Array.from(a!));
      two.add(Float32Array.from(b!));
      expect(Array.from(two.take())).toEqual(want);
    }
  });

  it('sums the per-iteration gradients, each divided by the batch size', () => {
    const acc = new GradientAccumulator(2, 4);
    acc.add(Float32Array.from([1, 2]));
    acc.add(Float32Array.from([3, -2]));
    acc.add(Float32Array.from([0, 8]));
    expect(acc.full).toBe(false);
    acc.add(Float32Array.from([4, 0]));
    expect(acc.full).toBe(true);
    expect(() => acc.add(Float32Array.from([1, 1]))).toThrow(/take/);
    expect(Array.from(acc.take())).toEqual([2, 2]);
    expect(acc.count).toBe(0);
    acc.add(Float32Array.from([4, 4]));
    expect(Array.from(acc.take())).toEqual([1, 1]);
  });
});

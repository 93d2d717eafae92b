import { describe, expect, it } from 'vitest';
import { grad } from '../../../native/graph/autodiff.js';
import { evaluate } from '../../../native/graph/interpret.js';
import { Graph } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { cubicResizeMatrix, linearResizeMatrix, resize2d, resizeTokens } from '../../../native/graph/resize.js';
import { seededRandom } from '../../support/random.js';

/** Applies separable [out,in] matrices to a row-major h×w image. */
function apply2d(img: number[], h: number, w: number, mh: Float32Array, mw: Float32Array, oh: number, ow: number) {
  const out: number[] = [];
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) s += mh[y * h + i]! * mw[x * w + j]! * img[i * w + j]!;
      out.push(s);
    }
  }
  return out;
}

const rows = (m: Float32Array, cols: number) =>
  Array.from({ length: m.length / cols }, (_, r) => Array.from(m.subarray(r * cols, (r + 1) * cols)));

describe('cubicResizeMatrix (PyTorch bicubic, align_corners=False)', () => {
  it('reproduces F.interpolate([[1,2],[3,4]], scale 2, bicubic)', () => {
    // Derived by hand from the Keys weights; PyTorch prints the first rows as
    // [0.6836, 1.0156, 1.5625, 1.8945], [1.3477, 1.6797, 2.2266, 2.5586]. The
    // output is point-symmetric (x ↦ 5 − x under a half turn), as the input is.
    const expected = [
      [0.68359375, 1.015625, 1.5625, 1.89453125],
      [1.34765625, 1.6796875, 2.2265625, 2.55859375],
      [2.44140625, 2.7734375, 3.3203125, 3.65234375],
      [3.10546875, 3.4375, 3.984375, 4.31640625],
    ].flat();
    const m = cubicResizeMatrix(2, 4);
    expect(apply2d([1, 2, 3, 4], 2, 2, m, m, 4, 4)).toEqual(expected);
  });

  it('has the hand-derived weights of the 2 → 4 upsampling, border taps folded into the edge', () => {
    // t = 0.75 at dst 0: Keys weights (-0.03515625, 0.26171875, 0.87890625, -0.10546875) on taps -2..1.
    expect(rows(cubicResizeMatrix(2, 4), 2)[0]).toEqual([1.10546875, -0.10546875]);
    expect(rows(cubicResizeMatrix(2, 4), 2)[1]).toEqual([0.7734375, 0.2265625]);
  });

  it('downsamples 4 → 2 with the same clamped taps (no antialias)', () => {
    // t = 0.5: weights (-0.09375, 0.59375, 0.59375, -0.09375) on taps -1..2 and 1..4.
    expect(rows(cubicResizeMatrix(4, 2), 4)).toEqual([
      [0.5, 0.59375, -0.09375, 0],
      [0, -0.09375, 0.59375, 0.5],
    ]);
  });

  it('is the identity when sizes match, and every row sums to 1', () => {
    const id = cubicResizeMatrix(5, 5);
    expect(rows(id, 5)).toEqual(
      rows(
        Float32Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)),
        5,
      ),
    );
    for (const [a, b] of [
      [16, 128],
      [128, 16],
      [7, 3],
      [3, 11],
    ] as const) {
      for (const r of rows(cubicResizeMatrix(a, b), a)) expect(r.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    }
  });

  it('places an interior row on taps floor−1..floor+2 around the half-pixel source coordinate', () => {
    // 16 → 40, dst 20: source 20.5·0.4 − 0.5 = 7.7, floor 7, taps 6..9 with t = 0.7.
    const row = rows(cubicResizeMatrix(16, 40), 16)[20]!;
    const nonzero = row.flatMap((w, i) => (w !== 0 ? [i] : []));
    expect(nonzero).toEqual([6, 7, 8, 9]);
    const t = 0.7;
    const near = (x: number) => (1.25 * x - 2.25) * x * x + 1;
    const far = (x: number) => ((-0.75 * x + 3.75) * x - 6) * x + 3;
    expect(row.slice(6, 10).map((w) => Number(w.toFixed(6)))).toEqual(
      [far(t + 1), near(t), near(1 - t), far(2 - t)].map((w) => Number(Math.fround(w).toFixed(6))),
    );
  });

  it('rejects sizes that are not positive integers', () => {
    expect(() => cubicResizeMatrix(0, 4)).toThrow(/inSize/);
    expect(() => linearResizeMatrix(4, 2.5)).toThrow(/outSize/);
  });
});

describe('linearResizeMatrix (PyTorch bilinear, align_corners=False)', () => {
  it('reproduces F.interpolate([[1,2],[3,4]], scale 2, bilinear)', () => {
    const expected = [
      [1.0, 1.25, 1.75, 2.0],
      [1.5, 1.75, 2.25, 2.5],
      [2.5, 2.75, 3.25, 3.5],
      [3.0, 3.25, 3.75, 4.0],
    ].flat();
    const m = linearResizeMatrix(2, 4);
    expect(apply2d([1, 2, 3, 4], 2, 2, m, m, 4, 4)).toEqual(expected);
  });

  it('clamps the source coordinate at 0 and the upper index at the last pixel', () => {
    expect(rows(linearResizeMatrix(2, 4), 2)).toEqual([
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0, 1],
    ]);
    expect(rows(linearResizeMatrix(4, 2), 4)).toEqual([
      [0.5, 0.5, 0, 0],
      [0, 0, 0.5, 0.5],
    ]);
  });

  it('is the identity when sizes match and rows sum to 1', () => {
    expect(rows(linearResizeMatrix(3, 3), 3)).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    for (const r of rows(linearResizeMatrix(32, 128), 32)) expect(r.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
  });
});

describe('resizeTokens (an image with its channels last)', () => {
  it('gives what resize2d gives the same image in channel-first layout, both ways, gradient too', () => {
    const rand = seededRandom(3);
    for (const [h, w, outH, outW] of [
      [3, 5, 7, 4],
      [6, 4, 2, 3],
    ] as const) {
      const g = new Graph();
      const x = g.input('x', [2, h * w, 3]);
      const image = o.transpose(o.reshape(x, [2, h, w, 3]), [0, 3, 1, 2]);
      const viaImage = o.reshape(o.transpose(resize2d(image, outH, outW, 'bicubic'), [0, 2, 3, 1]), [
        2,
        outH * outW,
        3,
      ]);
      const direct = resizeTokens(x, h, w, outH, outW, 'bicubic');
      const weights = g.input('weights', [2, outH * outW, 3]);
      const [viaGrad] = grad(o.reshape(o.sum(o.mul(viaImage, weights), [0, 1, 2]), [1]), [x]);
      const [directGrad] = grad(o.reshape(o.sum(o.mul(direct, weights), [0, 1, 2]), [1]), [x]);
      const feed = (n: number) => Float64Array.from({ length: n }, () => rand() * 2 - 1);
      const [a, b, ga, gb] = evaluate([viaImage, direct, viaGrad!, directGrad!], {
        x: feed(2 * h * w * 3),
        weights: feed(2 * outH * outW * 3),
      });
      for (const [want, got] of [
        [a!, b!],
        [ga!, gb!],
      ]) {
        const d = Array.from(want!.data as Float64Array).map((v, i) => Math.abs(v - (got!.data as Float64Array)[i]!));
        expect(Math.max(...d)).toBeLessThan(1e-12);
      }
    }
  });

  it('names what it expects when the tokens are not h·w', () => {
    const x = new Graph().input('x', [1, 10, 3]);
    expect(() => resizeTokens(x, 3, 4, 6, 8, 'bilinear')).toThrow(
      'resizeTokens: tokens [B, 3·4, C] expected, got shape [1,10,3]',
    );
  });
});

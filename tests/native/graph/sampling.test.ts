import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { evaluate } from '../../../native/graph/interpret.js';
import { grad } from '../../../native/graph/autodiff.js';
import { resize2d } from '../../../native/graph/resize.js';
import {
  affineGrid,
  gridSampleBilinear,
  inverseWarp,
  invertTheta,
  pixelCentres,
  warp,
} from '../../../native/graph/sampling.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { maxAbsError } from '../../../native/parity/compare.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { goldenCaseDir } from '../../golden/paths.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'skp-sampling-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const values = (t: Parameters<typeof evaluate>[0][number], feeds: Parameters<typeof evaluate>[1]) =>
  Array.from(evaluate([t], feeds)[0]!.data as Float64Array);

/** A smooth test image [1, c, h, w]. */
function smoothImage(c: number, h: number, w: number): Float64Array {
  const x = new Float64Array(c * h * w);
  for (let k = 0; k < c; k++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) x[(k * h + i) * w + j] = Math.sin(0.3 * i + 0.2 * j + k) + 0.1 * k;
  return x;
}

describe('affineGrid', () => {
  it('puts the identity grid on pixel centres (align_corners=False)', () => {
    expect(Array.from(pixelCentres(4))).toEqual([-0.75, -0.25, 0.25, 0.75]);
    const g = new Graph();
    const grid = affineGrid(g.input('theta', [2, 3]), 2, 4);
    expect(grid.shape).toEqual([1, 2, 4, 2]);
    const got = values(grid, { theta: Float64Array.from([1, 0, 0, 0, 1, 0]) });
    expect(got).toEqual([
      -0.75, -0.5, -0.25, -0.5, 0.25, -0.5, 0.75, -0.5, -0.75, 0.5, -0.25, 0.5, 0.25, 0.5, 0.75, 0.5,
    ]);
  });

  it('applies θ to (x, y, 1) of every output position', () => {
    const g = new Graph();
    const grid = affineGrid(g.input('theta', [1, 2, 3]), 1, 2);
    // θ = [[0, 2, 0.5], [1, 0, -1]]: (x, y) = (-0.5, 0) → (0.5, -1.5); (0.5, 0) → (0.5, -0.5).
    expect(values(grid, { theta: Float64Array.from([0, 2, 0.5, 1, 0, -1]) })).toEqual([0.5, -1.5, 0.5, -0.5]);
  });
});

describe('gridSampleBilinear / warp', () => {
  it('returns the image itself for the identity θ', () => {
    const g = new Graph();
    const x = g.input('x', [1, 2, 5, 4]);
    const img = smoothImage(2, 5, 4);
    const got = values(warp(x, g.input('theta', [2, 3])), { x: img, theta: Float64Array.from([1, 0, 0, 0, 1, 0]) });
    got.forEach((v, i) => expect(v).toBeCloseTo(img[i]!, 6));
  });

  it('shifts by whole pixels and reads zeros outside the image', () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 2, 4]);
    // tx = 2/W moves the sampling point one pixel right: out[j] = in[j + 1], the last column falls outside.
    const got = values(warp(x, g.input('theta', [2, 3])), {
      x: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
      theta: Float64Array.from([1, 0, 0.5, 0, 1, 0]),
    });
    expect(got).toEqual([2, 3, 4, 0, 6, 7, 8, 0]);
  });

  it('interpolates bilinearly between the four neighbours, fading to zero at the border', () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 2, 2]);
    const grid = g.input('grid', [1, 1, 3, 2]);
    // Pixel coordinates ((g+1)·2 − 1)/2: (0.5, 0.5) is the centre of the 2×2 image, (−0.5, 0) half outside, (0.75, 0) on the top row.
    const got = values(gridSampleBilinear(x, grid), {
      x: Float64Array.from([1, 2, 3, 4]),
      grid: Float64Array.from([0, 0, -1, -0.5, 0.25, -0.5]),
    });
    expect(got[0]).toBeCloseTo(2.5, 12);
    expect(got[1]).toBeCloseTo(0.5 * 1, 12);
    expect(got[2]).toBeCloseTo(0.25 * 1 + 0.75 * 2, 12);
  });

  it('reproduces the reference warp of golden image 0 (step_transformed_image) within 1e-4', () => {
    const golden = openGoldenCase(goldenCaseDir());
    const images = golden.tensor('images');
    const [, c, h, w] = images.shape as [number, number, number, number];
    const image0 = images.data.subarray(0, c * h * w);
    const theta = golden.tensor('step_theta');
    const expected = golden.tensor('step_transformed_image');
    const g = new Graph();
    const warped = warp(g.input('x', [1, c, h, w]), g.input('theta', [2, 3]));
    const [out] = evaluate([warped], { x: image0, theta: theta.data });
    expect(out!.shape).toEqual(expected.shape);
    expect(maxAbsError(out!.data as Float64Array, expected.data)).toBeLessThanOrEqual(1e-4);
  });

  it('runs on ONNX Runtime (float32) within 1e-4 of the reference warp, gradient included', async () => {
    const golden = openGoldenCase(goldenCaseDir());
    const images = golden.tensor('images');
    const [, c, h, w] = images.shape as [number, number, number, number];
    const g = new Graph();
    const x = g.input('x', [1, c, h, w]);
    const warped = warp(x, g.input('theta', [2, 3]));
    // d(Σ warp(x)²/2)/dx = warpᵀ(warp(x)): exercises the scatter-add path on the backend.
    const [dx] = grad(o.reshape(o.mul(o.sum(o.mul(warped, warped), [0, 1, 2, 3]), 0.5), [1]), [x]);
    const compiled = await new OrtBackend({ cacheDir }).compile([warped, dx!]);
    const feeds = {
      x: { dtype: 'float32' as const, shape: [1, c, h, w], data: images.data.slice(0, c * h * w) },
      theta: { dtype: 'float32' as const, shape: [2, 3], data: golden.tensor('step_theta').data },
    };
    const [out, gradient] = await compiled.run(feeds);
    await compiled.release();
    expect(maxAbsError(out!.data as Float32Array, golden.tensor('step_transformed_image').data)).toBeLessThanOrEqual(
      1e-4,
    );
    const [, refGrad] = evaluate([warped, dx!], { x: feeds.x.data, theta: feeds.theta.data });
    expect(maxAbsError(gradient!.data as Float32Array, refGrad!.data as Float64Array)).toBeLessThanOrEqual(1e-4);
  });

  it('has the adjoint of the sampling as its gradient w.r.t. the image (gather → scatter-add)', () => {
    const [c, h, w] = [2, 4, 5];
    const n = c * h * w;
    const theta = Float64Array.from([
      0.9 * Math.cos(0.3),
      0.9 * Math.sin(0.3),
      0.2,
      -0.9 * Math.sin(0.3),
      0.9 * Math.cos(0.3),
      -0.1,
    ]);
    const g = new Graph();
    const x = g.input('x', [1, c, h, w]);
    const weights = g.input('weights', [1, c, h, w]);
    const y = warp(x, g.input('theta', [2, 3]));
    const loss = o.sum(o.mul(y, weights), [0, 1, 2, 3]);
    const [dx] = grad(o.reshape(loss, [1]), [x]);
    const wv = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
    const gotGrad = values(dx!, { x: new Float64Array(n), weights: wv, theta });
    // The warp is linear in x: column k of its matrix is the warp of the k-th unit image.
    const expected = new Array<number>(n).fill(0);
    for (let k = 0; k < n; k++) {
      const unit = new Float64Array(n);
      unit[k] = 1;
      const column = values(y, { x: unit, theta });
      expected[k] = column.reduce((s, v, i) => s + v * wv[i]!, 0);
    }
    gotGrad.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    expect(expected.some((v) => Math.abs(v) > 0.1)).toBe(true);
  });
});

describe('invertTheta / inverseWarp', () => {
  it('inverts θ as a 3×3 affine matrix', () => {
    const g = new Graph();
    const theta = [0.8, -0.3, 0.1, 0.25, 0.9, -0.2];
    const inv = values(invertTheta(g.input('theta', [2, 3])), { theta: Float64Array.from(theta) });
    // θ⁻¹ composed with θ is the identity: [[a,b,c],[d,e,f],[0,0,1]] products.
    const m = (t: number[]) => [t.slice(0, 3), t.slice(3, 6), [0, 0, 1]];
    const [A, B] = [m(inv), m(theta)];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        const s = A[i]!.reduce((acc, _, k) => acc + A[i]![k]! * B[k]![j]!, 0);
        expect(s).toBeCloseTo(i === j ? 1 : 0, 12);
      }
  });

  it('undoes a warp where the warped image kept the content', () => {
    const [h, w] = [24, 24];
    const g = new Graph();
    const x = g.input('x', [1, 1, h, w]);
    const theta = g.input('theta', [2, 3]);
    const back = inverseWarp(warp(x, theta), theta);
    const img = smoothImage(1, h, w);
    // Scale 0.9 zooms in: the warped image holds the central part of x, so the round trip
    // is exact up to interpolation error in the middle.
    const t = Float64Array.from([
      0.9 * Math.cos(0.1),
      0.9 * Math.sin(0.1),
      0.05,
      -0.9 * Math.sin(0.1),
      0.9 * Math.cos(0.1),
      0,
    ]);
    const got = values(back, { x: img, theta: t });
    for (let i = 8; i < 16; i++)
      for (let j = 8; j < 16; j++) expect(Math.abs(got[i * w + j]! - img[i * w + j]!)).toBeLessThan(0.05);
    // Far corners map outside the warped image and read zero.
    expect(got[0]).toBe(0);
  });
});

describe('resize2d', () => {
  it('resizes the last two axes as M_h · x · M_wᵀ', () => {
    const g = new Graph();
    const x = g.input('x', [1, 2, 2]);
    const up = resize2d(x, 4, 4, 'bilinear');
    expect(up.shape).toEqual([1, 4, 4]);
    expect(values(up, { x: Float64Array.from([1, 2, 3, 4]) })).toEqual([
      1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4,
    ]);
    const down = resize2d(g.input('y', [3, 4, 4]), 2, 4, 'bicubic');
    expect(down.shape).toEqual([3, 2, 4]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  coordinateVisibility,
  fitRegressor,
  predict,
  pseudoInverseSymmetric,
  symmetricEigen,
} from '../../../native/keypoints/regressor.js';
import { interOcularError, pck, visibleMeanError } from '../../../native/keypoints/metrics.js';
import { Random } from '../../../native/keypoints/rng.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { goldenCaseDir } from '../../golden/paths.js';

const matmul = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number) => {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * m + j]!;
      out[i * m + j] = s;
    }
  return out;
};

describe('pseudo-inverse', () => {
  it('diagonalises a symmetric matrix', () => {
    const a = [4, 1, 2, 1, 3, 0, 2, 0, 5];
    const { values, vectors } = symmetricEigen(a, 3);
    // A v = λ v for each eigenpair.
    for (let k = 0; k < 3; k++) {
      const v = [0, 1, 2].map((i) => vectors[i * 3 + k]!);
      const av = matmul(a, v, 3, 3, 1);
      av.forEach((x, i) => expect(x).toBeCloseTo(values[k]! * v[i]!, 12));
    }
    expect([...values].reduce((s, x) => s + x, 0)).toBeCloseTo(12, 12);
  });

  it('satisfies the Penrose conditions on a singular matrix', () => {
    // Rank 2 in 3×3: A = B Bᵀ with B 3×2.
    const b = [1, 2, 0, 1, 1, 1];
    const bt = [1, 0, 1, 2, 1, 1];
    const a = matmul(b, bt, 3, 2, 3);
    const p = pseudoInverseSymmetric(a, 3);
    const apa = matmul(matmul(a, p, 3, 3, 3), a, 3, 3, 3);
    const pap = matmul(matmul(p, a, 3, 3, 3), p, 3, 3, 3);
    apa.forEach((v, i) => expect(v).toBeCloseTo(a[i]!, 10));
    pap.forEach((v, i) => expect(v).toBeCloseTo(p[i]!, 10));
  });
});

describe('fitRegressor', () => {
  it('reproduces the reference W on the golden regressor_X / regressor_Y (rank-deficient XᵀX)', () => {
    const golden = openGoldenCase(goldenCaseDir());
    const x = golden.tensor('regressor_X');
    const y = golden.tensor('regressor_Y');
    const w = golden.tensor('regressor_W');
    const [rows, inputs] = x.shape as [number, number];
    const outputs = y.shape[1]!;
    // 12 images, 20 inputs: XᵀX has rank 12, only the pseudo-inverse gives the reference's answer.
    expect(rows).toBeLessThan(inputs);
    const reg = fitRegressor(x.data, y.data, { rows, inputs, outputs });
    const scale = w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    reg.weights.forEach((v, i) => expect(Math.abs(v - w.data[i]!)).toBeLessThan(1e-4 * scale));
  });

  it('recovers an exact linear map and predicts with it', () => {
    const rng = new Random(2);
    const [rows, p, q] = [30, 4, 2];
    const trueW = Float64Array.from(rng.normals(p * q));
    const x = Float64Array.from(rng.uniforms(rows * p));
    const y = predict({ weights: trueW, inputs: p, outputs: q }, x, rows);
    const reg = fitRegressor(x, y, { rows, inputs: p, outputs: q });
    reg.weights.forEach((v, i) => expect(v).toBeCloseTo(trueW[i]!, 9));
  });

  it('fits each output column on its visible rows only', () => {
    const rng = new Random(8);
    const [rows, p] = [20, 3];
    const x = Float64Array.from(rng.uniforms(rows * p));
    const good = { weights: Float64Array.from([1, -1, 0.5, 2, 0, 1]), inputs: p, outputs: 2 };
    const y = predict(good, x, rows);
    // Corrupt column 1 on rows 0..4 and mark those invisible: the fit must ignore them.
    const visible = new Uint8Array(rows * 2).fill(1);
    for (let r = 0; r < 5; r++) {
      y[r * 2 + 1] = 99;
      visible[r * 2 + 1] = 0;
    }
    const reg = fitRegressor(x, y, { rows, inputs: p, outputs: 2 }, visible);
    reg.weights.forEach((v, i) => expect(v).toBeCloseTo(good.weights[i]!, 9));
    expect(Array.from(coordinateVisibility([1, 0, 0, 1], 2, 2))).toEqual([1, 1, 0, 0, 0, 0, 1, 1]);
  });

  it('names the mismatched shape', () => {
    expect(() => fitRegressor([1, 2, 3], [1, 2], { rows: 2, inputs: 2, outputs: 1 })).toThrow(
      /X: 3 values do not fill \[2, 2\]/,
    );
  });
});

describe('metrics', () => {
  const truth = [
    [
      { y: 0.4, x: 0.3, visible: true },
      { y: 0.4, x: 0.7, visible: true },
      { y: 0.8, x: 0.5, visible: false },
    ],
    [
      { y: 0.5, x: 0.2, visible: true },
      { y: 0.5, x: 0.6, visible: true },
      { y: 0.9, x: 0.4, visible: true },
    ],
  ];
  const pred = [
    [
      { y: 0.4, x: 0.34 },
      { y: 0.43, x: 0.7 },
      { y: 0.1, x: 0.1 },
    ],
    [
      { y: 0.5, x: 0.2 },
      { y: 0.5, x: 0.68 },
      { y: 0.9, x: 0.46 },
    ],
  ];

  it('normalises errors by the inter-ocular distance', () => {
    const m = interOcularError(pred, truth, 0, 1);
    // Eyes are 0.4 apart in both images.
    expect(m.perIndex[0]).toBeCloseTo((0.04 / 0.4 + 0) / 2, 12);
    expect(m.perIndex[1]).toBeCloseTo((0.03 / 0.4 + 0.08 / 0.4) / 2, 12);
    expect(m.counted).toEqual([2, 2, 2]);
    expect(() => interOcularError(pred, truth, 0, 3)).toThrow(/rightEye 3/);
  });

  it('averages errors over visible points only', () => {
    const m = visibleMeanError(pred, truth);
    expect(m.counted).toEqual([2, 2, 1]);
    expect(m.perIndex[2]).toBeCloseTo(0.06, 12);
    expect(m.overall).toBeCloseTo((0.04 + 0 + 0.03 + 0.08 + 0.06) / 5, 12);
  });

  it('counts points within alpha of the reference length (PCK)', () => {
    // Image size reference: alpha 0.05 accepts errors up to 0.05.
    const byImage = pck(pred, truth, { alpha: 0.05, reference: 'image' });
    expect(byImage.perIndex).toEqual([1, 0.5, 0]);
    expect(byImage.overall).toBeCloseTo(3 / 5, 12);
    // Bounding boxes: image 0 spans 0.4 (x), image 1 spans 0.4 (both): alpha 0.11 → 0.044.
    const byBox = pck(pred, truth, { alpha: 0.11, reference: 'bbox' });
    expect(byBox.perIndex).toEqual([1, 0.5, 0]);
    expect(() => pck(pred, truth.slice(1), { alpha: 0.1, reference: 'bbox' })).toThrow(/2 predicted images but 1/);
  });
});

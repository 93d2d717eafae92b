// The evaluation's linear regressor from the K discovered points to the L labelled
// ones: W = pinv((X−½)ᵀ(X−½)) (X−½)ᵀ (Y−½), prediction (x−½) W + ½. With 2K inputs and
// few labelled images XᵀX is often singular, so the pseudo-inverse (not an inverse) is
// what makes the fit defined: it picks the minimum-norm solution, as numpy's pinv does.

export interface Regressor {
  /** [inputs, outputs] row-major. */
  weights: Float64Array;
  inputs: number;
  outputs: number;
}

type Values = ArrayLike<number>;

function checkMatrix(what: string, m: ArrayLike<unknown>, rows: number, cols: number): void {
  if (m.length !== rows * cols) throw new RangeError(`${what}: ${m.length} values do not fill [${rows}, ${cols}]`);
}

/**
 * Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations (float64,
 * accurate to rounding relative to the largest eigenvalue).
 */
export function symmetricEigen(a: Values, n: number): { values: Float64Array; vectors: Float64Array } {
  checkMatrix('symmetricEigen', a, n, n);
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const sq = m[i * n + j]! ** 2;
        total += sq;
        if (i !== j) off += sq;
      }
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const app = m[p * n + p]!;
        const aqq = m[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p]!;
          const akq = m[k * n + q]!;
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k]!;
          const aqk = m[q * n + k]!;
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = Float64Array.from({ length: n }, (_, i) => m[i * n + i]!);
  return { values, vectors: v };
}

/**
 * Pseudo-inverse of a symmetric positive semi-definite matrix. Eigenvalues at or below
 * max(1e-15, n·ε)·λmax are rounding noise of a null direction and are dropped: numpy's
 * cutoff (1e-15·σmax), widened to the noise level of an n×n decomposition.
 */
export function pseudoInverseSymmetric(a: Values, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const largest = values.reduce((mx, x) => Math.max(mx, Math.abs(x)), 0);
  const cutoff = Math.max(1e-15, n * Number.EPSILON) * largest;
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const lambda = values[k]!;
    if (Math.abs(lambda) <= cutoff) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k]! / lambda;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += vik * vectors[j * n + k]!;
    }
  }
  return out;
}

/** Least-squares fit of one output column on the given rows. */
function fitColumn(x: Values, y: Values, rows: readonly number[], p: number, q: number, col: number): Float64Array {
  const gram = new Float64Array(p * p);
  const xty = new Float64Array(p);
  for (const r of rows) {
    const yr = y[r * q + col]! - 0.5;
    for (let i = 0; i < p; i++) {
      const xi = x[r * p + i]! - 0.5;
      xty[i]! += xi * yr;
      for (let j = 0; j < p; j++) gram[i * p + j]! += xi * (x[r * p + j]! - 0.5);
    }
  }
  const pinv = pseudoInverseSymmetric(gram, p);
  const w = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += pinv[i * p + j]! * xty[j]!;
    w[i] = s;
  }
  return w;
}

/**
 * Fits W from X [rows, inputs] (discovered points, normalised) to Y [rows, outputs]
 * (labelled points, normalised). With `visible` [rows, outputs] (1 = visible), each
 * output column is fitted on the rows where it is visible.
 */
export function fitRegressor(
  x: Values,
  y: Values,
  shape: { rows: number; inputs: number; outputs: number },
  visible?: ArrayLike<number | boolean>,
): Regressor {
  const { rows, inputs: p, outputs: q } = shape;
  checkMatrix('fitRegressor: X', x, rows, p);
  checkMatrix('fitRegressor: Y', y, rows, q);
  if (visible) checkMatrix('fitRegressor: visibility', visible, rows, q);
  const weights = new Float64Array(p * q);
  const allRows = Array.from({ length: rows }, (_, r) => r);
  const sharedFit = visible ? null : columnsAtOnce(x, y, rows, p, q);
  for (let col = 0; col < q; col++) {
    const w = sharedFit
      ? sharedFit.subarray(col * p, (col + 1) * p)
      : fitColumn(
          x,
          y,
          allRows.filter((r) => Number(visible![r * q + col]) === 1),
          p,
          q,
          col,
        );
    for (let i = 0; i < p; i++) weights[i * q + col] = w[i]!;
  }
  return { weights, inputs: p, outputs: q };
}

/** Without visibility every column shares XᵀX: one pseudo-inverse for all. Returns [outputs, inputs]. */
function columnsAtOnce(x: Values, y: Values, rows: number, p: number, q: number): Float64Array {
  const gram = new Float64Array(p * p);
  const xty = new Float64Array(p * q);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < p; i++) {
      const xi = x[r * p + i]! - 0.5;
      for (let j = 0; j < p; j++) gram[i * p + j]! += xi * (x[r * p + j]! - 0.5);
      for (let c = 0; c < q; c++) xty[i * q + c]! += xi * (y[r * q + c]! - 0.5);
    }
  }
  const pinv = pseudoInverseSymmetric(gram, p);
  const out = new Float64Array(q * p);
  for (let c = 0; c < q; c++)
    for (let i = 0; i < p; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += pinv[i * p + j]! * xty[j * q + c]!;
      out[c * p + i] = s;
    }
  return out;
}

/** (x − ½) W + ½ for each row of x [rows, inputs]. */
export function predict(reg: Regressor, x: Values, rows: number): Float64Array {
  const { inputs: p, outputs: q, weights } = reg;
  checkMatrix('predict: X', x, rows, p);
  const out = new Float64Array(rows * q);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < q; c++) {
      let s = 0.5;
      for (let i = 0; i < p; i++) s += (x[r * p + i]! - 0.5) * weights[i * q + c]!;
      out[r * q + c] = s;
    }
  return out;
}

/** Per-keypoint visibility [rows, L] spread over both coordinates of each point: [rows, 2L]. */
export function coordinateVisibility(perPoint: ArrayLike<number | boolean>, rows: number, points: number): Uint8Array {
  checkMatrix('coordinateVisibility', perPoint, rows, points);
  const out = new Uint8Array(rows * points * 2);
  for (let r = 0; r < rows; r++)
    for (let l = 0; l < points; l++) {
      const v = Number(perPoint[r * points + l]) === 1 ? 1 : 0;
      out[(r * points + l) * 2] = v;
      out[(r * points + l) * 2 + 1] = v;
    }
  return out;
}

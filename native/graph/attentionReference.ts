// Float64 reference kernels of the attention ops (opset.ts): plain loops over one (batch, head)
// at a time. The gradients recompute the probabilities from q and k, as every backend does.
import type { Shape } from './ir.js';

/**
 * q [B, heads, L, d], k [Bk, heads, N, d], v [Bk, heads, N, dv]; Bk is B or 1 (keys and values
 * shared by every batch element).
 */
export interface AttentionDims {
  b: number;
  heads: number;
  l: number;
  n: number;
  d: number;
  dv: number;
  kb: number;
}

/** `values`: v, or any shape whose last axis is as wide as v's (the output or its gradient). */
export const attentionDims = (q: Shape, k: Shape, values?: Shape): AttentionDims => ({
  b: q[0]!,
  heads: q[1]!,
  l: q[2]!,
  n: k[2]!,
  d: q[3]!,
  dv: values ? values[3]! : 0,
  kb: k[0]!,
});

/** Offset of the keys (and values) matrix that batch element `b`, head `h` reads. */
const keyMatrix = (x: AttentionDims, b: number, h: number) => (x.kb === 1 ? h : b * x.heads + h);

/** softmax(q kᵀ·scale) of batch element b, head h: row-major [L, N]. */
function probs(q: Float64Array, k: Float64Array, x: AttentionDims, b: number, h: number, scale: number) {
  const qo = (b * x.heads + h) * x.l * x.d;
  const ko = keyMatrix(x, b, h) * x.n * x.d;
  const p = new Float64Array(x.l * x.n);
  for (let i = 0; i < x.l; i++) {
    const row = p.subarray(i * x.n, (i + 1) * x.n);
    let max = -Infinity;
    for (let j = 0; j < x.n; j++) {
      let s = 0;
      for (let c = 0; c < x.d; c++) s += q[qo + i * x.d + c]! * k[ko + j * x.d + c]!;
      row[j] = s * scale;
      max = Math.max(max, row[j]!);
    }
    let sum = 0;
    for (let j = 0; j < x.n; j++) sum += row[j] = Math.exp(row[j]! - max);
    for (let j = 0; j < x.n; j++) row[j]! /= sum;
  }
  return p;
}

export function attention(q: Float64Array, k: Float64Array, v: Float64Array, x: AttentionDims, scale: number) {
  const out = new Float64Array(x.b * x.heads * x.l * x.dv);
  for (let b = 0; b < x.b; b++)
    for (let h = 0; h < x.heads; h++) {
      const p = probs(q, k, x, b, h, scale);
      const vo = keyMatrix(x, b, h) * x.n * x.dv;
      const oo = (b * x.heads + h) * x.l * x.dv;
      for (let i = 0; i < x.l; i++)
        for (let j = 0; j < x.n; j++) {
          const pij = p[i * x.n + j]!;
          for (let c = 0; c < x.dv; c++) out[oo + i * x.dv + c]! += pij * v[vo + j * x.dv + c]!;
        }
    }
  return out;
}

export function attentionHeadMean(q: Float64Array, k: Float64Array, x: AttentionDims, scale: number) {
  const out = new Float64Array(x.b * x.l * x.n);
  for (let b = 0; b < x.b; b++)
    for (let h = 0; h < x.heads; h++) {
      const p = probs(q, k, x, b, h, scale);
      const at = b * x.l * x.n;
      for (let i = 0; i < p.length; i++) out[at + i]! += p[i]! / x.heads;
    }
  return out;
}

/**
 * The gradient with respect to q or k from the probabilities' gradient dP of each (batch, head):
 * dS = P ⊙ (dP − rowsum(P ⊙ dP)), dq = dS·k·scale, dk = dSᵀ·q·scale (summed over the batch
 * where the keys are shared).
 */
function queryOrKeyGrad(
  q: Float64Array,
  k: Float64Array,
  x: AttentionDims,
  scale: number,
  wrt: 'q' | 'k',
  probsGrad: (b: number, h: number) => Float64Array,
) {
  const out = new Float64Array(wrt === 'q' ? q.length : k.length);
  for (let b = 0; b < x.b; b++)
    for (let h = 0; h < x.heads; h++) {
      const p = probs(q, k, x, b, h, scale);
      const ds = probsGrad(b, h);
      for (let i = 0; i < x.l; i++) {
        let dot = 0;
        for (let j = 0; j < x.n; j++) dot += p[i * x.n + j]! * ds[i * x.n + j]!;
        for (let j = 0; j < x.n; j++) ds[i * x.n + j] = p[i * x.n + j]! * (ds[i * x.n + j]! - dot);
      }
      const qo = (b * x.heads + h) * x.l * x.d;
      const ko = keyMatrix(x, b, h) * x.n * x.d;
      for (let i = 0; i < x.l; i++)
        for (let j = 0; j < x.n; j++) {
          const s = ds[i * x.n + j]! * scale;
          for (let c = 0; c < x.d; c++) {
            if (wrt === 'q') out[qo + i * x.d + c]! += s * k[ko + j * x.d + c]!;
            else out[ko + j * x.d + c]! += s * q[qo + i * x.d + c]!;
          }
        }
    }
  return out;
}

/** Pᵀ·g of each (batch element, head), summed over the batch where the values are shared. */
export function attentionValuesGrad(
  q: Float64Array,
  k: Float64Array,
  g: Float64Array,
  x: AttentionDims,
  scale: number,
) {
  const out = new Float64Array(x.kb * x.heads * x.n * x.dv);
  for (let b = 0; b < x.b; b++)
    for (let h = 0; h < x.heads; h++) {
      const p = probs(q, k, x, b, h, scale);
      const vo = keyMatrix(x, b, h) * x.n * x.dv;
      const go = (b * x.heads + h) * x.l * x.dv;
      for (let i = 0; i < x.l; i++)
        for (let j = 0; j < x.n; j++) {
          const pij = p[i * x.n + j]!;
          for (let c = 0; c < x.dv; c++) out[vo + j * x.dv + c]! += pij * g[go + i * x.dv + c]!;
        }
    }
  return out;
}

/**
 * The gradient of `attention` with respect to q or k: dP = g·vᵀ; with `mapsGrad` (the gradient
 * of `attentionHeadMean` of the same q and k, [B, L, N]) also that op's, dP + mapsGrad / heads.
 */
export function attentionGrad(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  g: Float64Array,
  x: AttentionDims,
  scale: number,
  wrt: 'q' | 'k',
  mapsGrad?: Float64Array,
) {
  const go = (b: number, h: number) => (b * x.heads + h) * x.l * x.dv;
  return queryOrKeyGrad(q, k, x, scale, wrt, (b, h) => {
    const vo = keyMatrix(x, b, h) * x.n * x.dv;
    const dp = new Float64Array(x.l * x.n);
    for (let i = 0; i < x.l; i++)
      for (let j = 0; j < x.n; j++) {
        let s = 0;
        for (let c = 0; c < x.dv; c++) s += g[go(b, h) + i * x.dv + c]! * v[vo + j * x.dv + c]!;
        dp[i * x.n + j] = mapsGrad ? s + mapsGrad[(b * x.l + i) * x.n + j]! / x.heads : s;
      }
    return dp;
  });
}

export function attentionHeadMeanGrad(
  q: Float64Array,
  k: Float64Array,
  g: Float64Array,
  x: AttentionDims,
  scale: number,
  wrt: 'q' | 'k',
) {
  // Every head's probabilities get the maps' gradient divided by the head count.
  return queryOrKeyGrad(q, k, x, scale, wrt, (b) =>
    g.slice(b * x.l * x.n, (b + 1) * x.l * x.n).map((v) => v / x.heads),
  );
}

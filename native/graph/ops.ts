// Builder functions over the IR primitives. Composite layers (group norm, activations) are built
// from primitives so the autodiff table stays small; attention, layer norm and GEGLU are ops of their
// own (attentionOps.ts, normOps.ts, gegluOps.ts), which a backend runs in one pass.
import type { Shape, Tensor, UnaryOp, BinaryOp, ReduceOp, DType } from './ir.js';
import { GraphError, numel, sameShape } from './ir.js';

type Operand = Tensor | number;

const lift = (like: Tensor, x: Operand): Tensor => (typeof x === 'number' ? like.graph.scalar(x) : x);

const unary = (op: UnaryOp) => (x: Tensor) => x.graph.add({ op }, [x]);
const binary = (op: BinaryOp) => (a: Operand, b: Operand) => {
  const like = typeof a === 'number' ? (b as Tensor) : a;
  return like.graph.add({ op }, [lift(like, a), lift(like, b)]);
};

export const neg = unary('neg');
export const exp = unary('exp');
export const log = unary('log');
export const sqrt = unary('sqrt');
export const erf = unary('erf');
export const sigmoid = unary('sigmoid');
export const tanh = unary('tanh');
export const floor = unary('floor');
export const abs = unary('abs');
/** log(1 + eˣ), a smooth ReLU whose output is always positive. */
export const softplus = unary('softplus');

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
export const pow = binary('pow');
export const minimum = binary('min');
export const maximum = binary('max');

export const equal = (a: Tensor, b: Tensor) => a.graph.add({ op: 'equal' }, [a, b]);
export const less = (a: Operand, b: Operand) => {
  const like = typeof a === 'number' ? (b as Tensor) : a;
  return like.graph.add({ op: 'less' }, [lift(like, a), lift(like, b)]);
};
export const greater = (a: Operand, b: Operand) => {
  const like = typeof a === 'number' ? (b as Tensor) : a;
  return like.graph.add({ op: 'greater' }, [lift(like, a), lift(like, b)]);
};
export const where = (cond: Tensor, a: Operand, b: Operand) => {
  const like = typeof a === 'number' ? (b as Tensor) : a;
  return cond.graph.add({ op: 'where' }, [cond, lift(like, a), lift(like, b)]);
};
export const cast = (x: Tensor, to: DType) => (x.dtype === to ? x : x.graph.add({ op: 'cast', to }, [x]));
export const stopGradient = (x: Tensor) => x.graph.add({ op: 'stopGradient' }, [x]);

export const matmul = (a: Tensor, b: Tensor) => a.graph.add({ op: 'matmul' }, [a, b]);

export const conv2d = (x: Tensor, w: Tensor, opts: { stride?: number; pad?: number } = {}) =>
  x.graph.add({ op: 'conv2d', stride: opts.stride ?? 1, pad: opts.pad ?? 0 }, [x, w]);

export const convTranspose2d = (
  x: Tensor,
  w: Tensor,
  opts: { stride?: number; pad?: number; outputPad?: number } = {},
) =>
  x.graph.add({ op: 'convTranspose2d', stride: opts.stride ?? 1, pad: opts.pad ?? 0, outputPad: opts.outputPad ?? 0 }, [
    x,
    w,
  ]);

const reduce =
  (op: ReduceOp) =>
  (x: Tensor, axes: number[], keepDims = false) =>
    x.graph.add({ op, axes: [...axes], keepDims }, [x]);
export const sum = reduce('reduceSum');
export const mean = reduce('reduceMean');
export const reduceMax = reduce('reduceMax');

export const argMax = (x: Tensor, axis: number, keepDims = false) => x.graph.add({ op: 'argMax', axis, keepDims }, [x]);
export const topKIndices = (x: Tensor, k: number, axis: number, largest: boolean) =>
  x.graph.add({ op: 'topKIndices', k, axis, largest }, [x]);

export const softmax = (x: Tensor, axis: number) => x.graph.add({ op: 'softmax', axis }, [x]);

/**
 * softmax(q kᵀ·scale over the keys) · v for q [B, heads, L, d], k [B or 1, heads, N, d] and
 * v [B or 1, heads, N, dv]: [B, heads, L, dv]. One op so that no backend has to keep the
 * probabilities [B, heads, L, N]; its gradients recompute them.
 */
export const attention = (q: Tensor, k: Tensor, v: Tensor, scale: number) =>
  q.graph.add({ op: 'attention', scale }, [q, k, v]);
/** The attention probabilities softmax(q kᵀ·scale) averaged over the heads: [B, L, N]. */
export const attentionHeadMean = (q: Tensor, k: Tensor, scale: number) =>
  q.graph.add({ op: 'attentionHeadMean', scale }, [q, k]);
/** The gradient of `attention` with respect to q or k, given the output's gradient `g`. */
/** `mapsGrad`: the gradient of attentionHeadMean(q, k) too, summed in (one recompute for both). */
export const attentionGrad = (
  q: Tensor,
  k: Tensor,
  v: Tensor,
  g: Tensor,
  scale: number,
  wrt: 'q' | 'k',
  mapsGrad?: Tensor,
) => q.graph.add({ op: 'attentionGrad', scale, wrt }, mapsGrad ? [q, k, v, g, mapsGrad] : [q, k, v, g]);
/** The gradient of `attention` with respect to v, Pᵀ·g (summed over the batch where v is shared by it). */
export const attentionValuesGrad = (q: Tensor, k: Tensor, g: Tensor, scale: number) =>
  q.graph.add({ op: 'attentionValuesGrad', scale }, [q, k, g]);
/** The gradient of `attentionHeadMean` with respect to q or k, given the maps' gradient `g`. */
export const attentionHeadMeanGrad = (q: Tensor, k: Tensor, g: Tensor, scale: number, wrt: 'q' | 'k') =>
  q.graph.add({ op: 'attentionHeadMeanGrad', scale, wrt }, [q, k, g]);

export const reshape = (x: Tensor, shape: readonly number[]) =>
  sameShape(x.shape, shape) ? x : x.graph.add({ op: 'reshape', shape: [...shape] }, [x]);
export const transpose = (x: Tensor, perm: readonly number[]) =>
  perm.every((p, i) => p === i) ? x : x.graph.add({ op: 'transpose', perm: [...perm] }, [x]);
export const expand = (x: Tensor, shape: readonly number[]) =>
  sameShape(x.shape, shape) ? x : x.graph.add({ op: 'expand', shape: [...shape] }, [x]);
export const concat = (xs: Tensor[], axis: number) =>
  xs.length === 1 ? xs[0]! : xs[0]!.graph.add({ op: 'concat', axis }, xs);
export const slice = (x: Tensor, axis: number, start: number, end: number) => {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  return start === 0 && end === x.shape[ax] ? x : x.graph.add({ op: 'slice', axis, start, end }, [x]);
};
export const gatherElements = (x: Tensor, indices: Tensor, axis: number) =>
  x.graph.add({ op: 'gatherElements', axis }, [x, indices]);
export const scatterAddElements = (base: Tensor, indices: Tensor, updates: Tensor, axis: number) =>
  base.graph.add({ op: 'scatterAddElements', axis }, [base, indices, updates]);

/** Sums `g` down to `shape`, undoing numpy broadcasting (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}

// Composites ---------------------------------------------------------------------------------

export const silu = (x: Tensor) => mul(x, sigmoid(x));

/** Exact GELU (erf form), as PyTorch's default `F.gelu`. */
export const gelu = (x: Tensor) => mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));

/** y = x Wᵀ + b with PyTorch's Linear weight layout [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const wt = transpose(weight, [1, 0]);
  const y = matmul(x, wt);
  return bias ? add(y, bias) : y;
}

/** Conv2d with PyTorch's bias semantics (bias per output channel). */
export function conv2dBias(x: Tensor, w: Tensor, b: Tensor | undefined, opts: { stride?: number; pad?: number } = {}) {
  const y = conv2d(x, w, opts);
  return b ? add(y, reshape(b, [1, b.shape[0]!, 1, 1])) : y;
}

/**
 * Layer norm over the last axis with affine parameters: ((x − μ) / √(σ² + ε)) · weight + bias,
 * each row's statistics its own. One op (normOps.ts), so a backend normalises a row in one pass.
 */
export const layerNorm = (x: Tensor, weight: Tensor, bias: Tensor, eps: number) =>
  x.graph.add({ op: 'layerNorm', eps }, [x, weight, bias]);
/** The gradient of `layerNorm` with respect to x, given the output's gradient `g`. */
export const layerNormGrad = (x: Tensor, weight: Tensor, g: Tensor, eps: number) =>
  x.graph.add({ op: 'layerNormGrad', eps }, [x, weight, g]);

/**
 * GEGLU, the gate of diffusers' feed-forward: with p = h + bias split into halves [value, gate]
 * along the last axis, value · GELU(gate). One op (gegluOps.ts), so a backend makes it in one pass.
 */
export const geglu = (h: Tensor, bias: Tensor) => h.graph.add({ op: 'geglu' }, [h, bias]);
/** The gradient of `geglu` with respect to h (and, summed over the rows, the bias), given the output's gradient `g`. */
export const gegluGrad = (h: Tensor, bias: Tensor, g: Tensor) => h.graph.add({ op: 'gegluGrad' }, [h, bias, g]);

/** (x − μ) / √(σ² + ε) along the last axis, from primitives: what layerNorm scales and shifts. */
export function normalizedRows(x: Tensor, eps: number): Tensor {
  const ax = x.shape.length - 1;
  const d = sub(x, mean(x, [ax], true));
  return div(d, sqrt(add(mean(mul(d, d), [ax], true), eps)));
}

/** Group norm on NCHW (or NC...) input, statistics per sample and group, affine per channel. */
export function groupNorm(x: Tensor, groups: number, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const [n, c] = x.shape as [number, number];
  if (c % groups !== 0) throw new GraphError(`groupNorm: ${c} channels do not split into ${groups} groups`);
  const rest = numel(x.shape.slice(2));
  const g = reshape(x, [n, groups, (c / groups) * rest]);
  const mu = mean(g, [2], true);
  const d = sub(g, mu);
  const variance = mean(mul(d, d), [2], true);
  const den = sqrt(add(variance, eps));
  // The statistics spread to each channel ([n, c, 1, …], small), so that normalising, the affine
  // transform and what follows are one elementwise chain over x's own shape (one GPU kernel).
  // Each value is computed as before: (x − μ) / √(σ² + ε).
  const perChannel = (t: Tensor) =>
    reshape(expand(t, [n, groups, c / groups]), [n, c, ...x.shape.slice(2).map(() => 1)]);
  const normed = div(sub(x, perChannel(mu)), perChannel(den));
  const affineShape = [1, c, ...x.shape.slice(2).map(() => 1)];
  return add(mul(normed, reshape(weight, affineShape)), reshape(bias, affineShape));
}

/** One-hot rows of `indices` (int64, shape [..., K]) over `depth` classes, as float32 [..., K, depth]. */
export function oneHot(indices: Tensor, depth: number): Tensor {
  const g = indices.graph;
  const classes = g.constantInt(
    Array.from({ length: depth }, (_, i) => i),
    [...indices.shape.map(() => 1), depth],
  );
  const idx = reshape(indices, [...indices.shape, 1]);
  return cast(equal(idx, classes), 'float32');
}

/** Rows of `x` ([N, ...]) picked by int64 `indices` [K], as a one-hot matmul so the gradient is a matmul too. */
export function takeRows(x: Tensor, indices: Tensor): Tensor {
  const [n, ...rest] = x.shape as [number, ...number[]];
  const flat = reshape(x, [n, numel(rest)]);
  return reshape(matmul(oneHot(indices, n), flat), [indices.shape[0]!, ...rest]);
}

// Reverse-mode autodiff over the IR: one table of vector-Jacobian rules and one reverse walk.
// Gradients are graph nodes appended to the forward graph, so forward, loss and backward run
// as one graph. Only nodes on a path from `wrt` to the loss get backward nodes: the SDXL graph
// is huge and only the learned tokens need a gradient, never the weights.
import type { OpName, OpSpec, Tensor } from './ir.js';
import { GraphError, shapeStr, topoOrder } from './ir.js';
import * as o from './ops.js';

/** A gradient for one input, built only if that input needs one. */
type Grad = (() => Tensor) | null;
/** `g` is the gradient of the loss at the node's output `y`; returns one Grad per input. */
type Rule = (g: Tensor, y: Tensor, x: readonly [Tensor, Tensor, Tensor]) => Grad[];
type Spec<K extends OpName> = OpSpec & { op: K };
const spec = <K extends OpName>(y: Tensor, _op: K): Spec<K> => y.spec as Spec<K>;

// Rules may return gradients in the broadcast (output) shape; the walk sums them down with sumTo.
const VJP: Partial<Record<OpName, Rule>> = {
  neg: (g) => [() => o.neg(g)],
  exp: (g, y) => [() => o.mul(g, y)],
  log: (g, _, [x]) => [() => o.div(g, x)],
  sqrt: (g, y) => [() => o.div(g, o.mul(y, 2))],
  erf: (g, _, [x]) => [() => o.mul(g, o.mul(o.exp(o.neg(o.mul(x, x))), 2 / Math.sqrt(Math.PI)))],
  sigmoid: (g, y) => [() => o.mul(g, o.mul(y, o.sub(1, y)))],
  tanh: (g, y) => [() => o.mul(g, o.sub(1, o.mul(y, y)))],
  abs: (g, _, [x]) => [() => o.mul(g, o.sub(o.cast(o.greater(x, 0), 'float32'), o.cast(o.less(x, 0), 'float32')))],
  add: (g) => [() => g, () => g],
  sub: (g) => [() => g, () => o.neg(g)],
  mul: (g, _, [a, b]) => [() => o.mul(g, b), () => o.mul(g, a)],
  div: (g, y, [, b]) => [() => o.div(g, b), () => o.neg(o.mul(g, o.div(y, b)))],
  // d/de aᵉ = aᵉ·ln a exists only for a > 0; elsewhere it is taken as 0.
  pow: (g, y, [a, e]) => [
    () => o.mul(g, o.mul(e, o.pow(a, o.sub(e, 1)))),
    () => o.where(o.greater(a, 0), o.mul(g, o.mul(y, o.log(a))), 0),
  ],
  // Where both operands are the extremum the gradient is shared equally, as PyTorch does.
  min: (g, y, [a, b]) => extremum(g, y, a, b),
  max: (g, y, [a, b]) => extremum(g, y, a, b),
  where: (g, _, [c]) => [null, () => o.where(c, g, 0), () => o.where(c, 0, g)],
  // Only float→float casts reach here: casts from or to int64/bool carry no gradient.
  cast: (g) => [() => g],
  matmul: (g, _, [a, b]) => [() => o.matmul(g, swapLast(b)), () => o.matmul(swapLast(a), g)],
  conv2d: (g, y, [x, w]) => [() => convInputGrad(g, y, x, w), () => noWeightGrad(y)],
  convTranspose2d: (g, y, [, w]) => {
    const { stride, pad } = spec(y, 'convTranspose2d');
    return [() => o.conv2d(g, w, { stride, pad }), () => noWeightGrad(y)];
  },
  reduceSum: (g, y, [x]) => [() => o.expand(unreduced(g, y, x), x.shape)],
  reduceMean: (g, y, [x]) => [() => o.expand(o.div(unreduced(g, y, x), reducedCount(y, x)), x.shape)],
  reduceMax: (g, y, [x]) => [
    () => {
      const mask = o.cast(o.equal(x, unreduced(y, y, x)), 'float32');
      return o.mul(mask, o.div(unreduced(g, y, x), o.sum(mask, spec(y, 'reduceMax').axes, true)));
    },
  ],
  softmax: (g, y) => [() => o.mul(y, o.sub(g, o.sum(o.mul(g, y), [spec(y, 'softmax').axis], true)))],
  reshape: (g, _, [x]) => [() => o.reshape(g, x.shape)],
  transpose: (g, y) => [() => o.transpose(g, inversePerm(spec(y, 'transpose').perm))],
  expand: (g) => [() => g],
  concat: (g, y) => {
    const { axis } = spec(y, 'concat');
    let at = 0;
    return y.inputs.map((x) => {
      const start = at;
      at += x.shape[axis]!;
      return () => o.slice(g, axis, start, start + x.shape[axis]!);
    });
  },
  slice: (g, y, [x]) => [() => padBack(g, spec(y, 'slice'), x)],
  gatherElements: (g, y, [x, idx]) => [
    () => o.scatterAddElements(g.graph.fill(0, x.shape), idx, g, spec(y, 'gatherElements').axis),
    null,
  ],
  scatterAddElements: (g, y, [, idx]) => [
    () => g,
    null,
    () => o.gatherElements(g, idx, spec(y, 'scatterAddElements').axis),
  ],
};

/** Ops that pass a gradient to their inputs; every other op (argMax, topK, compares, floor, stopGradient, leaves) blocks it. */
export const differentiableOps: ReadonlySet<OpName> = new Set(Object.keys(VJP) as OpName[]);

/**
 * Appends the gradient of the scalar `loss` with respect to each of `wrt` to the loss's graph
 * and returns those gradient tensors (zeros for a `wrt` the loss does not depend on).
 */
export function grad(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const graph = loss.graph;
  if (loss.dtype !== 'float32' || loss.shape.some((d) => d !== 1)) {
    throw new GraphError(`grad: the loss must be a float32 scalar, got ${shapeStr(loss.shape)}:${loss.dtype}`);
  }
  for (const w of wrt) {
    if (w.graph !== graph) throw new GraphError(`grad: wrt tensor #${w.id} belongs to another graph than the loss`);
    if (w.dtype !== 'float32')
      throw new GraphError(`grad: wrt tensor #${w.id} is ${w.dtype}; only float32 has a gradient`);
  }
  const order = topoOrder([loss]);
  const targets = new Set(wrt.map((w) => w.id));
  // Forward sweep: a node needs a gradient if it is a target or a differentiable function of one.
  const active = new Set<number>();
  for (const t of order) {
    const reached = t.dtype === 'float32' && differentiableOps.has(t.spec.op) && t.inputs.some((x) => active.has(x.id));
    if (targets.has(t.id) || reached) active.add(t.id);
  }
  const pending = new Map<number, Tensor[]>();
  const found = new Map<number, Tensor>();
  if (active.has(loss.id)) pending.set(loss.id, [graph.fill(1, loss.shape)]);
  for (let i = order.length - 1; i >= 0; i--) {
    const y = order[i]!;
    const parts = pending.get(y.id);
    if (!parts) continue;
    pending.delete(y.id);
    const g = parts.reduce((acc, p) => o.add(acc, p));
    if (targets.has(y.id)) found.set(y.id, g);
    const rule = VJP[y.spec.op];
    if (!rule || !y.inputs.some((x) => active.has(x.id))) continue;
    graph.scope(y.label ? `grad.${y.label}` : 'grad', () => {
      const grads = rule(g, y, y.inputs as unknown as readonly [Tensor, Tensor, Tensor]);
      y.inputs.forEach((x, k) => {
        const build = grads[k];
        if (!active.has(x.id) || !build) return;
        const gx = o.sumTo(build(), x.shape);
        if (gx.shape.length !== x.shape.length || gx.shape.some((d, j) => d !== x.shape[j])) {
          throw new GraphError(`grad: rule for ${y.spec.op} gave ${shapeStr(gx.shape)} for input ${shapeStr(x.shape)}`);
        }
        const parts = pending.get(x.id);
        if (parts) parts.push(gx);
        else pending.set(x.id, [gx]);
      });
    });
  }
  return wrt.map((w) => found.get(w.id) ?? graph.fill(0, w.shape));
}

// Helpers for the rules -------------------------------------------------------------------------

function extremum(g: Tensor, y: Tensor, a: Tensor, b: Tensor): Grad[] {
  let share: Tensor | undefined;
  const shared = () => (share ??= o.div(g, o.add(o.cast(o.equal(a, b), 'float32'), 1)));
  return [() => o.where(o.equal(a, y), shared(), 0), () => o.where(o.equal(b, y), shared(), 0)];
}

const swapLast = (t: Tensor): Tensor => {
  const r = t.shape.length;
  return o.transpose(
    t,
    t.shape.map((_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i)),
  );
};

const inversePerm = (perm: readonly number[]): number[] => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
};

/**
 * conv2d's input gradient is convTranspose2d with the same weight. The forward floor() in the
 * output size loses up to stride−1 rows/columns, which outputPad restores; the IR has one
 * outputPad for both axes, so take the larger and slice the other axis back.
 */
function convInputGrad(g: Tensor, y: Tensor, x: Tensor, w: Tensor): Tensor {
  const { stride, pad } = spec(y, 'conv2d');
  const lost = [2, 3].map((ax) => x.shape[ax]! - ((y.shape[ax]! - 1) * stride - 2 * pad + w.shape[ax]!));
  const back = o.convTranspose2d(g, w, { stride, pad, outputPad: Math.max(...lost) });
  return o.slice(o.slice(back, 2, 0, x.shape[2]!), 3, 0, x.shape[3]!);
}

function noWeightGrad(y: Tensor): never {
  throw new GraphError(
    `grad: ${y.spec.op}${y.label ? ` at ${y.label}` : ''} would need a gradient with respect to its weight, which is not supported (only the input's)`,
  );
}

/** `t` (shaped like the reduction's output `y`) reshaped to keep the reduced axes as size 1, ready to broadcast over `x`. */
function unreduced(t: Tensor, y: Tensor, x: Tensor): Tensor {
  const { axes } = y.spec as Spec<'reduceSum'>;
  return o.reshape(
    t,
    x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  );
}

const reducedCount = (y: Tensor, x: Tensor): number =>
  (y.spec as Spec<'reduceMean'>).axes.reduce((n, ax) => n * x.shape[ax]!, 1);

/** The adjoint of slicing: `g` put back at its place on the axis, zeros elsewhere. */
function padBack(g: Tensor, { axis, start, end }: Spec<'slice'>, x: Tensor): Tensor {
  const zeros = (n: number) =>
    g.graph.fill(
      0,
      x.shape.map((d, i) => (i === axis ? n : d)),
    );
  const dim = x.shape[axis]!;
  return o.concat([...(start > 0 ? [zeros(start)] : []), g, ...(end < dim ? [zeros(dim - end)] : [])], axis);
}

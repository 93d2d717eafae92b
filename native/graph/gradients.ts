// Building blocks of the vector-Jacobian rules in the op table (opset.ts): the adjoints that take
// more than one line. Each returns graph nodes, built only when the walk asks for that input.
import type { Tensor } from './ir.js';
import type { Spec } from './opset.js';
import { GraphError } from './ir.js';
import * as o from './ops.js';

/** A gradient for one input, built only if that input needs one. */
export type Grad = (() => Tensor) | null;

/** min/max: where both operands are the extremum the gradient is shared equally, as PyTorch does. */
export function extremum(g: Tensor, y: Tensor, a: Tensor, b: Tensor): Grad[] {
  let share: Tensor | undefined;
  const shared = () => (share ??= o.div(g, o.add(o.cast(o.equal(a, b), 'float32'), 1)));
  return [() => o.where(o.equal(a, y), shared(), 0), () => o.where(o.equal(b, y), shared(), 0)];
}

export const swapLast = (t: Tensor): Tensor => {
  const r = t.shape.length;
  return o.transpose(
    t,
    t.shape.map((_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i)),
  );
};

export const inversePerm = (perm: readonly number[]): number[] => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
};

/**
 * conv2d's input gradient is convTranspose2d with the same weight. The forward floor() in the
 * output size loses up to stride−1 rows/columns, which outputPad restores; the IR has one
 * outputPad for both axes, so take the larger and slice the other axis back.
 */
export function convInputGrad(g: Tensor, y: Tensor, x: Tensor, w: Tensor, { stride, pad }: Spec<'conv2d'>): Tensor {
  const lost = [2, 3].map((ax) => x.shape[ax]! - ((y.shape[ax]! - 1) * stride - 2 * pad + w.shape[ax]!));
  const back = o.convTranspose2d(g, w, { stride, pad, outputPad: Math.max(...lost) });
  return o.slice(o.slice(back, 2, 0, x.shape[2]!), 3, 0, x.shape[3]!);
}

export function noWeightGrad(y: Tensor): never {
  throw new GraphError(
    `grad: ${y.spec.op}${y.label ? ` at ${y.label}` : ''} would need a gradient with respect to its weight, which is not supported (only the input's)`,
  );
}

/** `t` (shaped like a reduction's output) reshaped to keep the reduced `axes` as size 1, ready to broadcast over `x`. */
export function unreduced(t: Tensor, axes: readonly number[], x: Tensor): Tensor {
  return o.reshape(
    t,
    x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  );
}

export const reducedCount = (axes: readonly number[], x: Tensor): number => axes.reduce((n, ax) => n * x.shape[ax]!, 1);

/** The adjoint of slicing: `g` put back at its place on the axis, zeros elsewhere. */
export function padBack(g: Tensor, { axis, start, end }: Spec<'slice'>, x: Tensor): Tensor {
  const zeros = (n: number) =>
    g.graph.fill(
      0,
      x.shape.map((d, i) => (i === axis ? n : d)),
    );
  const dim = x.shape[axis]!;
  return o.concat([...(start > 0 ? [zeros(start)] : []), g, ...(end < dim ? [zeros(dim - end)] : [])], axis);
}

/** The adjoint of concat: one slice of `g` per input, at that input's place on the axis. */
export function unconcat(g: Tensor, y: Tensor, { axis }: Spec<'concat'>): Grad[] {
  let at = 0;
  return y.inputs.map((x) => {
    const start = at;
    at += x.shape[axis]!;
    return () => o.slice(g, axis, start, start + x.shape[axis]!);
  });
}

/** reduceMax: the gradient goes to the maxima, shared equally between ties. */
export function toMaxima(g: Tensor, y: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  const mask = o.cast(o.equal(x, unreduced(y, axes, x)), 'float32');
  return o.mul(mask, o.div(unreduced(g, axes, x), o.sum(mask, [...axes], true)));
}

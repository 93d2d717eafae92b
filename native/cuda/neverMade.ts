// What a plan never makes, decided over the whole graph before lowering: slices read in place,
// zeros padded past a convolution's edge, and the elementwise inputs that reductions read past.
// Each saves a kernel and its tensor's memory; none changes a result's bits.
import type { Tensor } from '../graph/ir.js';
import { isElementwise, isImmediate } from './fuse.js';
import { around } from './layout.js';
import { im2colApplies, zeroPadded } from './lower/conv.js';
import type { ReductionInput } from './lower/context.js';

/** Steps after a slice within which its readers keep its source alive for no longer than a copy would live. */
const SLICE_READ_SOON = 32;

export interface NeverMade {
  /** Slices that fused kernels load from their source at an offset. */
  slicesRead: Set<number>;
  /** Concats of zeros after a strided convolution's input, which im2col reads past its edge. */
  zeroPads: Set<number>;
  /** What a reduction reads instead of its input, by reduction id (lower/reduce.ts). */
  reductions: Map<number, ReductionInput>;
  /** The elementwise nodes those reductions read past. */
  foldedIntoReductions: Set<number>;
  /** A norm's variance mean((x − μ)²), by its mean μ = mean(x): both made from one read of x (reduce.ts). */
  moments: Map<number, Tensor>;
}

/**
 * What the planner knows of the graph: `order` is topological and `step` each node's place in it;
 * `byStrides` says which nodes other lowerings read in place (their memory is not their own layout).
 */
export interface GraphFacts {
  order: readonly Tensor[];
  step: ReadonlyMap<number, number>;
  readersOf: ReadonlyMap<number, readonly Tensor[]>;
  isOutput: ReadonlySet<number>;
  byStrides: (t: Tensor) => boolean;
}

export const neverMade = (g: GraphFacts): NeverMade => ({
  slicesRead: slicesRead(g),
  zeroPads: zeroPads(g),
  ...reductionsReadingPast(g),
});

function slicesRead({ order, step, readersOf, isOutput, byStrides }: GraphFacts): Set<number> {
  // Slices that only fused kernels read, soon after they are made, cost nothing: each kernel loads
  // the slice's source at its offset (GEGLU's two halves, a grid's coordinate planes). One read
  // later (a GEGLU half kept for the backward pass) is copied: reading it in place would keep the
  // whole source alive that long. A slice of the outermost axis is an offset already (copies.ts).
  const slicesRead = new Set<number>();
  for (const t of order) {
    if (t.spec.op !== 'slice' || isOutput.has(t.id) || byStrides(t.inputs[0]!)) continue;
    if (around(t.inputs[0]!.shape, t.spec.axis)[0] === 1) continue;
    const readers = readersOf.get(t.id) ?? [];
    const soon = readers.every((r) => step.get(r.id)! - step.get(t.id)! <= SLICE_READ_SOON);
    if (readers.length && soon && readers.every((r) => isElementwise(r) && !byStrides(r))) slicesRead.add(t.id);
  }
  return slicesRead;
}

function zeroPads({ order, readersOf, isOutput }: GraphFacts): Set<number> {
  // Zero padding after the end of a strided convolution's input (the VAE's downsampling) is never
  // made: im2col reads the pixels past the input's edge as zeros.
  const zeroPads = new Set<number>();
  for (const t of order) {
    if (t.spec.op !== 'conv2d') continue;
    const [, channels, kh, kw] = t.inputs[1]!.shape as [number, number, number, number];
    if (!im2colApplies(kh, kw, t.spec.stride, channels)) continue;
    for (let x = t.inputs[0]!, inner = zeroPadded(x); inner; x = inner, inner = zeroPadded(x)) {
      const readers = readersOf.get(x.id) ?? [];
      if (isOutput.has(x.id) || !readers.every((r) => (r === t && r.inputs[1] !== x) || zeroPads.has(r.id))) break;
      zeroPads.add(x.id);
    }
  }
  return zeroPads;
}

/**
 * Reductions that read past an elementwise input nothing else reads (reduce.ts), which is then
 * never made; each sum or mean takes the first of these that fits it.
 */
function reductionsReadingPast({ order, readersOf, isOutput, byStrides }: GraphFacts) {
  const reductions = new Map<number, ReductionInput>();
  const foldedIntoReductions = new Set<number>();
  const moments = new Map<number, Tensor>();
  const onlyReadBy = (x: Tensor, r: Tensor) => !isOutput.has(x.id) && readersOf.get(x.id)!.every((y) => y === r);
  const readable = (x: Tensor) => x.dtype === 'float32' && !byStrides(x);
  /** What reduction `t` of `input` over `axes` reads instead, and the nodes it reads past; null where none fits. */
  type Fold = (t: Tensor, input: Tensor, axes: readonly number[]) => { read: ReductionInput; past: Tensor[] } | null;
  // A norm's variance, mean((x − μ)²): x and μ (ReduceKind.CentredSquares).
  const centred: Fold = (t, squares, axes) => {
    const d = squares.inputs[0];
    if (squares.spec.op !== 'mul' || !d || squares.inputs[1] !== d || d.spec.op !== 'sub') return null;
    if (!onlyReadBy(squares, t) || !onlyReadBy(d, squares)) return null;
    const [x, center] = d.inputs as [Tensor, Tensor];
    // x as the deviations are laid out; c constant along exactly the reduced axes: one value per output, in order.
    const fits = (y: Tensor, want: (n: number, i: number) => number) =>
      y.shape.length === d.shape.length && d.shape.every((n, i) => y.shape[i] === want(n, i));
    if (!fits(x, (n) => n) || !fits(center, (n, i) => (axes.includes(i) ? 1 : n))) return null;
    if (!readable(x) || isImmediate(center) || byStrides(center)) return null;
    return { read: { x, center }, past: [squares, d] };
  };
  // A sum of squares whose deviations are read elsewhere too (a layer norm's, or a norm's kept for
  // the backward pass): the deviations with a centre of zeros, (d − 0)² = d², the same bits.
  const squared: Fold = (t, squares) => {
    const d = squares.inputs[0];
    if (squares.spec.op !== 'mul' || !d || squares.inputs[1] !== d || !onlyReadBy(squares, t) || !readable(d))
      return null;
    return { read: { x: d, squared: true }, past: [squares] };
  };
  // A sum of negated values, Σ(−x) (autodiff's gradient of a subtracted, broadcast operand): x with
  // the scale negated, which gives the same bits.
  const negated: Fold = (t, negation) => {
    const x = negation.inputs[0];
    if (negation.spec.op !== 'neg' || !x || !onlyReadBy(negation, t) || !readable(x)) return null;
    return { read: { x, negated: true }, past: [negation] };
  };
  for (const t of order) {
    if (t.spec.op !== 'reduceSum' && t.spec.op !== 'reduceMean') continue;
    const [input, axes] = [t.inputs[0]!, t.spec.axes];
    const fold = centred(t, input, axes) ?? squared(t, input, axes) ?? negated(t, input, axes);
    if (!fold) continue;
    reductions.set(t.id, fold.read);
    for (const n of fold.past) foldedIntoReductions.add(n.id);
    const mean = fold.read.center;
    if (t.spec.op === 'reduceMean' && mean?.spec.op === 'reduceMean' && mean.inputs[0] === fold.read.x) {
      if (String(mean.spec.axes) === String(axes)) moments.set(mean.id, t);
    }
  }
  return { reductions, foldedIntoReductions, moments };
}

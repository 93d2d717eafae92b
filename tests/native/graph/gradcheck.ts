// Checks a graph's backward pass against central finite differences, both run by the float64
// reference interpreter, so float32 rounding never hides or fakes an error.
import { grad } from '../../../native/graph/autodiff.js';
import { evaluate, type ReferenceFeed } from '../../../native/graph/interpret.js';
import { Graph, numel, type Shape, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { seededRandom, uniform32 } from '../../support/random.js';

export interface GradCase {
  /** Float inputs: shape and values (the values are where the gradient is taken). */
  inputs: Record<string, { shape: Shape; values: Float64Array }>;
  /** Builds the function under test from the inputs; any float32 output shape. */
  build: (x: Record<string, Tensor>, g: Graph) => Tensor;
  /** Inputs to differentiate with respect to (default: all). */
  wrt?: string[];
}

export interface GradReport {
  /** Worst |autodiff − finite difference| over all coordinates, divided by the largest |finite difference|. */
  relError: number;
  /** Largest |finite difference| seen: proves the loss really depends on the inputs. */
  scale: number;
  /** Ops of every node in the forward graph, for coverage checks. */
  forwardOps: Set<string>;
}

/**
 * Projects the output onto a random fixed direction to get a scalar loss, differentiates it
 * with `grad`, and compares every coordinate of every gradient with a central difference.
 */
export function checkGradient(c: GradCase, opts: { seed?: number; step?: number } = {}): GradReport {
  const step = opts.step ?? 1e-5;
  const g = new Graph();
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([name, v]) => [name, g.input(name, v.shape)]));
  const out = c.build(inputs, g);
  const forwardOps = new Set(g.nodes.map((t) => t.spec.op));
  const projection = g.constant(uniform32(seededRandom(opts.seed ?? 7), numel(out.shape)), out.shape);
  const axes = out.shape.map((_, i) => i);
  const loss = axes.length ? o.sum(o.mul(out, projection), axes) : o.mul(out, projection);
  const names = c.wrt ?? Object.keys(c.inputs);
  const grads = grad(
    loss,
    names.map((n) => inputs[n]!),
  );
  const feeds: Record<string, ReferenceFeed> = Object.fromEntries(
    Object.entries(c.inputs).map(([n, v]) => [n, v.values]),
  );
  const got = evaluate(grads, feeds);
  const lossAt = (name: string, i: number, delta: number): number => {
    const moved = Float64Array.from(c.inputs[name]!.values);
    moved[i]! += delta;
    return (evaluate([loss], { ...feeds, [name]: moved })[0]!.data as Float64Array)[0]!;
  };
  let worst = 0;
  let scale = 0;
  names.forEach((name, k) => {
    const ad = got[k]!.data as Float64Array;
    for (let i = 0; i < ad.length; i++) {
      const fd = (lossAt(name, i, step) - lossAt(name, i, -step)) / (2 * step);
      worst = Math.max(worst, Math.abs(ad[i]! - fd));
      scale = Math.max(scale, Math.abs(fd));
    }
  });
  return { relError: worst / Math.max(scale, 1e-300), scale, forwardOps };
}

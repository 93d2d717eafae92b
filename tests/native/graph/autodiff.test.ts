import { describe, expect, it } from 'vitest';
import { differentiableOps, grad } from '../../../native/graph/autodiff.js';
import { evaluate } from '../../../native/graph/interpret.js';
import { Graph, numel, topoOrder, type Shape, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { checkGradient, type GradCase } from './gradcheck.js';
import { seededRandom, uniform } from '../../support/random.js';

// Central differences with step 1e-5 in float64 are accurate to about 1e-10 relative on these
// smooth functions, so 1e-6 leaves room for rounding yet catches any wrong rule (errors are O(1)).
const BOUND = 1e-6;

const rand = seededRandom(2024);
const arg = (shape: Shape, lo = -1, hi = 1) => ({ shape, values: uniform(rand, numel(shape), lo, hi) });
/** Values bounded away from zero, so abs/min/max kinks stay far from the finite-difference step. */
const awayFromZero = (shape: Shape) => {
  const v = arg(shape, 0.2, 1);
  v.values.forEach((x, i) => (v.values[i] = i % 2 ? -x : x));
  return v;
};

const cases: Record<string, GradCase> = {
  neg: { inputs: { x: arg([2, 3]) }, build: ({ x }) => o.neg(x!) },
  exp: { inputs: { x: arg([2, 3]) }, build: ({ x }) => o.exp(x!) },
  log: { inputs: { x: arg([2, 3], 0.5, 2) }, build: ({ x }) => o.log(x!) },
  sqrt: { inputs: { x: arg([2, 3], 0.5, 2) }, build: ({ x }) => o.sqrt(x!) },
  erf: { inputs: { x: arg([2, 3], -2, 2) }, build: ({ x }) => o.erf(x!) },
  sigmoid: { inputs: { x: arg([2, 3], -3, 3) }, build: ({ x }) => o.sigmoid(x!) },
  tanh: { inputs: { x: arg([2, 3], -2, 2) }, build: ({ x }) => o.tanh(x!) },
  abs: { inputs: { x: awayFromZero([2, 3]) }, build: ({ x }) => o.abs(x!) },
  'add (broadcast)': { inputs: { a: arg([2, 3]), b: arg([3]) }, build: ({ a, b }) => o.add(a!, b!) },
  'sub (broadcast)': { inputs: { a: arg([2, 1]), b: arg([2, 3]) }, build: ({ a, b }) => o.sub(a!, b!) },
  'mul (broadcast)': { inputs: { a: arg([2, 1, 3]), b: arg([4, 1]) }, build: ({ a, b }) => o.mul(a!, b!) },
  'div (broadcast)': { inputs: { a: arg([2, 3]), b: arg([2, 1], 0.5, 2) }, build: ({ a, b }) => o.div(a!, b!) },
  'pow (base and exponent)': {
    inputs: { a: arg([2, 3], 0.5, 2), e: arg([3], 0.5, 2.5) },
    build: ({ a, e }) => o.pow(a!, e!),
  },
  'min (broadcast)': { inputs: { a: arg([2, 3]), b: arg([3]) }, build: ({ a, b }) => o.minimum(a!, b!) },
  'max (broadcast)': { inputs: { a: arg([2, 3]), b: arg([2, 1]) }, build: ({ a, b }) => o.maximum(a!, b!) },
  // max(x, x) and a max over two copies of x both have slope 1: each tied operand must get half.
  'min/max/reduceMax at ties': {
    inputs: { x: arg([2, 3]) },
    build: ({ x }) => o.add(o.add(o.maximum(x!, x!), o.minimum(x!, x!)), o.reduceMax(o.concat([x!, x!], 0), [0])),
  },
  'where (broadcast branches)': {
    inputs: { c: arg([2, 3]), a: arg([2, 3]), b: arg([3]) },
    build: ({ c, a, b }) => o.where(o.greater(c!, 0), a!, b!),
    wrt: ['a', 'b'],
  },
  'cast float→float': {
    inputs: { x: arg([4]) },
    build: ({ x }, g) => o.mul(g.add({ op: 'cast', to: 'float32' }, [x!]), x!),
  },
  'matmul (batch broadcast)': {
    inputs: { a: arg([2, 1, 3, 4]), b: arg([3, 4, 2]) },
    build: ({ a, b }) => o.matmul(a!, b!),
  },
  'matmul (plain by batched)': { inputs: { a: arg([3, 4]), b: arg([2, 4, 5]) }, build: ({ a, b }) => o.matmul(a!, b!) },
  'conv2d stride 2 pad 1, odd and even sizes': {
    inputs: { x: arg([2, 2, 7, 6]), w: arg([3, 2, 3, 3]) },
    build: ({ x, w }) => o.conv2d(x!, w!, { stride: 2, pad: 1 }),
    wrt: ['x'],
  },
  'conv2d stride 3 pad 0': {
    inputs: { x: arg([1, 2, 8, 7]), w: arg([2, 2, 2, 3]) },
    build: ({ x, w }) => o.conv2d(x!, w!, { stride: 3 }),
    wrt: ['x'],
  },
  'convTranspose2d stride 2 pad 1 outputPad 1': {
    inputs: { x: arg([1, 3, 3, 4]), w: arg([3, 2, 3, 3]) },
    build: ({ x, w }) => o.convTranspose2d(x!, w!, { stride: 2, pad: 1, outputPad: 1 }),
    wrt: ['x'],
  },
  reduceSum: { inputs: { x: arg([2, 3, 4]) }, build: ({ x }) => o.sum(x!, [0, 2]) },
  'reduceMean (keepDims)': { inputs: { x: arg([2, 3, 4]) }, build: ({ x }) => o.mean(x!, [1], true) },
  reduceMax: { inputs: { x: arg([2, 3, 4]) }, build: ({ x }) => o.reduceMax(x!, [-1]) },
  softmax: { inputs: { x: arg([2, 3, 4], -2, 2) }, build: ({ x }) => o.softmax(x!, 1) },
  'attention (keys and values per batch element)': {
    inputs: { q: arg([2, 2, 3, 4], -2, 2), k: arg([2, 2, 5, 4], -2, 2), v: arg([2, 2, 5, 3]) },
    build: ({ q, k, v }) => o.attention(q!, k!, v!, 0.7),
  },
  'attention (keys and values shared by the batch)': {
    inputs: { q: arg([3, 2, 4, 2], -2, 2), k: arg([1, 2, 3, 2], -2, 2), v: arg([1, 2, 3, 5]) },
    build: ({ q, k, v }) => o.attention(q!, k!, v!, 1.3),
  },
  'attentionHeadMean (keys per batch element and shared)': {
    inputs: { q: arg([2, 3, 4, 3], -2, 2), k: arg([2, 3, 5, 3], -2, 2), shared: arg([1, 3, 5, 3], -2, 2) },
    build: ({ q, k, shared }) =>
      o.add(o.attentionHeadMean(q!, k!, 0.6), o.mul(o.attentionHeadMean(q!, shared!, 0.9), 2)),
  },
  // Its x gradient is the op layerNormGrad; the weight's and the bias's are built from primitives.
  'layerNorm (x, weight and bias)': {
    inputs: { x: arg([2, 3, 5], -2, 2), w: arg([5]), b: arg([5]) },
    build: ({ x, w, b }) => o.mul(o.layerNorm(x!, w!, b!, 1e-3), o.layerNorm(x!, b!, w!, 0.5)),
  },
  // Its h gradient is the op gegluGrad; the bias's is that summed over the rows.
  'geglu (h and bias)': {
    inputs: { h: arg([2, 3, 8], -3, 3), b: arg([8]) },
    build: ({ h, b }) => o.geglu(h!, b!),
  },
  reshape: { inputs: { x: arg([2, 6]) }, build: ({ x }) => o.mul(o.reshape(x!, [3, 4]), o.reshape(x!, [3, 4])) },
  transpose: { inputs: { x: arg([2, 3, 4]) }, build: ({ x }) => o.exp(o.transpose(x!, [2, 0, 1])) },
  expand: { inputs: { x: arg([3, 1]) }, build: ({ x }) => o.exp(o.expand(x!, [2, 3, 4])) },
  concat: {
    inputs: { a: arg([2, 1, 2]), b: arg([2, 3, 2]) },
    build: ({ a, b }) => o.tanh(o.concat([a!, b!, a!], 1)),
  },
  slice: { inputs: { x: arg([2, 5]) }, build: ({ x }) => o.exp(o.slice(x!, 1, 1, 3)) },
  'gatherElements (repeated indices)': {
    inputs: { x: arg([3, 4]) },
    build: ({ x }, g) => o.exp(o.gatherElements(x!, g.constantInt([2, 0, 2, 3, 1, 1, 1, 3], [2, 4]), 1)),
  },
  scatterAddElements: {
    inputs: { base: arg([2, 4]), u: arg([2, 3]) },
    build: ({ base, u }, g) => o.tanh(o.scatterAddElements(base!, g.constantInt([3, 0, 3, 1, -1, 2], [2, 3]), u!, 1)),
  },
  'fan-out accumulates': { inputs: { x: arg([5]) }, build: ({ x }) => o.mul(o.exp(x!), o.tanh(o.mul(x!, x!))) },
  softplus: { inputs: { x: arg([2, 3], -4, 4) }, build: ({ x }) => o.softplus(x!) },
};

describe('vector-Jacobian rules match central finite differences (float64)', () => {
  const covered = new Set<string>();
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const r = checkGradient(c);
      r.forwardOps.forEach((op) => covered.add(op));
      expect(r.scale).toBeGreaterThan(1e-3);
      expect(r.relError).toBeLessThanOrEqual(BOUND);
    });
  }
  it('covers every differentiable op', () => {
    expect([...differentiableOps].filter((op) => !covered.has(op))).toEqual([]);
  });
});

describe('ops without a gradient block it, and agree with finite differences where they are locally constant', () => {
  it('argMax and topKIndices only select; the gradient flows through the gather', () => {
    const r = checkGradient({
      inputs: { x: arg([3, 5]) },
      build: ({ x }) => {
        const best = o.gatherElements(x!, o.argMax(x!, 1, true), 1);
        const top = o.gatherElements(x!, o.topKIndices(x!, 2, 1, false), 1);
        return o.concat([best, top], 1);
      },
    });
    expect(r.relError).toBeLessThanOrEqual(BOUND);
  });

  it('floor, compares and casts to int64 are locally constant', () => {
    const r = checkGradient({
      inputs: { x: arg([6], -3, 3) },
      build: ({ x }) => {
        const flags = o.cast(o.less(x!, 0.5), 'float32');
        const asInt = o.cast(o.cast(x!, 'int64'), 'float32');
        return o.mul(x!, o.add(o.floor(x!), o.add(flags, asInt)));
      },
    });
    expect(r.relError).toBeLessThanOrEqual(BOUND);
  });

  it('stopGradient makes x·sg(x) differentiate to sg(x), not 2x', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    const [dx] = grad(o.sum(o.mul(x, o.stopGradient(x)), [0]), [x]);
    const values = Float64Array.from([1, -2, 0.5]);
    expect(Array.from(evaluate([dx!], { x: values })[0]!.data as Float64Array)).toEqual([1, -2, 0.5]);
  });
});

describe('composed model: gradient with respect to the input', () => {
  it('conv (stride 2, pad 1) + group norm + layer norm + attention + MLP + gatherElements', () => {
    const r2 = seededRandom(99);
    const w = (g: Graph, shape: Shape, scale = 0.5) =>
      g.constant(Float32Array.from(uniform(r2, numel(shape), -scale, scale)), shape);
    const r = checkGradient({
      inputs: { image: arg([1, 2, 6, 6]) },
      build: ({ image }, g) => {
        const c = 4;
        let h = o.conv2dBias(image!, w(g, [c, 2, 3, 3]), w(g, [c]), { stride: 2, pad: 1 });
        h = o.silu(o.groupNorm(h, 2, w(g, [c], 1), w(g, [c]), 1e-5));
        let tokens = o.transpose(o.reshape(h, [1, c, 9]), [0, 2, 1]);
        const normed = o.layerNorm(tokens, w(g, [c], 1), w(g, [c]), 1e-5);
        const q = o.linear(normed, w(g, [c, c]));
        const k = o.linear(normed, w(g, [c, c]));
        const v = o.linear(normed, w(g, [c, c]));
        const attn = o.softmax(o.div(o.matmul(q, o.transpose(k, [0, 2, 1])), Math.sqrt(c)), -1);
        tokens = o.add(tokens, o.matmul(attn, v));
        const hidden = o.gelu(o.linear(tokens, w(g, [8, c]), w(g, [8])));
        tokens = o.add(tokens, o.linear(hidden, w(g, [c, 8]), w(g, [c])));
        const picks = g.constantInt([0, 4, 8, 4, 2, 2, 7, 1, 3, 3, 6, 0], [1, 3, c]);
        return o.gatherElements(tokens, picks, 1);
      },
    });
    expect(r.scale).toBeGreaterThan(1e-3);
    expect(r.relError).toBeLessThanOrEqual(BOUND);
  });
});

describe('graph hygiene', () => {
  /** Nodes `build` appends, and whether every one of them feeds a returned gradient. */
  const appended = (g: Graph, build: () => Tensor[]) => {
    const before = g.nodes.length;
    const grads = build();
    const added = g.nodes.slice(before);
    const used = new Set(topoOrder(grads).map((t) => t.id));
    return { added, allUsed: added.every((t) => used.has(t.id)) };
  };

  it('builds no backward nodes for branches that do not depend on wrt', () => {
    const lossWith = (x: Tensor, extra: Tensor) => o.add(o.sum(o.tanh(o.mul(x, x)), [0, 1]), extra);
    const plain = new Graph();
    const px = plain.input('x', [2, 3]);
    const plainLoss = lossWith(px, plain.scalar(1));
    const small = appended(plain, () => grad(plainLoss, [px]));

    const heavy = new Graph();
    const hx = heavy.input('x', [2, 3]);
    const weights = heavy.input('weights', [3, 3]);
    let branch = weights;
    for (let i = 0; i < 20; i++) branch = o.gelu(o.matmul(branch, weights));
    const heavyLoss = lossWith(hx, o.sum(branch, [0, 1]));
    const big = appended(heavy, () => grad(heavyLoss, [hx]));

    expect(big.added.length).toBe(small.added.length);
    expect(big.allUsed).toBe(true);
    expect(small.allUsed).toBe(true);
  });

  it('differentiates x·W only towards x: one matmul with Wᵀ, none towards W', () => {
    const g = new Graph();
    const x = g.input('x', [4, 3]);
    const weight = g.input('w', [3, 5]);
    const loss = o.sum(o.matmul(x, weight), [0, 1]);
    const { added, allUsed } = appended(g, () => grad(loss, [x]));
    expect(added.filter((t) => t.spec.op === 'matmul')).toHaveLength(1);
    expect(added.some((t) => t.inputs.includes(x))).toBe(false);
    expect(allUsed).toBe(true);
  });

  it('gives zeros for a wrt the loss does not depend on', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const unrelated = g.input('u', [3]);
    const [dx, du] = grad(o.sum(o.exp(x), [0]), [x, unrelated]);
    expect(du!.spec).toEqual({ op: 'fill', value: 0 });
    expect(du!.shape).toEqual([3]);
    const [vx] = evaluate([dx!], { x: Float64Array.from([0, 1]) });
    expect(Array.from(vx!.data as Float64Array)).toEqual([1, Math.E]);
  });

  it('refuses a non-scalar loss, an int64 wrt and a conv weight gradient, saying which', () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 4, 4]);
    const w = g.input('w', [1, 1, 3, 3]);
    const y = g.scope('unet.conv_in', () => o.conv2d(x, w, { pad: 1 }));
    expect(() => grad(y, [x])).toThrow(/loss must be a float32 scalar, got \[1,1,4,4\]:float32/);
    expect(() => grad(o.sum(y, [0, 1, 2, 3]), [g.input('ids', [2], 'int64')])).toThrow(/is int64/);
    expect(() => grad(o.sum(y, [0, 1, 2, 3]), [w])).toThrow(
      /conv2d at unet.conv_in would need a gradient with respect to its weight/,
    );
  });

  it('accepts a loss of shape [1, 1]', () => {
    const g = new Graph();
    const x = g.input('x', [2, 2]);
    const [dx] = grad(o.sum(o.mul(x, 3), [0, 1], true), [x]);
    expect(Array.from(evaluate([dx!], { x: new Float64Array(4) })[0]!.data as Float64Array)).toEqual([3, 3, 3, 3]);
  });
});

// The attention ops mean what the composite they replace computed: softmax(q kᵀ·scale)·v and the
// head mean of the probabilities, in the float64 interpreter (their gradients are checked against
// finite differences in autodiff.test.ts, their ONNX nodes in tests/native/onnx/ops.test.ts, their CUDA
// lowering in tests/native/cuda/plan.test.ts).
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../native/graph/interpret.js';
import { Graph, numel, type Shape, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { seededRandom, uniform } from '../../support/random.js';

const rand = seededRandom(31);

function inputs(shapes: Record<string, Shape>) {
  const g = new Graph();
  const t: Record<string, Tensor> = {};
  const feeds: Record<string, Float64Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    t[name] = g.input(name, shape);
    feeds[name] = uniform(rand, numel(shape), -2, 2);
  }
  return { g, t, feeds };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

const composite = (q: Tensor, k: Tensor, scale: number) =>
  o.softmax(o.matmul(q, o.mul(o.transpose(k, [0, 1, 3, 2]), scale)), -1);

describe('attention ops in the float64 interpreter', () => {
  it("take the maps' gradient into attentionGrad as the sum of both gradients", () => {
    const { t, feeds } = inputs({ q: [2, 3, 4, 5], k: [1, 3, 6, 5], v: [1, 3, 6, 7], g: [2, 3, 4, 7], m: [2, 4, 6] });
    for (const wrt of ['q', 'k'] as const) {
      const [both, out, maps] = evaluate(
        [
          o.attentionGrad(t.q!, t.k!, t.v!, t.g!, 0.37, wrt, t.m!),
          o.attentionGrad(t.q!, t.k!, t.v!, t.g!, 0.37, wrt),
          o.attentionHeadMeanGrad(t.q!, t.k!, t.m!, 0.37, wrt),
        ],
        feeds,
      ).map((r) => r.data as Float64Array);
      expect(
        maxDiff(
          both!,
          out!.map((x, i) => x + maps![i]!),
        ),
      ).toBeLessThan(1e-12);
    }
  });

  for (const kb of [1, 2]) {
    it(`equal the softmax-matmul composite (keys batch ${kb})`, () => {
      const { t, feeds } = inputs({ q: [2, 3, 4, 5], k: [kb, 3, 6, 5], v: [kb, 3, 6, 7] });
      const scale = 0.37;
      const [att, ref, mean, refMean] = evaluate(
        [
          o.attention(t.q!, t.k!, t.v!, scale),
          o.matmul(composite(t.q!, t.k!, Math.fround(scale)), t.v!),
          o.attentionHeadMean(t.q!, t.k!, scale),
          o.mean(composite(t.q!, t.k!, Math.fround(scale)), [1]),
        ],
        feeds,
      );
      expect(att!.shape).toEqual([2, 3, 4, 7]);
      expect(mean!.shape).toEqual([2, 4, 6]);
      expect(maxDiff(att!.data as Float64Array, ref!.data as Float64Array)).toBeLessThan(1e-12);
      expect(maxDiff(mean!.data as Float64Array, refMean!.data as Float64Array)).toBeLessThan(1e-12);
    });
  }

  it('says which operand is wrong, and where', () => {
    const g = new Graph();
    const q = g.input('q', [2, 3, 4, 5]);
    const v = g.input('v', [2, 3, 6, 7]);
    const build = (k: Tensor, values = v) => g.scope('unet.attn2', () => o.attention(q, k, values, 1));
    expect(() => build(g.input('k1', [3, 3, 6, 5]))).toThrow(/attention at unet\.attn2: keys have batch 3/);
    expect(() => build(g.input('k2', [2, 2, 6, 5]))).toThrow(/keys have 2 heads, queries 3/);
    expect(() => build(g.input('k3', [2, 3, 6, 4]))).toThrow(/keys have 4 channels, queries 5/);
    expect(() => build(g.input('k4', [2, 3, 5, 5]))).toThrow(/values \[2,3,6,7\] do not match keys \[2,3,5,5\]/);
    expect(() => build(g.input('k5', [2, 3, 6]))).toThrow(/must be \[batch, heads, tokens, channels\]/);
    const k = g.input('k6', [2, 3, 6, 5]);
    expect(() => o.attentionGrad(q, k, v, g.input('g', [2, 3, 4, 6]), 1, 'q')).toThrow(
      /the gradient is \[2,3,4,6\]; the forward result is \[2,3,4,7\]/,
    );
    expect(() => o.attentionHeadMeanGrad(q, k, g.input('g2', [2, 4, 5]), 1, 'k')).toThrow(
      /the gradient is \[2,4,5\]; the forward result is \[2,4,6\]/,
    );
    expect(() => o.attentionValuesGrad(q, k, g.input('g3', [2, 3, 5, 7]), 1)).toThrow(
      /the gradient is \[2,3,5,7\]; the forward result is \[2,3,4,values\]/,
    );
  });
});

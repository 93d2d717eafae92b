// The op-table entries of layer norm (opset.ts): the normalisation over the last axis with its
// affine transform, and its input gradient. Each is one op so that a backend can compute a row
// in one pass, instead of the six kernels of the composite (two means, the deviations, the
// square root, the division, the affine transform); the gradient recomputes the row's
// statistics from x instead of keeping the deviations. ONNX gets the composite as standard
// nodes, in the composite's order.
import type { AttributeValue } from '../onnx/proto.js';
import type { Tensor } from './ir.js';
import { shapeStr } from './ir.js';
import type { lowered, OnnxNodeEmitter, OpDef, ShapeCheck, Spec } from './opset.js';
import * as o from './ops.js';
import * as ref from './reference.js';
import type { ReferenceValue } from './reference.js';

type NormSpec = Spec<'layerNorm' | 'layerNormGrad'>;

const int = (value: number): AttributeValue => ({ kind: 'int', value });
const data = (v: ReferenceValue | undefined) => v!.data as Float64Array;

// opset.ts imports this module, so its `lowered` value is not yet defined here: spelled out.
const ownLowering: typeof lowered = 'lowered';

/** Checks x [..., C] and the per-channel `named` tensors ([C] each); the result has x's shape. */
function rows(spec: NormSpec, c: ShapeCheck, x: Tensor, named: Record<string, Tensor>) {
  c.float(x, ...Object.values(named));
  // Every backend adds ε in float32 (an initializer, a kernel's float), so the reference does too.
  spec.eps = Math.fround(spec.eps);
  if (x.shape.length === 0) c.fail('x needs an axis to normalise over');
  const size = x.shape[x.shape.length - 1]!;
  for (const [name, t] of Object.entries(named)) {
    if (shapeStr(t.shape) !== shapeStr([size])) c.fail(`${name} is ${shapeStr(t.shape)}; x's last axis is ${size}`);
  }
  return { shape: x.shape, dtype: 'float32' as const };
}

/** ONNX: μ, x − μ and √(σ² + ε) of each row, as the IR composite computed them. */
function onnxStatistics(e: OnnxNodeEmitter<NormSpec>) {
  const x = e.ins[0]!;
  const name = (what: string) => `${e.out}:${what}`;
  const last = e.int64s([e.t.shape.length - 1]);
  e.node('ReduceMean', [x, last], { keepdims: int(1) }, [name('mean')]);
  e.node('Sub', [x, name('mean')], undefined, [name('deviation')]);
  e.node('Mul', [name('deviation'), name('deviation')], undefined, [name('squares')]);
  e.node('ReduceMean', [name('squares'), last], { keepdims: int(1) }, [name('variance')]);
  e.node('Add', [name('variance'), e.floats([e.spec.eps])], undefined, [name('shifted')]);
  e.node('Sqrt', [name('shifted')], undefined, [name('deviationScale')]);
  e.node('Div', [name('deviation'), name('deviationScale')], undefined, [name('normed')]);
  return { name, last, scale: name('deviationScale'), normed: name('normed') };
}

const layerNormEntry = {
  arity: 3,
  shape: (spec, [x, weight, bias], c) => rows(spec, c, x!, { weight: weight!, bias: bias! }),
  reference: (_, spec, [x, weight, bias]) => ref.layerNorm(data(x), data(weight), data(bias), x!.shape, spec.eps),
  vjp: (g, _, [x, weight], { eps }) => {
    const lead = x.shape.slice(0, -1).map((__, i) => i);
    return [
      () => o.layerNormGrad(x, weight, g, eps),
      () => o.sum(o.mul(g, o.normalizedRows(x, eps)), lead),
      () => o.sum(g, lead),
    ];
  },
  onnx: (e) => {
    const s = onnxStatistics(e);
    e.node('Mul', [s.normed, e.ins[1]!], undefined, [s.name('scaled')]);
    e.node('Add', [s.name('scaled'), e.ins[2]!]);
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'layerNorm'>>;

// x, the weight and the output's gradient g: dx = (ĝ − mean(ĝ) − n·mean(ĝ ⊙ n)) / √(σ² + ε),
// with n the normalised row and ĝ = g ⊙ weight.
const layerNormGradEntry = {
  arity: 3,
  shape: (spec, [x, weight, g], c) => {
    if (shapeStr(g!.shape) !== shapeStr(x!.shape)) {
      c.fail(`the gradient is ${shapeStr(g!.shape)}; x is ${shapeStr(x!.shape)}`);
    }
    return rows(spec, c, x!, { weight: weight! });
  },
  reference: (_, spec, [x, weight, g]) => ref.layerNormGrad(data(x), data(weight), data(g), x!.shape, spec.eps),
  vjp: null,
  onnx: (e) => {
    const s = onnxStatistics(e);
    const [, weight, g] = e.ins as [string, string, string];
    e.node('Mul', [g, weight], undefined, [s.name('weighted')]);
    e.node('ReduceMean', [s.name('weighted'), s.last], { keepdims: int(1) }, [s.name('weightedMean')]);
    e.node('Mul', [s.name('weighted'), s.normed], undefined, [s.name('alongNormed')]);
    e.node('ReduceMean', [s.name('alongNormed'), s.last], { keepdims: int(1) }, [s.name('alongNormedMean')]);
    e.node('Sub', [s.name('weighted'), s.name('weightedMean')], undefined, [s.name('centred')]);
    e.node('Mul', [s.normed, s.name('alongNormedMean')], undefined, [s.name('projection')]);
    e.node('Sub', [s.name('centred'), s.name('projection')], undefined, [s.name('normedGrad')]);
    e.node('Div', [s.name('normedGrad'), s.scale]);
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'layerNormGrad'>>;

export const NORM_OPS = {
  layerNorm: layerNormEntry,
  layerNormGrad: layerNormGradEntry,
};

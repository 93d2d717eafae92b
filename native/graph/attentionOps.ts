// The op-table entries of attention (opset.ts): softmax(q kᵀ·scale)·v, the head-averaged
// probabilities, and their gradients. Each is one op so that a backend can compute it a slice
// of query rows at a time and never hold the probabilities [batch, heads, L, N]; the gradients
// recompute the probabilities from q and k. ONNX gets the same computation as standard nodes.
import type { AttributeValue } from '../onnx/proto.js';
import type { AttentionDims } from './attentionReference.js';
import * as ref from './attentionReference.js';
import type { Tensor } from './ir.js';
import { shapeStr } from './ir.js';
import type { lowered, OnnxNodeEmitter, OpDef, ShapeCheck, Spec } from './opset.js';
import * as o from './ops.js';
import type { ReferenceValue } from './reference.js';

type AttentionSpec = Spec<
  'attention' | 'attentionHeadMean' | 'attentionGrad' | 'attentionValuesGrad' | 'attentionHeadMeanGrad'
>;

const int = (value: number): AttributeValue => ({ kind: 'int', value });
const ints = (value: readonly number[]): AttributeValue => ({ kind: 'ints', value });
const data = (v: ReferenceValue | undefined) => v!.data as Float64Array;

/** Checks q [B, heads, L, d], k [B or 1, heads, N, d] and (when given) v [like k, dv]. */
function operands(spec: AttentionSpec, c: ShapeCheck, q: Tensor, k: Tensor, v?: Tensor): AttentionDims {
  c.float(q, k, ...(v ? [v] : []));
  // Every backend computes with the float32 scale (an initializer, a GEMM's alpha), so the reference does too.
  spec.scale = Math.fround(spec.scale);
  if ([q, k, v].some((t) => t && t.shape.length !== 4)) c.fail('q, k and v must be [batch, heads, tokens, channels]');
  const [b, heads, , d] = q.shape;
  const [kb, kh, n, kd] = k.shape;
  if (kb !== b && kb !== 1) c.fail(`keys have batch ${kb}; the queries' is ${b}, and keys may also be shared (1)`);
  if (kh !== heads) c.fail(`keys have ${kh} heads, queries ${heads}`);
  if (kd !== d) c.fail(`keys have ${kd} channels, queries ${d}`);
  if (n === 0) c.fail('there are no keys to attend to');
  if (v && (v.shape[0] !== kb || v.shape[1] !== kh || v.shape[2] !== n)) {
    c.fail(`values ${shapeStr(v.shape)} do not match keys ${shapeStr(k.shape)}`);
  }
  return ref.attentionDims(q.shape, k.shape, v?.shape);
}

const outputShape = (x: AttentionDims) => [x.b, x.heads, x.l, x.dv];
const mapShape = (x: AttentionDims) => [x.b, x.l, x.n];

function gradientOf(c: ShapeCheck, g: Tensor, forward: number[]): void {
  c.float(g);
  if (shapeStr(g.shape) !== shapeStr(forward)) {
    c.fail(`the gradient is ${shapeStr(g.shape)}; the forward result is ${shapeStr(forward)}`);
  }
}

const float = (shape: number[]) => ({ shape, dtype: 'float32' as const });

// opset.ts imports this module, so its `lowered` value is not yet defined here: spelled out.
const ownLowering: typeof lowered = 'lowered';

/** ONNX: the scaled keys kᵀ·scale and the probabilities, as the IR composite computed them. */
function onnxProbs(e: OnnxNodeEmitter<AttentionSpec>) {
  const [q, k] = e.ins as [string, string];
  const name = (what: string) => `${e.out}:${what}`;
  e.node('Transpose', [k], { perm: ints([0, 1, 3, 2]) }, [name('keysT')]);
  e.node('Mul', [name('keysT'), e.floats([e.spec.scale])], undefined, [name('scaledKeysT')]);
  e.node('MatMul', [q, name('scaledKeysT')], undefined, [name('scores')]);
  e.node('Softmax', [name('scores')], { axis: int(3) }, [name('probs')]);
  return { probs: name('probs'), scaledKeysT: name('scaledKeysT'), name };
}

/** ONNX: the gradient of q or k from the probabilities' gradient, dS = P ⊙ (dP − rowsum(dP ⊙ P)). */
function onnxQueryOrKeyGrad(
  e: OnnxNodeEmitter<AttentionSpec>,
  wrt: 'q' | 'k',
  probs: ReturnType<typeof onnxProbs>,
  probsGrad: string,
) {
  const { name } = probs;
  e.node('Mul', [probsGrad, probs.probs], undefined, [name('weighted')]);
  e.node('ReduceSum', [name('weighted'), e.int64s([3])], { keepdims: int(1) }, [name('rowSums')]);
  e.node('Sub', [probsGrad, name('rowSums')], undefined, [name('centred')]);
  e.node('Mul', [probs.probs, name('centred')], undefined, [name('scoresGrad')]);
  if (wrt === 'q') {
    e.node('Transpose', [probs.scaledKeysT], { perm: ints([0, 1, 3, 2]) }, [name('scaledKeys')]);
    e.node('MatMul', [name('scoresGrad'), name('scaledKeys')]);
    return;
  }
  e.node('Transpose', [e.ins[0]!], { perm: ints([0, 1, 3, 2]) }, [name('queriesT')]);
  e.node('MatMul', [name('queriesT'), name('scoresGrad')], undefined, [name('scaledKeysGrad')]);
  let keysGrad = name('scaledKeysGrad');
  if (e.t.shape[0] !== e.t.inputs[0]!.shape[0]) {
    // Keys shared by the whole batch: their gradient is the sum over it.
    e.node('ReduceSum', [keysGrad, e.int64s([0])], { keepdims: int(1) }, [name('batchSum')]);
    keysGrad = name('batchSum');
  }
  e.node('Mul', [keysGrad, e.floats([e.spec.scale])], undefined, [name('keysGradT')]);
  e.node('Transpose', [name('keysGradT')], { perm: ints([0, 1, 3, 2]) });
}

const attentionEntry = {
  arity: 3,
  shape: (spec, [q, k, v], c) => float(outputShape(operands(spec, c, q!, k!, v!))),
  reference: (_, spec, [q, k, v]) =>
    ref.attention(data(q), data(k), data(v), ref.attentionDims(q!.shape, k!.shape, v!.shape), spec.scale),
  vjp: (g, _, [q, k, v], { scale }) => [
    () => o.attentionGrad(q, k, v, g, scale, 'q'),
    () => o.attentionGrad(q, k, v, g, scale, 'k'),
    () => o.attentionValuesGrad(q, k, g, scale),
  ],
  onnx: (e) => {
    const { probs } = onnxProbs(e);
    e.node('MatMul', [probs, e.ins[2]!]);
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'attention'>>;

const headMeanEntry = {
  arity: 2,
  shape: (spec, [q, k], c) => float(mapShape(operands(spec, c, q!, k!))),
  reference: (_, spec, [q, k]) =>
    ref.attentionHeadMean(data(q), data(k), ref.attentionDims(q!.shape, k!.shape), spec.scale),
  vjp: (g, _, [q, k], { scale }) =>
    (['q', 'k'] as const).map((wrt) => () => o.attentionHeadMeanGrad(q, k, g, scale, wrt)),
  onnx: (e) => {
    const { probs } = onnxProbs(e);
    e.node('ReduceMean', [probs, e.int64s([1])], { keepdims: int(0) });
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'attentionHeadMean'>>;

// q, k, v, the output's gradient, and optionally the gradient of attentionHeadMean(q, k): the CUDA
// planner folds the two gradients of a controlled layer into one (cuda/attentionFold.ts).
const attentionGradEntry = {
  arity: 'many',
  shape: (spec, [q, k, v, g, mapsGrad, ...more], c) => {
    if (!v || !g || more.length) return c.fail("takes q, k, v, the gradient, and optionally the maps' gradient");
    const x = operands(spec, c, q!, k!, v);
    gradientOf(c, g, outputShape(x));
    if (mapsGrad) gradientOf(c, mapsGrad, mapShape(x));
    return float([...{ q, k }[spec.wrt]!.shape]);
  },
  reference: (_, spec, [q, k, v, g, mapsGrad]) =>
    ref.attentionGrad(
      data(q),
      data(k),
      data(v),
      data(g),
      ref.attentionDims(q!.shape, k!.shape, v!.shape),
      spec.scale,
      spec.wrt,
      mapsGrad && data(mapsGrad),
    ),
  vjp: null,
  onnx: (e) => {
    const p = onnxProbs(e);
    const [, , v, g, mapsGrad] = e.ins as [string, string, string, string, string | undefined];
    e.node('Transpose', [v], { perm: ints([0, 1, 3, 2]) }, [p.name('valuesT')]);
    e.node('MatMul', [g, p.name('valuesT')], undefined, [p.name(mapsGrad ? 'outputProbsGrad' : 'probsGrad')]);
    if (mapsGrad) {
      const heads = e.t.inputs[0]!.shape[1]!;
      const [b, l, n] = e.t.inputs[4]!.shape as [number, number, number];
      e.node('Div', [mapsGrad, e.floats([heads])], undefined, [p.name('headMapsGrad')]);
      e.node('Reshape', [p.name('headMapsGrad'), e.int64s([b, 1, l, n])], undefined, [p.name('everyHeadMapsGrad')]);
      e.node('Add', [p.name('outputProbsGrad'), p.name('everyHeadMapsGrad')], undefined, [p.name('probsGrad')]);
    }
    onnxQueryOrKeyGrad(e, e.spec.wrt, p, p.name('probsGrad'));
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'attentionGrad'>>;

const valuesGradEntry = {
  arity: 3,
  shape: (spec, [q, k, g], c) => {
    const x = operands(spec, c, q!, k!);
    c.float(g!);
    if (g!.shape.length !== 4 || shapeStr(g!.shape.slice(0, 3)) !== shapeStr([x.b, x.heads, x.l])) {
      c.fail(`the gradient is ${shapeStr(g!.shape)}; the forward result is [${x.b},${x.heads},${x.l},values]`);
    }
    return float([x.kb, x.heads, x.n, g!.shape[3]!]);
  },
  reference: (_, spec, [q, k, g]) =>
    ref.attentionValuesGrad(data(q), data(k), data(g), ref.attentionDims(q!.shape, k!.shape, g!.shape), spec.scale),
  vjp: null,
  onnx: (e) => {
    const p = onnxProbs(e);
    e.node('Transpose', [p.probs], { perm: ints([0, 1, 3, 2]) }, [p.name('probsT')]);
    const shared = e.t.shape[0] !== e.t.inputs[0]!.shape[0];
    e.node('MatMul', [p.name('probsT'), e.ins[2]!], undefined, [shared ? p.name('valuesGrad') : e.out]);
    if (shared) e.node('ReduceSum', [p.name('valuesGrad'), e.int64s([0])], { keepdims: int(1) });
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'attentionValuesGrad'>>;

const headMeanGradEntry = {
  arity: 3,
  shape: (spec, [q, k, g], c) => {
    const x = operands(spec, c, q!, k!);
    gradientOf(c, g!, mapShape(x));
    return float([...{ q, k }[spec.wrt]!.shape]);
  },
  reference: (_, spec, [q, k, g]) =>
    ref.attentionHeadMeanGrad(data(q), data(k), data(g), ref.attentionDims(q!.shape, k!.shape), spec.scale, spec.wrt),
  vjp: null,
  onnx: (e) => {
    const p = onnxProbs(e);
    const [b, heads, l] = e.t.inputs[0]!.shape as [number, number, number];
    const n = e.t.inputs[1]!.shape[2]!;
    // Every head's probabilities get the maps' gradient divided by the head count.
    e.node('Reshape', [e.ins[2]!, e.int64s([b, 1, l, n])], undefined, [p.name('mapsGrad')]);
    e.node('Div', [p.name('mapsGrad'), e.floats([heads])], undefined, [p.name('probsGrad')]);
    onnxQueryOrKeyGrad(e, e.spec.wrt, p, p.name('probsGrad'));
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'attentionHeadMeanGrad'>>;

export const ATTENTION_OPS = {
  attention: attentionEntry,
  attentionHeadMean: headMeanEntry,
  attentionGrad: attentionGradEntry,
  attentionValuesGrad: valuesGradEntry,
  attentionHeadMeanGrad: headMeanGradEntry,
};

// The op table: everything the engine knows about each IR op, in one entry per op. Shape
// inference (ir.ts), the float64 interpreter (interpret.ts), autodiff (autodiff.ts), the ONNX
// emitter (onnx/emit.ts) and the CUDA planner (cuda/fuse.ts, cuda/lower/) all walk this table, so
// an op added to ir.ts's OpSpec without an entry here, or an entry without a CUDA lowering, does
// not compile. Ops come in groups (unary, binary, compare, reduce, axis-wise); a group's builder
// holds what its ops share, and each line holds what is the op's own.
import type { EwOp } from '../cuda/program.js';
import type { AttributeValue } from '../onnx/proto.js';
import type { OnnxOp } from '../onnx/supportedOps.js';
import {
  convInputGrad,
  extremum,
  inversePerm,
  noWeightGrad,
  padBack,
  reducedCount,
  swapLast,
  toMaxima,
  unconcat,
  unreduced,
  type Grad,
} from './gradients.js';
import type { DType, OpName, OpSpec, Shape, Tensor, WeightRef } from './ir.js';
import { broadcastShapes, numel, shapeStr } from './ir.js';
import { ATTENTION_OPS } from './attentionOps.js';
import { GEGLU_OPS } from './gegluOps.js';
import { NORM_OPS } from './normOps.js';
import * as o from './ops.js';
import * as ref from './reference.js';
import type { ReferenceData, ReferenceValue } from './reference.js';

/** The spec of op K (grouped specs such as `{ op: UnaryOp }` included). */
export type Spec<K extends OpName> = OpSpec extends infer S
  ? S extends { op: infer O }
    ? K extends O
      ? S
      : never
    : never
  : never;

// What each part of an entry is given ------------------------------------------------------------

/** Checks for shape rules; each failure names the op, where it was built and its input shapes. */
export interface ShapeCheck {
  fail(msg: string): never;
  /** Fails unless every tensor is float32. */
  float(...ts: readonly Tensor[]): void;
  /** `axis` of the first input made non-negative, failing when out of range. */
  axis(axis: number): number;
}

export interface Inferred {
  shape: Shape;
  dtype: DType;
}

/** How the interpreter gets the values of leaves that come from outside the graph. */
export interface LeafValues {
  feed(t: Tensor, name: string): ReferenceData;
  weight(t: Tensor, ref: WeightRef): Float64Array;
}

/** `g` is the gradient of the loss at the node's output `y`; returns one Grad per input (null: none). */
export type VjpRule<S extends OpSpec> = (g: Tensor, y: Tensor, x: readonly [Tensor, Tensor, Tensor], spec: S) => Grad[];

/** What the ONNX emitter offers one IR node's mapping. */
export interface OnnxNodeEmitter<S extends OpSpec> {
  t: Tensor;
  spec: S;
  /** ONNX value names of the IR inputs. */
  ins: readonly string[];
  /** ONNX value name of this node's value. */
  out: string;
  /** Adds an ONNX node; by default it reads `ins` and writes `out`. */
  node(
    opType: OnnxOp,
    inputs?: readonly string[],
    attributes?: Record<string, AttributeValue>,
    outputs?: readonly string[],
  ): void;
  /** A shared 1-D int64 initializer (axes, shapes, starts…). */
  int64s(values: readonly number[]): string;
  /** A shared 1-D float initializer (scales). */
  floats(values: readonly number[]): string;
  /** TensorProto.DataType of an IR dtype. */
  dataType(d: DType): number;
  /** Leaves: a graph input, an initializer, a weight from the user's file. */
  input(name: string): void;
  constant(data: Float32Array | BigInt64Array | Uint8Array): void;
  weight(ref: WeightRef): void;
}

/** Register-machine instructions of the fused elementwise kernel (cuda/program.ts, src/ew_ops.h). */
export type EwCode = keyof typeof EwOp;

/**
 * How an op runs inside a fused elementwise kernel (cuda/fuse.ts): one instruction on registers
 * (unary, binary, compare, select), a type conversion, a re-indexing of its input (free inside a
 * kernel), or an immediate value.
 */
export type Fused =
  | { kind: 'unary'; code: EwCode; scalar: (x: number) => number }
  | { kind: 'binary'; code: EwCode; scalar: (x: number, y: number) => number }
  | { kind: 'compare'; float: EwCode; int: EwCode | null }
  | { kind: 'select'; float: EwCode; int: EwCode }
  | { kind: 'convert' }
  | { kind: 'reindex' }
  | { kind: 'immediate' };

/** An op with a lowering of its own in cuda/lower/ (a GEMM, a reduction, a copy…), not fused. */
export const lowered = 'lowered' as const;

/** The entry of the op whose spec is S. */
export interface OpDef<S extends OpSpec> {
  /** Inputs taken: a count, 'many' (one or more), or 'leaf' (made by the Graph's own builders). */
  arity: number | 'many' | 'leaf';
  /** Output shape and dtype; may normalise the spec (negative axes, -1 in a reshape). */
  shape(spec: S, inputs: readonly Tensor[], check: ShapeCheck): Inferred;
  /** The float64 reference kernel. */
  reference(t: Tensor, spec: S, args: readonly ReferenceValue[], leaves: LeafValues): ReferenceData;
  /** The vector-Jacobian rule; null where no gradient passes (the op is not differentiable). */
  vjp: VjpRule<S> | null;
  onnx(e: OnnxNodeEmitter<S>): void;
  cuda: Fused | typeof lowered;
}

// Shared rules ---------------------------------------------------------------------------------

const int = (value: number): AttributeValue => ({ kind: 'int', value });
const ints = (value: readonly number[]): AttributeValue => ({ kind: 'ints', value });
const bool = (value: boolean): AttributeValue => int(value ? 1 : 0);

const leafShape = (_: unknown, __: unknown, c: ShapeCheck): never =>
  c.fail('leaves are created with their own builder');
const sameShape =
  (float: boolean) =>
  (_: unknown, [a]: readonly Tensor[], c: ShapeCheck) => {
    if (float) c.float(a!);
    return { shape: a!.shape, dtype: a!.dtype };
  };
const broadcast =
  (result: 'same' | 'bool', float: boolean) =>
  (_: unknown, [a, b]: readonly Tensor[], c: ShapeCheck): Inferred => {
    if (a!.dtype !== b!.dtype) c.fail('input dtypes differ');
    if (float) c.float(a!, b!);
    const shape = broadcastShapes(a!.shape, b!.shape);
    if (!shape) return c.fail('shapes do not broadcast');
    return { shape, dtype: result === 'bool' ? 'bool' : a!.dtype };
  };
const passThrough = (_: Tensor, __: unknown, [a]: readonly ReferenceValue[]) => a!.data;
const onnxOp =
  (opType: OnnxOp) =>
  (e: OnnxNodeEmitter<OpSpec>): void =>
    e.node(opType);

/** A rule that needs no attribute of its op (every elementwise op's). */
type PlainRule = (g: Tensor, y: Tensor, x: readonly [Tensor, Tensor, Tensor]) => Grad[];

const unary = (scalar: (x: number) => number, onnx: OnnxOp, code: EwCode, vjp: PlainRule | null) => ({
  arity: 1,
  shape: sameShape(true),
  reference: (_: Tensor, __: unknown, [a]: readonly ReferenceValue[]) => ref.mapFloats(a!, scalar),
  vjp,
  onnx: onnxOp(onnx),
  cuda: { kind: 'unary' as const, code, scalar },
});

const binary = (scalar: (x: number, y: number) => number, onnx: OnnxOp, code: EwCode, vjp: PlainRule | null) => ({
  arity: 2,
  shape: broadcast('same', true),
  reference: (t: Tensor, _: unknown, [a, b]: readonly ReferenceValue[]) => ref.zipBroadcast(t, a!, b!, scalar),
  vjp,
  onnx: onnxOp(onnx),
  cuda: { kind: 'binary' as const, code, scalar },
});

const compare = (scalar: (x: number, y: number) => number, onnx: OnnxOp, code: EwCode) => ({
  arity: 2,
  shape: broadcast('bool', true),
  reference: (t: Tensor, _: unknown, [a, b]: readonly ReferenceValue[]) => ref.zipBroadcast(t, a!, b!, scalar),
  vjp: null,
  onnx: onnxOp(onnx),
  cuda: { kind: 'compare' as const, float: code, int: null },
});

type ReduceSpec = Spec<'reduceSum' | 'reduceMean' | 'reduceMax'>;
const reduction = (
  onnx: OnnxOp,
  vjp: (g: Tensor, y: Tensor, x: readonly [Tensor, Tensor, Tensor], spec: ReduceSpec) => Grad[],
) => ({
  arity: 1,
  shape: (spec: ReduceSpec, [a]: readonly Tensor[], c: ShapeCheck): Inferred => {
    c.float(a!);
    const axes = spec.axes.map((x) => c.axis(x));
    if (new Set(axes).size !== axes.length) c.fail('repeated axis');
    spec.axes = [...axes].sort((x, y) => x - y);
    const shape = spec.keepDims
      ? a!.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : a!.shape.filter((_, i) => !axes.includes(i));
    return { shape, dtype: 'float32' };
  },
  reference: (_: Tensor, spec: ReduceSpec, [a]: readonly ReferenceValue[]) => ref.reduce(spec.op, a!, spec.axes),
  vjp,
  // ONNX reads empty axes as "reduce everything"; the IR means "reduce nothing".
  onnx: (e: OnnxNodeEmitter<ReduceSpec>) =>
    e.spec.axes.length === 0
      ? e.node('Identity')
      : e.node(onnx, [e.ins[0]!, e.int64s(e.spec.axes)], { keepdims: bool(e.spec.keepDims) }),
  cuda: lowered,
});

/** Ops along one axis of a float input (softmax, argMax, topKIndices): the axis is normalised and checked. */
const alongAxis =
  <S extends Spec<'softmax' | 'argMax' | 'topKIndices'>>(result: (spec: S, a: Tensor, c: ShapeCheck) => Inferred) =>
  (spec: S, [a]: readonly Tensor[], c: ShapeCheck): Inferred => {
    c.float(a!);
    spec.axis = c.axis(spec.axis);
    return result(spec, a!, c);
  };

const convShape = (spec: Spec<'conv2d' | 'convTranspose2d'>, [a, w]: readonly Tensor[], c: ShapeCheck): Inferred => {
  c.float(a!, w!);
  if (a!.shape.length !== 4 || w!.shape.length !== 4) c.fail('expects NCHW input and 4-d weight');
  const [n, ch, h, wd] = a!.shape as [number, number, number, number];
  const [w0, w1, kh, kw] = w!.shape as [number, number, number, number];
  const { stride, pad } = spec;
  if (spec.op === 'conv2d') {
    if (w1 !== ch) c.fail(`weight expects ${w1} input channels, input has ${ch}`);
    const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
    const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
    if (oh <= 0 || ow <= 0) c.fail('kernel larger than padded input');
    return { shape: [n, w0, oh, ow], dtype: 'float32' };
  }
  // ConvTranspose weight layout is [C_in, C_out, kh, kw] as in ONNX and PyTorch.
  if (w0 !== ch) c.fail(`weight expects ${w0} input channels, input has ${ch}`);
  const oh = (h - 1) * stride - 2 * pad + kh + spec.outputPad;
  const ow = (wd - 1) * stride - 2 * pad + kw + spec.outputPad;
  return { shape: [n, w1, oh, ow], dtype: 'float32' };
};

const convOnnx = (e: OnnxNodeEmitter<Spec<'conv2d' | 'convTranspose2d'>>) => {
  const w = e.t.inputs[1]!.shape;
  const { spec } = e;
  const attrs: Record<string, AttributeValue> = {
    kernel_shape: ints([w[2]!, w[3]!]),
    strides: ints([spec.stride, spec.stride]),
    pads: ints([spec.pad, spec.pad, spec.pad, spec.pad]),
    dilations: ints([1, 1]),
    group: int(1),
  };
  if (spec.op === 'convTranspose2d') attrs.output_padding = ints([spec.outputPad, spec.outputPad]);
  e.node(spec.op === 'conv2d' ? 'Conv' : 'ConvTranspose', e.ins, attrs);
};

const indicesLike = (a: Tensor, idx: Tensor, c: ShapeCheck) => {
  if (idx.dtype !== 'int64' || idx.shape.length !== a.shape.length) c.fail('indices must be int64 of the same rank');
};

const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// The table ----------------------------------------------------------------------------------
// Rules may return gradients in the broadcast (output) shape; the walk sums them down with sumTo.

export const OPSET = {
  input: {
    arity: 'leaf',
    shape: leafShape,
    reference: (t, spec, _, leaves) => leaves.feed(t, spec.name),
    vjp: null,
    onnx: (e) => e.input(e.spec.name),
    cuda: lowered,
  },
  constant: {
    arity: 'leaf',
    shape: leafShape,
    reference: (_, { data }) => (data instanceof Float32Array ? Float64Array.from(data) : data.slice()),
    vjp: null,
    onnx: (e) => e.constant(e.spec.data),
    cuda: lowered,
  },
  fill: {
    arity: 'leaf',
    shape: leafShape,
    reference: (t, spec) => new Float64Array(numel(t.shape)).fill(spec.value),
    vjp: null,
    onnx: (e) =>
      e.node('ConstantOfShape', [e.int64s(e.t.shape)], {
        value: {
          kind: 'tensor',
          value: { name: 'value', dataType: 'float', dims: [1], raw: bytesOf(Float32Array.of(e.spec.value)) },
        },
      }),
    cuda: { kind: 'immediate' },
  },
  weight: {
    arity: 'leaf',
    shape: leafShape,
    reference: (t, spec, _, leaves) => leaves.weight(t, spec.ref),
    vjp: null,
    onnx: (e) => e.weight(e.spec.ref),
    cuda: lowered,
  },

  neg: unary(
    (x) => -x,
    'Neg',
    'NEG',
    (g) => [() => o.neg(g)],
  ),
  exp: unary(Math.exp, 'Exp', 'EXP', (g, y) => [() => o.mul(g, y)]),
  log: unary(Math.log, 'Log', 'LOG', (g, _, [x]) => [() => o.div(g, x)]),
  sqrt: unary(Math.sqrt, 'Sqrt', 'SQRT', (g, y) => [() => o.div(g, o.mul(y, 2))]),
  erf: unary(ref.erf, 'Erf', 'ERF', (g, _, [x]) => [
    () => o.mul(g, o.mul(o.exp(o.neg(o.mul(x, x))), 2 / Math.sqrt(Math.PI))),
  ]),
  sigmoid: unary(ref.sigmoid, 'Sigmoid', 'SIGMOID', (g, y) => [() => o.mul(g, o.mul(y, o.sub(1, y)))]),
  tanh: unary(Math.tanh, 'Tanh', 'TANH', (g, y) => [() => o.mul(g, o.sub(1, o.mul(y, y)))]),
  floor: unary(Math.floor, 'Floor', 'FLOOR', null),
  abs: unary(Math.abs, 'Abs', 'ABS', (g, _, [x]) => [
    () => o.mul(g, o.sub(o.cast(o.greater(x, 0), 'float32'), o.cast(o.less(x, 0), 'float32'))),
  ]),
  // log(1 + eˣ), written to neither overflow for large x nor cancel for very negative x.
  softplus: unary(
    (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
    'Softplus',
    'SOFTPLUS',
    (g, _, [x]) => [() => o.mul(g, o.sigmoid(x))],
  ),

  add: binary(
    (x, y) => x + y,
    'Add',
    'ADD',
    (g) => [() => g, () => g],
  ),
  sub: binary(
    (x, y) => x - y,
    'Sub',
    'SUB',
    (g) => [() => g, () => o.neg(g)],
  ),
  mul: binary(
    (x, y) => x * y,
    'Mul',
    'MUL',
    (g, _, [a, b]) => [() => o.mul(g, b), () => o.mul(g, a)],
  ),
  div: binary(
    (x, y) => x / y,
    'Div',
    'DIV',
    (g, y, [, b]) => [() => o.div(g, b), () => o.neg(o.mul(g, o.div(y, b)))],
  ),
  // d/de aᵉ = aᵉ·ln a exists only for a > 0; elsewhere it is taken as 0.
  pow: binary(Math.pow, 'Pow', 'POW', (g, y, [a, e]) => [
    () => o.mul(g, o.mul(e, o.pow(a, o.sub(e, 1)))),
    () => o.where(o.greater(a, 0), o.mul(g, o.mul(y, o.log(a))), 0),
  ]),
  min: binary(Math.min, 'Min', 'MIN', (g, y, [a, b]) => extremum(g, y, a, b)),
  max: binary(Math.max, 'Max', 'MAX', (g, y, [a, b]) => extremum(g, y, a, b)),

  // equal also compares int64 and bool; less and greater compare floats.
  equal: {
    ...compare((x, y) => (x === y ? 1 : 0), 'Equal', 'EQ_F'),
    shape: broadcast('bool', false),
    reference: (t, _, [a, b]) => ref.equal(t, a!, b!),
    cuda: { kind: 'compare', float: 'EQ_F', int: 'EQ_I' },
  },
  less: compare((x, y) => (x < y ? 1 : 0), 'Less', 'LT_F'),
  greater: compare((x, y) => (x > y ? 1 : 0), 'Greater', 'GT_F'),

  where: {
    arity: 3,
    shape: (_, [c, x, y], check) => {
      if (c!.dtype !== 'bool') check.fail('condition must be bool');
      if (x!.dtype !== y!.dtype) check.fail('branch dtypes differ');
      const s1 = broadcastShapes(c!.shape, x!.shape);
      const shape = s1 && broadcastShapes(s1, y!.shape);
      if (!shape) return check.fail('shapes do not broadcast');
      return { shape, dtype: x!.dtype };
    },
    reference: (t, _, [c, x, y]) => ref.where(t, c!, x!, y!),
    vjp: (g, _, [c]) => [null, () => o.where(c, g, 0), () => o.where(c, 0, g)],
    onnx: onnxOp('Where'),
    cuda: { kind: 'select', float: 'WHERE_F', int: 'WHERE_I' },
  },
  cast: {
    arity: 1,
    shape: (spec, [a]) => ({ shape: a!.shape, dtype: spec.to }),
    reference: (_, spec, [a]) => ref.castData(a!, spec.to),
    // Only float→float casts reach here: casts from or to int64/bool carry no gradient.
    vjp: (g) => [() => g],
    onnx: (e) => e.node('Cast', e.ins, { to: int(e.dataType(e.spec.to)) }),
    cuda: { kind: 'convert' },
  },
  stopGradient: {
    arity: 1,
    shape: sameShape(false),
    reference: passThrough,
    vjp: null,
    onnx: onnxOp('Identity'),
    cuda: lowered,
  },

  matmul: {
    arity: 2,
    shape: (_, [a, b], c) => {
      c.float(a!, b!);
      if (a!.shape.length < 2 || b!.shape.length < 2) c.fail('operands need rank >= 2');
      const m = a!.shape[a!.shape.length - 2]!;
      const k = a!.shape[a!.shape.length - 1]!;
      const k2 = b!.shape[b!.shape.length - 2]!;
      const n = b!.shape[b!.shape.length - 1]!;
      if (k !== k2) c.fail(`inner dimensions ${k} and ${k2} differ`);
      const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
      if (!batch) return c.fail('batch dimensions do not broadcast');
      return { shape: [...batch, m, n], dtype: 'float32' };
    },
    reference: (t, _, [a, b]) => ref.matmul(a!, b!, t.shape),
    vjp: (g, _, [a, b]) => [() => o.matmul(g, swapLast(b)), () => o.matmul(swapLast(a), g)],
    onnx: onnxOp('MatMul'),
    cuda: lowered,
  },
  conv2d: {
    arity: 2,
    shape: convShape,
    reference: (t, spec, [x, w]) => ref.conv2d(x!, w!, t.shape, spec.stride, spec.pad),
    vjp: (g, y, [x, w], spec) => [() => convInputGrad(g, y, x, w, spec), () => noWeightGrad(y)],
    onnx: convOnnx,
    cuda: lowered,
  },
  convTranspose2d: {
    arity: 2,
    shape: convShape,
    reference: (t, spec, [x, w]) => ref.convTranspose2d(x!, w!, t.shape, spec.stride, spec.pad),
    vjp: (g, y, [, w], { stride, pad }) => [() => o.conv2d(g, w, { stride, pad }), () => noWeightGrad(y)],
    onnx: convOnnx,
    cuda: lowered,
  },

  reduceSum: reduction('ReduceSum', (g, _, [x], { axes }) => [() => o.expand(unreduced(g, axes, x), x.shape)]),
  reduceMean: reduction('ReduceMean', (g, _, [x], { axes }) => [
    () => o.expand(o.div(unreduced(g, axes, x), reducedCount(axes, x)), x.shape),
  ]),
  reduceMax: reduction('ReduceMax', (g, y, [x], { axes }) => [() => toMaxima(g, y, x, axes)]),

  argMax: {
    arity: 1,
    shape: alongAxis<Spec<'argMax'>>((spec, a) => ({
      shape: spec.keepDims
        ? a.shape.map((d, i) => (i === spec.axis ? 1 : d))
        : a.shape.filter((_, i) => i !== spec.axis),
      dtype: 'int64',
    })),
    reference: (_, spec, [a]) => ref.argMax(a!, spec.axis),
    vjp: null,
    onnx: (e) => e.node('ArgMax', e.ins, { axis: int(e.spec.axis), keepdims: bool(e.spec.keepDims) }),
    cuda: lowered,
  },
  topKIndices: {
    arity: 1,
    shape: alongAxis<Spec<'topKIndices'>>((spec, a, c) => {
      const ax = spec.axis;
      if (spec.k < 1 || spec.k > a.shape[ax]!) c.fail(`k=${spec.k} outside 1..${a.shape[ax]}`);
      return { shape: a.shape.map((d, i) => (i === ax ? spec.k : d)), dtype: 'int64' };
    }),
    reference: (_, spec, [a]) => ref.topK(a!, spec.k, spec.axis, spec.largest),
    vjp: null,
    onnx: (e) =>
      e.node(
        'TopK',
        [e.ins[0]!, e.int64s([e.spec.k])],
        { axis: int(e.spec.axis), largest: bool(e.spec.largest), sorted: int(1) },
        [`${e.out}:values`, e.out],
      ),
    cuda: lowered,
  },
  softmax: {
    arity: 1,
    shape: alongAxis((_, a) => ({ shape: a.shape, dtype: 'float32' })),
    reference: (_, spec, [a]) => ref.softmax(a!, spec.axis),
    vjp: (g, y, _, { axis }) => [() => o.mul(y, o.sub(g, o.sum(o.mul(g, y), [axis], true)))],
    onnx: (e) => e.node('Softmax', e.ins, { axis: int(e.spec.axis) }),
    cuda: lowered,
  },
  ...ATTENTION_OPS,
  ...NORM_OPS,
  ...GEGLU_OPS,

  reshape: {
    arity: 1,
    shape: (spec, [a], c) => {
      let shape = [...spec.shape];
      const free = shape.indexOf(-1);
      if (free >= 0) {
        const rest = numel(shape.filter((_, i) => i !== free));
        if (rest === 0 || numel(a!.shape) % rest !== 0) c.fail(`cannot infer -1 in ${shapeStr(spec.shape)}`);
        shape[free] = numel(a!.shape) / rest;
        spec.shape = shape;
      }
      shape = spec.shape;
      if (numel(shape) !== numel(a!.shape)) c.fail(`cannot reshape to ${shapeStr(shape)}`);
      return { shape, dtype: a!.dtype };
    },
    reference: passThrough,
    vjp: (g, _, [x]) => [() => o.reshape(g, x.shape)],
    onnx: (e) =>
      e.node('Reshape', [e.ins[0]!, e.int64s(e.t.shape)], e.t.shape.includes(0) ? { allowzero: int(1) } : undefined),
    cuda: lowered,
  },
  transpose: {
    arity: 1,
    shape: (spec, [a], c) => {
      const rank = a!.shape.length;
      const sorted = [...spec.perm].sort((x, y) => x - y);
      if (spec.perm.length !== rank || sorted.some((v, i) => v !== i)) {
        c.fail(`perm ${shapeStr(spec.perm)} is not a permutation of rank ${rank}`);
      }
      return { shape: spec.perm.map((p) => a!.shape[p]!), dtype: a!.dtype };
    },
    reference: (_, spec, [a]) => ref.transpose(a!, spec.perm),
    vjp: (g, _, __, { perm }) => [() => o.transpose(g, inversePerm(perm))],
    onnx: (e) => e.node('Transpose', e.ins, { perm: ints(e.spec.perm) }),
    cuda: { kind: 'reindex' },
  },
  expand: {
    arity: 1,
    shape: (spec, [a], c) => {
      const shape = broadcastShapes(a!.shape, spec.shape);
      if (!shape || shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
        return c.fail(`cannot expand to ${shapeStr(spec.shape)}`);
      }
      return { shape, dtype: a!.dtype };
    },
    reference: (t, _, [a]) => ref.expand(t, a!),
    vjp: (g) => [() => g],
    onnx: (e) => e.node('Expand', [e.ins[0]!, e.int64s(e.t.shape)]),
    cuda: { kind: 'reindex' },
  },
  concat: {
    arity: 'many',
    shape: (spec, inputs, c) => {
      const a = inputs[0]!;
      const rank = a.shape.length;
      const ax = (spec.axis = c.axis(spec.axis));
      let total = 0;
      for (const t of inputs) {
        if (t.dtype !== a.dtype || t.shape.length !== rank || t.shape.some((d, i) => i !== ax && d !== a.shape[i])) {
          c.fail(`inputs disagree off axis ${ax}`);
        }
        total += t.shape[ax]!;
      }
      return { shape: a.shape.map((d, i) => (i === ax ? total : d)), dtype: a.dtype };
    },
    reference: (t, spec, args) => ref.concat([...args], spec.axis, t),
    vjp: (g, y, _, spec) => unconcat(g, y, spec),
    onnx: (e) => e.node('Concat', e.ins, { axis: int(e.spec.axis) }),
    cuda: lowered,
  },
  slice: {
    arity: 1,
    shape: (spec, [a], c) => {
      const ax = (spec.axis = c.axis(spec.axis));
      const dim = a!.shape[ax]!;
      if (spec.start < 0 || spec.end > dim || spec.start >= spec.end) {
        c.fail(`range ${spec.start}:${spec.end} outside axis of size ${dim}`);
      }
      return { shape: a!.shape.map((d, i) => (i === ax ? spec.end - spec.start : d)), dtype: a!.dtype };
    },
    reference: (t, spec, [a]) => ref.slice(a!, spec.axis, spec.start, spec.end, t.dtype),
    vjp: (g, _, [x], spec) => [() => padBack(g, spec, x)],
    onnx: (e) =>
      e.node('Slice', [e.ins[0]!, e.int64s([e.spec.start]), e.int64s([e.spec.end]), e.int64s([e.spec.axis])]),
    cuda: lowered,
  },
  gatherElements: {
    arity: 2,
    shape: (spec, [a, idx], c) => {
      spec.axis = c.axis(spec.axis);
      indicesLike(a!, idx!, c);
      return { shape: idx!.shape, dtype: a!.dtype };
    },
    reference: (t, spec, [x, idx]) => ref.gatherElements(t, x!, idx!, spec.axis),
    vjp: (g, _, [x, idx], { axis }) => [() => o.scatterAddElements(g.graph.fill(0, x.shape), idx, g, axis), null],
    onnx: (e) => e.node('GatherElements', e.ins, { axis: int(e.spec.axis) }),
    cuda: lowered,
  },
  // inputs: base (the result's shape, usually zeros), indices, updates.
  scatterAddElements: {
    arity: 3,
    shape: (spec, [a, idx, upd], c) => {
      spec.axis = c.axis(spec.axis);
      indicesLike(a!, idx!, c);
      if (upd!.shape.length !== a!.shape.length || upd!.shape.some((d, i) => d !== idx!.shape[i])) {
        c.fail('updates must match indices in shape');
      }
      c.float(a!, upd!);
      return { shape: a!.shape, dtype: a!.dtype };
    },
    reference: (t, spec, [base, idx, upd]) => ref.scatterAddElements(t, base!, idx!, upd!, spec.axis),
    vjp: (g, _, [, idx], { axis }) => [() => g, null, () => o.gatherElements(g, idx, axis)],
    onnx: (e) =>
      e.node('ScatterElements', e.ins, { axis: int(e.spec.axis), reduction: { kind: 'string', value: 'add' } }),
    cuda: lowered,
  },
} satisfies { [K in OpName]: OpDef<Spec<K>> };

/**
 * An op's entry, seen through the common OpDef type. TypeScript cannot correlate `OPSET[op]`
 * with `spec` for a union op, so walkers read entries through this one cast.
 */
export const opDef = (op: OpName): OpDef<OpSpec> => OPSET[op] as unknown as OpDef<OpSpec>;

export const opNames = Object.keys(OPSET) as OpName[];

/** Ops that pass a gradient to their inputs; every other op (argMax, topK, compares, floor, stopGradient, leaves) blocks it. */
export const differentiableOps: ReadonlySet<OpName> = new Set(opNames.filter((op) => opDef(op).vjp !== null));

/** Ops that run inside fused elementwise kernels on CUDA; every other op has a lowering of its own. */
export type FusedOp = { [K in OpName]: (typeof OPSET)[K]['cuda'] extends typeof lowered ? never : K }[OpName];
export type LoweredOp = Exclude<OpName, FusedOp>;

export const fusedOps: ReadonlySet<OpName> = new Set(opNames.filter((op) => opDef(op).cuda !== lowered));

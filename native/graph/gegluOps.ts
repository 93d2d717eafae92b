// The op-table entries of GEGLU, the gate of diffusers' feed-forward (opset.ts): with
// p = h + bias split into halves [value, gate] along the last axis, value · GELU(gate), and the
// gradient with respect to h. One op each, so that a backend computes them in one pass over h:
// the composite took seven kernels forward (the bias, a copy of one half, five for the GELU and
// the product), and kept four intermediates for its backward. ONNX gets the composite as
// standard nodes, in its order.
import type { AttributeValue } from '../onnx/proto.js';
import type { Tensor } from './ir.js';
import { shapeStr } from './ir.js';
import type { lowered, OnnxNodeEmitter, OpDef, ShapeCheck, Spec } from './opset.js';
import * as o from './ops.js';
import * as ref from './reference.js';
import type { ReferenceValue } from './reference.js';

type GegluSpec = Spec<'geglu' | 'gegluGrad'>;

const int = (value: number): AttributeValue => ({ kind: 'int', value });
const data = (v: ReferenceValue | undefined) => v!.data as Float64Array;

// opset.ts imports this module, so its `lowered` value is not yet defined here: spelled out.
const ownLowering: typeof lowered = 'lowered';

/** Checks h [..., 2C] and bias [2C]; returns C. */
function halves(c: ShapeCheck, h: Tensor, bias: Tensor): number {
  c.float(h, bias);
  const width = h.shape[h.shape.length - 1];
  if (width === undefined || width % 2 !== 0) c.fail(`h's last axis (${shapeStr(h.shape)}) does not split in halves`);
  if (shapeStr(bias.shape) !== shapeStr([width])) c.fail(`bias is ${shapeStr(bias.shape)}; h's last axis is ${width}`);
  return width / 2;
}

/** ONNX: the value half a, the gate half z, and the composite's GELU pieces. */
function onnxHalves(e: OnnxNodeEmitter<GegluSpec>) {
  const [h, bias] = e.ins as [string, string];
  const name = (what: string) => `${e.out}:${what}`;
  const inner = e.t.inputs[0]!.shape.at(-1)! / 2;
  const last = e.int64s([-1]);
  e.node('Add', [h, bias], undefined, [name('projected')]);
  e.node('Slice', [name('projected'), e.int64s([0]), e.int64s([inner]), last], undefined, [name('value')]);
  e.node('Slice', [name('projected'), e.int64s([inner]), e.int64s([2 * inner]), last], undefined, [name('gate')]);
  e.node('Mul', [name('gate'), e.floats([0.5])], undefined, [name('halfGate')]);
  e.node('Mul', [name('gate'), e.floats([Math.SQRT1_2])], undefined, [name('scaledGate')]);
  e.node('Erf', [name('scaledGate')], undefined, [name('erf')]);
  e.node('Add', [name('erf'), e.floats([1])], undefined, [name('onePlusErf')]);
  e.node('Mul', [name('halfGate'), name('onePlusErf')], undefined, [name('gelu')]);
  return { name, value: name('value'), gate: name('gate'), gelu: name('gelu'), onePlusErf: name('onePlusErf') };
}

const gegluEntry = {
  arity: 2,
  shape: (_, [h, bias], c) => {
    const inner = halves(c, h!, bias!);
    return { shape: [...h!.shape.slice(0, -1), inner], dtype: 'float32' as const };
  },
  reference: (_, __, [h, bias]) => ref.geglu(data(h), data(bias), h!.shape),
  vjp: (g, _, [h, bias]) => {
    let dh: Tensor | undefined;
    const hGrad = () => (dh ??= o.gegluGrad(h, bias, g));
    return [
      hGrad,
      () =>
        o.sum(
          hGrad(),
          h.shape.slice(0, -1).map((__, i) => i),
        ),
    ];
  },
  onnx: (e) => {
    const s = onnxHalves(e);
    e.node('Mul', [s.value, s.gelu]);
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'geglu'>>;

// h, the bias and the output's gradient g: the value half's gradient g · GELU(z), the gate's
// g · a · GELU'(z), with GELU'(z) = (1 + erf(z/√2)) / 2 + z · e^(−z²/2) / √(2π).
const gegluGradEntry = {
  arity: 3,
  shape: (_, [h, bias, g], c) => {
    const inner = halves(c, h!, bias!);
    c.float(g!);
    if (shapeStr(g!.shape) !== shapeStr([...h!.shape.slice(0, -1), inner])) {
      c.fail(
        `the gradient is ${shapeStr(g!.shape)}; the forward result is ${shapeStr([...h!.shape.slice(0, -1), inner])}`,
      );
    }
    return { shape: h!.shape, dtype: 'float32' as const };
  },
  reference: (_, __, [h, bias, g]) => ref.gegluGrad(data(h), data(bias), data(g), h!.shape),
  vjp: null,
  onnx: (e) => {
    const s = onnxHalves(e);
    const g = e.ins[2]!;
    e.node('Mul', [g, s.gelu], undefined, [s.name('valueGrad')]);
    e.node('Mul', [s.gate, s.gate], undefined, [s.name('gateSquared')]);
    e.node('Mul', [s.name('gateSquared'), e.floats([-0.5])], undefined, [s.name('exponent')]);
    e.node('Exp', [s.name('exponent')], undefined, [s.name('bell')]);
    e.node('Mul', [s.name('bell'), e.floats([1 / Math.sqrt(2 * Math.PI)])], undefined, [s.name('density')]);
    e.node('Mul', [s.gate, s.name('density')], undefined, [s.name('gateDensity')]);
    e.node('Mul', [s.onePlusErf, e.floats([0.5])], undefined, [s.name('cdf')]);
    e.node('Add', [s.name('cdf'), s.name('gateDensity')], undefined, [s.name('geluSlope')]);
    e.node('Mul', [g, s.value], undefined, [s.name('gValue')]);
    e.node('Mul', [s.name('gValue'), s.name('geluSlope')], undefined, [s.name('gateGrad')]);
    e.node('Concat', [s.name('valueGrad'), s.name('gateGrad')], { axis: int(-1) });
  },
  cuda: ownLowering,
} satisfies OpDef<Spec<'gegluGrad'>>;

export const GEGLU_OPS = {
  geglu: gegluEntry,
  gegluGrad: gegluGradEntry,
};

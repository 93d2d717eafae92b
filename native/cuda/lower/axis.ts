// Ops along one axis of a float tensor, seen as [outer, size, inner]: one kernel each.
import type { Spec } from '../../graph/opset.js';
import { around } from '../layout.js';
import { Opcode } from '../program.js';
import type { Lowering, PlanContext } from './context.js';
import type { Tensor } from '../../graph/ir.js';

const alongAxis = (t: Tensor, axis: number, s: number, p: PlanContext) => {
  const src = p.read(t.inputs[0]!, s);
  const out = p.resultSlot(t, s);
  const [outer, size, inner] = around(t.inputs[0]!.shape, axis);
  return { src, out, outer, size, inner };
};

export const softmax: Lowering<Spec<'softmax'>> = (t, { axis }, s, p) => {
  const { src, out, outer, size, inner } = alongAxis(t, axis, s, p);
  p.push(t, 'softmax', (w, at) => w.axis(Opcode.Softmax, at(src), at(out), outer, size, inner));
};

export const argMax: Lowering<Spec<'argMax'>> = (t, { axis }, s, p) => {
  const { src, out, outer, size, inner } = alongAxis(t, axis, s, p);
  p.push(t, 'argMax', (w, at) => w.axis(Opcode.ArgMax, at(src), at(out), outer, size, inner));
};

export const topKIndices: Lowering<Spec<'topKIndices'>> = (t, { axis, k, largest }, s, p) => {
  const { src, out, outer, size, inner } = alongAxis(t, axis, s, p);
  p.push(t, 'topK', (w, at) => w.axis(Opcode.TopK, at(src), at(out), outer, size, inner, { k, largest }));
};

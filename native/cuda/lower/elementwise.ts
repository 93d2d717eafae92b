// Every op the op table marks as fused: the root of a fused kernel emits that kernel; members
// folded into another kernel and immediates read by one emit nothing (the planner skips them).
import { GraphError } from '../../graph/ir.js';
import { isImmediate } from '../fuse.js';
import { ElemType } from '../program.js';
import type { Lowering } from './context.js';
import { describe, shift } from './context.js';
import { elemBytes } from '../layout.js';

export const fused: Lowering = (t, _, s, p) => {
  const kernel = p.kernels.get(t.id);
  if (!kernel) {
    if (isImmediate(t)) return; // a fill read only as an immediate
    throw new GraphError(`cuda: no kernel for ${describe(t)}`);
  }
  const out = p.resultSlot(t, s);
  const ins = kernel.inputs.map((x) => {
    const { place, type } = p.readStored(x.tensor, s);
    const held = x.type === ElemType.F32 ? type : x.type;
    // A weight kept at its stored width (float16, bfloat16) has 2-byte elements.
    const bytes = held === ElemType.F16 || held === ElemType.BF16 ? 2 : elemBytes(x.tensor.dtype);
    return { ...x, place: shift(place, x.offset * bytes), type: held };
  });
  p.push(t, 'elementwise', (w, at) =>
    w.elementwise(
      at(out),
      kernel.dims,
      ins.map((x) => ({ loc: at(x.place), type: x.type, access: x.access, strides: x.strides })),
      kernel.code,
      kernel.imm,
    ),
  );
};

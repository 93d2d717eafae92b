// gatherElements and scatterAddElements: one thread per index, the index replacing the
// coordinate on the axis.
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import type { Spec } from '../../graph/opset.js';
import { elemBytes, stridesOf } from '../layout.js';
import { Opcode } from '../program.js';
import type { Lowering } from './context.js';

export const gatherElements: Lowering<Spec<'gatherElements'>> = (t, { axis }, s, p) => {
  const [x, idx] = t.inputs as [Tensor, Tensor];
  const src = p.read(x, s);
  const ip = p.read(idx, s);
  const out = p.resultSlot(t, s);
  p.push(t, 'gather', (w, at) =>
    w.indexed(
      Opcode.Gather,
      at(src),
      at(ip),
      at(out),
      elemBytes(x.dtype),
      axis,
      x.shape[axis]!,
      [...idx.shape],
      stridesOf(x.shape),
    ),
  );
};

/** The result starts as a copy of the base (or its fill value, written straight in) and the updates are added. */
export const scatterAddElements: Lowering<Spec<'scatterAddElements'>> = (t, { axis }, s, p) => {
  const [base, idx, upd] = t.inputs as [Tensor, Tensor, Tensor];
  const bytes = numel(t.shape) * elemBytes(t.dtype);
  const out = p.resultSlot(t, s);
  if (base.spec.op === 'fill') {
    p.pushFill(t, out, Math.fround(base.spec.value));
  } else {
    const src = p.read(base, s);
    p.push(t, 'copy', (w, at) => w.copy(at(out), at(src), bytes, bytes, bytes, 1));
  }
  const up = p.read(upd, s);
  const ip = p.read(idx, s);
  p.push(t, 'scatterAdd', (w, at) =>
    w.indexed(
      Opcode.ScatterAdd,
      at(up),
      at(ip),
      at(out),
      4,
      axis,
      base.shape[axis]!,
      [...idx.shape],
      stridesOf(base.shape),
    ),
  );
};

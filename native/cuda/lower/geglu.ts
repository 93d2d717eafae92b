// GEGLU and its gradient: one elementwise pass over h each (src/kernels.cu), the bias added as
// h is read. The bias is read as the GPU holds it, so a weight kept at half width needs no copy.
import type { Spec } from '../../graph/opset.js';
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import type { Lowering } from './context.js';

/** Inputs h and the bias, and for gegluGrad the output's gradient. */
export const geglu: Lowering<Spec<'geglu' | 'gegluGrad'>> = (t, { op }, s, p) => {
  const [h, bias, g] = t.inputs as [Tensor, Tensor, Tensor | undefined];
  const src = p.read(h, s);
  const b = p.readStored(bias, s);
  const grad = g && p.read(g, s);
  const out = p.resultSlot(t, s);
  const inner = h.shape[h.shape.length - 1]! / 2;
  const rows = inner === 0 ? 0 : numel(h.shape) / (2 * inner);
  if (rows === 0) return;
  p.push(t, op, (w, at) =>
    w.geglu({
      h: at(src),
      bias: { loc: at(b.place), type: b.type },
      grad: grad && at(grad),
      out: at(out),
      rows,
      inner,
    }),
  );
};

// Layer norm and its x gradient: one kernel each, a block a row holding the row in registers (a
// warp a row past 2,048 values; src/kernels.cu). The weight and the bias are read as the GPU holds
// them, so a weight kept at half width needs no widened copy.
import type { Spec } from '../../graph/opset.js';
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import type { Lowering } from './context.js';

/** Inputs x, the weight, and the bias (layerNorm) or the output's gradient (layerNormGrad). */
export const layerNorm: Lowering<Spec<'layerNorm' | 'layerNormGrad'>> = (t, { op, eps }, s, p) => {
  const [x, weight, third] = t.inputs as [Tensor, Tensor, Tensor];
  const src = p.read(x, s);
  const w = p.readStored(weight, s);
  const bias = op === 'layerNorm' ? p.readStored(third, s) : undefined;
  const grad = op === 'layerNormGrad' ? p.read(third, s) : undefined;
  const out = p.resultSlot(t, s);
  const size = x.shape[x.shape.length - 1]!;
  const rows = size === 0 ? 0 : numel(x.shape) / size;
  if (rows === 0) return;
  p.push(t, op, (wr, at) =>
    wr.layerNorm({
      x: at(src),
      weight: { loc: at(w.place), type: w.type },
      bias: bias && { loc: at(bias.place), type: bias.type },
      grad: grad && at(grad),
      out: at(out),
      rows,
      size,
      eps,
    }),
  );
};

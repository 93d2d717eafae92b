// Layer norm and its x gradient: one kernel each, a block a row holding the row in registers (a
// warp a row past 2,048 values; src/kernels.cu). The weight and the bias are read as the GPU holds
// them, so a weight kept at half width needs no widened copy.
import type { Spec } from '../../graph/opset.js';
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import type { Lowering } from './context.js';

const rowsOf = (x: Tensor) => {
  const size = x.shape[x.shape.length - 1]!;
  return { size, rows: size === 0 ? 0 : numel(x.shape) / size };
};

export const layerNorm: Lowering<Spec<'layerNorm'>> = (t, { eps }, s, p) => {
  const [x, weight, bias] = t.inputs as [Tensor, Tensor, Tensor];
  const src = p.read(x, s);
  const w = p.readStored(weight, s);
  const b = p.readStored(bias, s);
  const out = p.resultSlot(t, s);
  const { rows, size } = rowsOf(x);
  if (rows === 0) return;
  p.push(t, 'layerNorm', (wr, at) =>
    wr.layerNorm({
      x: at(src),
      weight: { loc: at(w.place), type: w.type },
      bias: { loc: at(b.place), type: b.type },
      out: at(out),
      rows,
      size,
      eps,
    }),
  );
};

export const layerNormGrad: Lowering<Spec<'layerNormGrad'>> = (t, { eps }, s, p) => {
  const [x, weight, g] = t.inputs as [Tensor, Tensor, Tensor];
  const src = p.read(x, s);
  const w = p.readStored(weight, s);
  const grad = p.read(g, s);
  const out = p.resultSlot(t, s);
  const { rows, size } = rowsOf(x);
  if (rows === 0) return;
  p.push(t, 'layerNormGrad', (wr, at) =>
    wr.layerNorm({
      x: at(src),
      weight: { loc: at(w.place), type: w.type },
      grad: at(grad),
      out: at(out),
      rows,
      size,
      eps,
    }),
  );
};

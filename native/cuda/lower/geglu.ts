// GEGLU and its gradient: one elementwise pass over h each (src/kernels.cu), the bias added as
// h is read. The bias is read as the GPU holds it, so a weight kept at half width needs no copy.
import type { Spec } from '../../graph/opset.js';
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import type { Lowering } from './context.js';

const halvesOf = (h: Tensor) => {
  const inner = h.shape[h.shape.length - 1]! / 2;
  return { inner, rows: inner === 0 ? 0 : numel(h.shape) / (2 * inner) };
};

export const geglu: Lowering<Spec<'geglu'>> = (t, _, s, p) => {
  const [h, bias] = t.inputs as [Tensor, Tensor];
  const src = p.read(h, s);
  const b = p.readStored(bias, s);
  const out = p.resultSlot(t, s);
  const { rows, inner } = halvesOf(h);
  if (rows === 0) return;
  p.push(t, 'geglu', (w, at) =>
    w.geglu({ h: at(src), bias: { loc: at(b.place), type: b.type }, out: at(out), rows, inner }),
  );
};

export const gegluGrad: Lowering<Spec<'gegluGrad'>> = (t, _, s, p) => {
  const [h, bias, g] = t.inputs as [Tensor, Tensor, Tensor];
  const src = p.read(h, s);
  const b = p.readStored(bias, s);
  const grad = p.read(g, s);
  const out = p.resultSlot(t, s);
  const { rows, inner } = halvesOf(h);
  if (rows === 0) return;
  p.push(t, 'gegluGrad', (w, at) =>
    w.geglu({ h: at(src), bias: { loc: at(b.place), type: b.type }, grad: at(grad), out: at(out), rows, inner }),
  );
};

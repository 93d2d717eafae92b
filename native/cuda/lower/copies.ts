// Ops that only move bytes: reshape and stopGradient alias their input, an outermost-axis slice
// is an offset into it, other slices and concat are strided 2-d copies.
import type { Spec } from '../../graph/opset.js';
import { around, elemBytes } from '../layout.js';
import type { Lowering } from './context.js';
import { shift } from './context.js';

/** The result is the input's bytes, seen with another shape (or no gradient). */
export const alias: Lowering = (t, _, s, p) => {
  p.places.set(t.id, p.read(t.inputs[0]!, s));
};

export const slice: Lowering<Spec<'slice'>> = (t, spec, s, p) => {
  const x = t.inputs[0]!;
  const [outer, size, inner] = around(x.shape, spec.axis);
  const eb = elemBytes(t.dtype);
  const src = p.read(x, s);
  if (outer === 1) {
    // A slice of the outermost axis is a contiguous range: no copy.
    p.places.set(t.id, shift(src, spec.start * inner * eb));
    return;
  }
  const out = p.resultSlot(t, s);
  const len = spec.end - spec.start;
  p.push(t, 'copy', (w, at) =>
    w.copy(
      at(out),
      at(shift(src, spec.start * inner * eb)),
      len * inner * eb,
      size * inner * eb,
      len * inner * eb,
      outer,
    ),
  );
};

export const concat: Lowering<Spec<'concat'>> = (t, spec, s, p) => {
  const out = p.resultSlot(t, s);
  const [outer, total, inner] = around(t.shape, spec.axis);
  const eb = elemBytes(t.dtype);
  let at0 = 0;
  for (const x of t.inputs) {
    const size = x.shape[spec.axis]!;
    const src = p.read(x, s);
    const dst = shift(out, at0 * inner * eb);
    p.push(t, 'copy', (w, at) =>
      w.copy(at(dst), at(src), total * inner * eb, size * inner * eb, size * inner * eb, outer),
    );
    at0 += size;
  }
};

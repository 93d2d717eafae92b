// Leaves: graph inputs get arena memory written before the first step, constants a place in
// the constant buffer, weights the backend's upload of the user's file.
import type { Spec } from '../../graph/opset.js';
import { numel } from '../../graph/ir.js';
import { elemBytes } from '../layout.js';
import { alignUp } from '../memory.js';
import type { Lowering } from './context.js';

const CONST_ALIGN = 16;

export const input: Lowering<Spec<'input'>> = (t, spec, _, p) => {
  const bytes = numel(t.shape) * elemBytes(t.dtype);
  const place = p.newSlot(bytes, -1, -1);
  p.places.set(t.id, place);
  p.inputs.push({ name: spec.name, tensor: t, place, bytes });
};

/** Scalar float constants read only by fused kernels are immediates there and need no memory. */
export const constant: Lowering<Spec<'constant'>> = (t, spec, _, p) => {
  if (!p.needsMaterial(t)) return;
  const offset = p.constantBytes;
  p.constantBytes = alignUp(p.constantBytes + numel(t.shape) * elemBytes(t.dtype), CONST_ALIGN);
  p.constants.push({ offset, data: spec.data });
  p.places.set(t.id, { home: { kind: 'constant', offset }, offset: 0 });
};

export const weight: Lowering<Spec<'weight'>> = (t, _, __, p) => {
  p.weights.push(t);
  p.places.set(t.id, { home: { kind: 'weight', tensor: t }, offset: 0 });
};

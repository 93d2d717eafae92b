// Row-major layout helpers shared by the planner's parts.
import type { DType, Shape } from '../graph/ir.js';

/** Row-major strides (in elements) of `shape`. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export const elemBytes = (dtype: DType): number => (dtype === 'float32' ? 4 : dtype === 'int64' ? 8 : 1);

/** Splits `shape` around `axis`: element (o, k, i) sits at (o·size + k)·inner + i. */
export function around(shape: Shape, axis: number): [outer: number, size: number, inner: number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape[axis]!, inner];
}

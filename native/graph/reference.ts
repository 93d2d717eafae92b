// The float64 reference kernels of the IR's ops (read by the op table, run by interpret.ts). Plain
// loops over typed arrays in double precision: an answer free of float32 rounding for finite
// differences and backend parity checks; small graphs only.
import type { DType, Shape, Tensor } from './ir.js';
import { GraphError, numel, shapeStr } from './ir.js';

export type ReferenceData = Float64Array | BigInt64Array | Uint8Array;

export interface ReferenceValue {
  shape: number[];
  dtype: DType;
  data: ReferenceData;
}

export const describe = (t: Tensor): string => `${t.spec.op} #${t.id}${t.label ? ` at ${t.label}` : ''}`;

export function fail(t: Tensor, msg: string): never {
  throw new GraphError(`${describe(t)}: ${msg}`);
}

export const alloc = (dtype: DType, n: number): ReferenceData =>
  dtype === 'float32' ? new Float64Array(n) : dtype === 'int64' ? new BigInt64Array(n) : new Uint8Array(n);

// Elementwise --------------------------------------------------------------------------------

/** `fn` applied to every element of a float tensor. */
export const mapFloats = (a: ReferenceValue, fn: (x: number) => number): Float64Array =>
  (a.data as Float64Array).map(fn);

/** `fn` over two broadcast operands, into the output's element type (numbers, or 0/1 for bool). */
export function zipBroadcast(
  t: Tensor,
  a: ReferenceValue,
  b: ReferenceValue,
  fn: (x: number, y: number) => number,
): Float64Array | Uint8Array {
  const out = alloc(t.dtype, numel(t.shape)) as Float64Array | Uint8Array;
  const x = a.data as Float64Array;
  const y = b.data as Float64Array;
  broadcastLoop(t.shape, [a.shape, b.shape], (o, [i, j]) => {
    out[o] = fn(x[i!]!, y[j!]!);
  });
  return out;
}

/** Element equality of two broadcast operands of any one dtype. */
export function equal(t: Tensor, a: ReferenceValue, b: ReferenceValue): Uint8Array {
  const out = new Uint8Array(numel(t.shape));
  const x = a.data;
  const y = b.data;
  broadcastLoop(t.shape, [a.shape, b.shape], (o, [i, j]) => {
    out[o] = x[i!] === y[j!] ? 1 : 0;
  });
  return out;
}

export function where(t: Tensor, c: ReferenceValue, a: ReferenceValue, b: ReferenceValue): ReferenceData {
  const out = alloc(t.dtype, numel(t.shape));
  const cond = c.data as Uint8Array;
  const x = a.data;
  const y = b.data;
  broadcastLoop(t.shape, [c.shape, a.shape, b.shape], (o, [k, i, j]) => {
    out[o] = cond[k!] ? x[i!]! : y[j!]!;
  });
  return out;
}

export function expand(t: Tensor, a: ReferenceValue): ReferenceData {
  const out = alloc(t.dtype, numel(t.shape));
  const x = a.data;
  broadcastLoop(t.shape, [a.shape], (o, [i]) => {
    out[o] = x[i!]!;
  });
  return out;
}

// A function declaration, not a const: the op table reads it while modules are still loading.
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * erf to full double precision, as finite differences of the GELU need it. The series
 * erf(x) = 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)) has only positive terms, so it does not
 * cancel; beyond |x| = 6 erf is ±1 in double precision.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (ax >= 6) return Math.sign(x);
  const x2 = x * x;
  let term = ax;
  let total = ax;
  for (let n = 0; term > total * 1e-17; n++) {
    term *= (2 * x2) / (2 * n + 3);
    total += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * total;
}

/** Row-major strides of `shape`. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Visits every element of `outShape` with the matching flat offsets into each (broadcast) input. */
export function broadcastLoop(
  outShape: Shape,
  inShapes: Shape[],
  visit: (out: number, offsets: number[]) => void,
): void {
  const rank = outShape.length;
  const strides = inShapes.map((s) => {
    const own = stridesOf(s);
    return outShape.map((d, i) => {
      const j = i - (rank - s.length);
      return j < 0 || s[j] === 1 ? 0 : own[j]!;
    });
  });
  const n = numel(outShape);
  const idx = new Array<number>(rank).fill(0);
  const offs = new Array<number>(inShapes.length).fill(0);
  for (let o = 0; o < n; o++) {
    visit(o, offs);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < offs.length; k++) offs[k]! += strides[k]![d]!;
      if (idx[d]! < outShape[d]!) break;
      for (let k = 0; k < offs.length; k++) offs[k]! -= strides[k]![d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
}

/** ONNX Cast: float→int truncates toward zero, anything→bool is "non-zero". */
export function castData(a: ReferenceValue, to: DType): ReferenceData {
  const n = a.data.length;
  if (a.dtype === to) return a.data;
  const num = (i: number): number => Number(a.data[i]!);
  if (to === 'float32') return Float64Array.from({ length: n }, (_, i) => num(i));
  if (to === 'bool') return Uint8Array.from({ length: n }, (_, i) => (num(i) !== 0 ? 1 : 0));
  return BigInt64Array.from({ length: n }, (_, i) => {
    const v = num(i);
    if (!Number.isFinite(v)) throw new Error(`cannot cast ${v} to int64`);
    return BigInt(Math.trunc(v));
  });
}

// Linear algebra -----------------------------------------------------------------------------

export function matmul(a: ReferenceValue, b: ReferenceValue, outShape: Shape): Float64Array {
  const m = a.shape[a.shape.length - 2]!;
  const k = a.shape[a.shape.length - 1]!;
  const n = b.shape[b.shape.length - 1]!;
  const batch = outShape.slice(0, -2);
  const out = new Float64Array(numel(outShape));
  const x = a.data as Float64Array;
  const y = b.data as Float64Array;
  broadcastLoop(batch, [a.shape.slice(0, -2), b.shape.slice(0, -2)], (bi, [ia, ib]) => {
    const xo = ia! * m * k;
    const yo = ib! * k * n;
    const base = bi * m * n;
    for (let r = 0; r < m; r++) {
      for (let p = 0; p < k; p++) {
        const av = x[xo + r * k + p]!;
        const yrow = yo + p * n;
        const orow = base + r * n;
        for (let c = 0; c < n; c++) out[orow + c]! += av * y[yrow + c]!;
      }
    }
  });
  return out;
}

/** Index range [lo, hi) of output positions o with 0 <= o·stride + offset < size. */
function validRange(count: number, stride: number, offset: number, size: number): [number, number] {
  const lo = Math.max(0, Math.ceil(-offset / stride));
  const hi = Math.min(count, Math.floor((size - 1 - offset) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

export function conv2d(
  x: ReferenceValue,
  w: ReferenceValue,
  outShape: Shape,
  stride: number,
  pad: number,
): Float64Array {
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [cout, , kh, kw] = w.shape as [number, number, number, number];
  const [, , oh, ow] = outShape as [number, number, number, number];
  const xd = x.data as Float64Array;
  const wdat = w.data as Float64Array;
  const out = new Float64Array(numel(outShape));
  // One weight tap at a time, so the innermost loop is a strided axpy over an output row.
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let ci = 0; ci < cin; ci++)
        for (let ky = 0; ky < kh; ky++) {
          const [oy0, oy1] = validRange(oh, stride, ky - pad, h);
          for (let kx = 0; kx < kw; kx++) {
            const wv = wdat[((co * cin + ci) * kh + ky) * kw + kx]!;
            const [ox0, ox1] = validRange(ow, stride, kx - pad, wd);
            for (let oy = oy0; oy < oy1; oy++) {
              const orow = ((b * cout + co) * oh + oy) * ow;
              const xrow = ((b * cin + ci) * h + oy * stride + ky - pad) * wd + kx - pad;
              for (let ox = ox0; ox < ox1; ox++) out[orow + ox]! += wv * xd[xrow + ox * stride]!;
            }
          }
        }
  return out;
}

/** ONNX ConvTranspose: input pixel (iy, ix) scatters into output (iy·s − pad + ky, ix·s − pad + kx); outputPad only extends the end. */
export function convTranspose2d(
  x: ReferenceValue,
  w: ReferenceValue,
  outShape: Shape,
  stride: number,
  pad: number,
): Float64Array {
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [, cout, kh, kw] = w.shape as [number, number, number, number];
  const [, , oh, ow] = outShape as [number, number, number, number];
  const xd = x.data as Float64Array;
  const wdat = w.data as Float64Array;
  const out = new Float64Array(numel(outShape));
  for (let b = 0; b < n; b++)
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++)
        for (let ky = 0; ky < kh; ky++) {
          const [iy0, iy1] = validRange(h, stride, ky - pad, oh);
          for (let kx = 0; kx < kw; kx++) {
            const wv = wdat[((ci * cout + co) * kh + ky) * kw + kx]!;
            const [ix0, ix1] = validRange(wd, stride, kx - pad, ow);
            for (let iy = iy0; iy < iy1; iy++) {
              const xrow = ((b * cin + ci) * h + iy) * wd;
              const orow = ((b * cout + co) * oh + iy * stride + ky - pad) * ow + kx - pad;
              for (let ix = ix0; ix < ix1; ix++) out[orow + ix * stride]! += wv * xd[xrow + ix]!;
            }
          }
        }
  return out;
}

// Axis-wise ops ------------------------------------------------------------------------------

/** Splits `shape` around `axis` into (outer, size, inner) so element (o, k, i) sits at (o·size + k)·inner + i. */
export function around(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

export function reduce(
  op: 'reduceSum' | 'reduceMean' | 'reduceMax',
  a: ReferenceValue,
  axes: readonly number[],
): Float64Array {
  const keptShape = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const count = numel(axes.map((ax) => a.shape[ax]!));
  const out = new Float64Array(numel(keptShape)).fill(op === 'reduceMax' ? -Infinity : 0);
  const x = a.data as Float64Array;
  // Walk the input; each element lands on the output offset its kept coordinates name.
  const outStrides = stridesOf(keptShape).map((s, i) => (axes.includes(i) ? 0 : s));
  const expanded = broadcastIndex(a.shape, outStrides);
  for (let i = 0; i < x.length; i++) {
    const o = expanded[i]!;
    if (op === 'reduceMax') {
      const v = x[i]!;
      if (v > out[o]! || Number.isNaN(v)) out[o] = v;
    } else out[o]! += x[i]!;
  }
  if (op === 'reduceMean') for (let i = 0; i < out.length; i++) out[i]! /= count;
  return out;
}

/** Each row's mean and √(σ² + ε) over the last axis of `shape`, and the row length. */
function rowStatistics(x: Float64Array, shape: Shape, eps: number) {
  const size = shape[shape.length - 1]!;
  const n = size === 0 ? 0 : x.length / size;
  const means = new Float64Array(n);
  const scales = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let k = 0; k < size; k++) s += x[r * size + k]!;
    const mu = s / size;
    let v = 0;
    for (let k = 0; k < size; k++) v += (x[r * size + k]! - mu) ** 2;
    means[r] = mu;
    scales[r] = Math.sqrt(v / size + eps);
  }
  return { size, n, means, scales };
}

export function layerNorm(x: Float64Array, w: Float64Array, b: Float64Array, shape: Shape, eps: number): Float64Array {
  const { size, n, means, scales } = rowStatistics(x, shape, eps);
  const out = new Float64Array(x.length);
  for (let r = 0; r < n; r++)
    for (let k = 0; k < size; k++) {
      const i = r * size + k;
      out[i] = ((x[i]! - means[r]!) / scales[r]!) * w[k]! + b[k]!;
    }
  return out;
}

/** dx = (ĝ − mean(ĝ) − n·mean(ĝ ⊙ n)) / √(σ² + ε) per row, with n the normalised row and ĝ = g ⊙ w. */
export function layerNormGrad(
  x: Float64Array,
  w: Float64Array,
  g: Float64Array,
  shape: Shape,
  eps: number,
): Float64Array {
  const { size, n, means, scales } = rowStatistics(x, shape, eps);
  const out = new Float64Array(x.length);
  for (let r = 0; r < n; r++) {
    const normed = (k: number) => (x[r * size + k]! - means[r]!) / scales[r]!;
    const weighted = (k: number) => g[r * size + k]! * w[k]!;
    let m1 = 0;
    let m2 = 0;
    for (let k = 0; k < size; k++) {
      m1 += weighted(k);
      m2 += weighted(k) * normed(k);
    }
    m1 /= size;
    m2 /= size;
    for (let k = 0; k < size; k++) out[r * size + k] = (weighted(k) - m1 - normed(k) * m2) / scales[r]!;
  }
  return out;
}

/** GELU(z) as the composite computes it, (z · ½) · (1 + erf(z · √½)). */
const geluOf = (z: number) => z * 0.5 * (1 + erf(z * Math.SQRT1_2));

/** Each row of h + bias as [value a, gate z] halves, visited with its row, column and halves' offset. */
function eachHalfPair(
  h: Float64Array,
  bias: Float64Array,
  shape: Shape,
  visit: (i: number, j: number, a: number, z: number) => void,
) {
  const width = shape[shape.length - 1]!;
  const inner = width / 2;
  const rows = width === 0 ? 0 : h.length / width;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < inner; c++) {
      const i = r * width + c;
      visit(r * inner + c, i, h[i]! + bias[c]!, h[i + inner]! + bias[c + inner]!);
    }
}

export function geglu(h: Float64Array, bias: Float64Array, shape: Shape): Float64Array {
  const out = new Float64Array(h.length / 2);
  eachHalfPair(h, bias, shape, (o, _, a, z) => (out[o] = a * geluOf(z)));
  return out;
}

export function gegluGrad(h: Float64Array, bias: Float64Array, g: Float64Array, shape: Shape): Float64Array {
  const out = new Float64Array(h.length);
  const inner = shape[shape.length - 1]! / 2;
  eachHalfPair(h, bias, shape, (o, i, a, z) => {
    const slope = 0.5 * (1 + erf(z * Math.SQRT1_2)) + (z * Math.exp(-0.5 * z * z)) / Math.sqrt(2 * Math.PI);
    out[i] = g[o]! * geluOf(z);
    out[i + inner] = g[o]! * a * slope;
  });
  return out;
}

/** For every element of `shape` (row-major), the offset given by `strides`. */
export function broadcastIndex(shape: Shape, strides: readonly number[]): Int32Array {
  const n = numel(shape);
  const res = new Int32Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    res[i] = off;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      off += strides[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return res;
}

export function argMax(a: ReferenceValue, axis: number): BigInt64Array {
  const [outer, size, inner] = around(a.shape, axis);
  const x = a.data as Float64Array;
  const out = new BigInt64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let best = 0;
      for (let k = 1; k < size; k++) if (x[(o * size + k) * inner + i]! > x[(o * size + best) * inner + i]!) best = k;
      out[o * inner + i] = BigInt(best);
    }
  return out;
}

/** ONNX TopK with sorted=1: best first; equal values keep the lower index first. */
export function topK(a: ReferenceValue, k: number, axis: number, largest: boolean): BigInt64Array {
  const [outer, size, inner] = around(a.shape, axis);
  const x = a.data as Float64Array;
  const out = new BigInt64Array(outer * k * inner);
  const order = Array.from({ length: size }, (_, j) => j);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => x[(o * size + j) * inner + i]!;
      order.sort((p, q) => {
        const d = largest ? at(q) - at(p) : at(p) - at(q);
        return d !== 0 && !Number.isNaN(d) ? d : p - q;
      });
      for (let j = 0; j < k; j++) out[(o * k + j) * inner + i] = BigInt(order[j]!);
      order.sort((p, q) => p - q);
    }
  return out;
}

export function softmax(a: ReferenceValue, axis: number): Float64Array {
  const [outer, size, inner] = around(a.shape, axis);
  const x = a.data as Float64Array;
  const out = new Float64Array(x.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * size + k) * inner + i;
      let m = -Infinity;
      for (let k = 0; k < size; k++) m = Math.max(m, x[at(k)]!);
      let s = 0;
      for (let k = 0; k < size; k++) s += out[at(k)] = Math.exp(x[at(k)]! - m);
      for (let k = 0; k < size; k++) out[at(k)]! /= s;
    }
  return out;
}

export function transpose(a: ReferenceValue, perm: readonly number[]): ReferenceData {
  const outShape = perm.map((p) => a.shape[p]!);
  const inStrides = stridesOf(a.shape);
  const src = broadcastIndex(
    outShape,
    perm.map((p) => inStrides[p]!),
  );
  const out = alloc(a.dtype, a.data.length);
  for (let i = 0; i < src.length; i++) out[i] = a.data[src[i]!]!;
  return out;
}

export function concat(args: ReferenceValue[], axis: number, t: Tensor): ReferenceData {
  const out = alloc(t.dtype, numel(t.shape));
  const [outer, total, inner] = around(t.shape, axis);
  let at = 0;
  for (const v of args) {
    const size = v.shape[axis]!;
    for (let o = 0; o < outer; o++) {
      const from = v.data.subarray(o * size * inner, (o + 1) * size * inner);
      out.set(from as never, (o * total + at) * inner);
    }
    at += size;
  }
  return out;
}

export function slice(a: ReferenceValue, axis: number, start: number, end: number, dtype: DType): ReferenceData {
  const [outer, size, inner] = around(a.shape, axis);
  const len = end - start;
  const out = alloc(dtype, outer * len * inner);
  for (let o = 0; o < outer; o++) {
    out.set(a.data.subarray((o * size + start) * inner, (o * size + end) * inner) as never, o * len * inner);
  }
  return out;
}

/** Reads index `j` of `indices` as a position on an axis of size `size`; ONNX allows negatives from the end. */
function indexAt(t: Tensor, indices: BigInt64Array, j: number, size: number): number {
  const raw = Number(indices[j]!);
  const k = raw < 0 ? raw + size : raw;
  if (k < 0 || k >= size) fail(t, `index ${raw} out of range for axis of size ${size}`);
  return k;
}

/** ONNX lets indices be smaller than the data off the axis, never larger. */
function checkIndexShape(t: Tensor, idx: Shape, data: Shape, axis: number): void {
  if (idx.some((d, i) => i !== axis && d > data[i]!)) {
    fail(t, `indices ${shapeStr(idx)} exceed data ${shapeStr(data)} off axis ${axis}`);
  }
}

/** ONNX GatherElements: out[…i…] = x[…indices[…i…]…] with the index replacing the coordinate on `axis`. */
export function gatherElements(t: Tensor, x: ReferenceValue, idx: ReferenceValue, axis: number): ReferenceData {
  const indices = idx.data as BigInt64Array;
  const xs = stridesOf(x.shape);
  checkIndexShape(t, idx.shape, x.shape, axis);
  const base = broadcastIndex(
    idx.shape,
    xs.map((s, d) => (d === axis ? 0 : s)),
  );
  const out = alloc(x.dtype, indices.length);
  for (let j = 0; j < indices.length; j++) {
    out[j] = x.data[base[j]! + indexAt(t, indices, j, x.shape[axis]!) * xs[axis]!]!;
  }
  return out;
}

/** ONNX ScatterElements with reduction=add: a copy of `base` with updates[…i…] added at base[…indices[…i…]…]. */
export function scatterAddElements(
  t: Tensor,
  base: ReferenceValue,
  idx: ReferenceValue,
  upd: ReferenceValue,
  axis: number,
): Float64Array {
  const indices = idx.data as BigInt64Array;
  const bs = stridesOf(base.shape);
  checkIndexShape(t, idx.shape, base.shape, axis);
  const at = broadcastIndex(
    idx.shape,
    bs.map((s, d) => (d === axis ? 0 : s)),
  );
  const out = Float64Array.from(base.data as Float64Array);
  const u = upd.data as Float64Array;
  for (let j = 0; j < indices.length; j++) {
    out[at[j]! + indexAt(t, indices, j, base.shape[axis]!) * bs[axis]!]! += u[j]!;
  }
  return out;
}

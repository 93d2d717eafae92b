// Image resizing as matrix products: PyTorch's `F.interpolate` (align_corners=False,
// no antialias) is separable, so a 2-d resize is M_h · x · M_wᵀ with constant
// interpolation matrices, and its gradient is two more matmuls for free.
import type { Tensor } from './ir.js';
import { GraphError } from './ir.js';
import { matmul, reshape } from './ops.js';

export type ResizeKind = 'bicubic' | 'bilinear';

/** Keys' cubic convolution with PyTorch's a = -0.75, for |x| <= 1. */
const cubicNear = (x: number, a: number) => ((a + 2) * x - (a + 3)) * x * x + 1;
/** The same kernel for 1 < |x| < 2. */
const cubicFar = (x: number, a: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;

const CUBIC_A = -0.75;

function checkSizes(what: string, inSize: number, outSize: number): void {
  for (const [name, v] of [
    ['inSize', inSize],
    ['outSize', outSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new GraphError(`${what}: ${name} must be a positive integer, got ${v}`);
  }
}

/**
 * [out, in] matrix of PyTorch's upsample_bicubic2d along one axis: source
 * coordinate (dst + 0.5)·in/out − 0.5, four taps floor−1..floor+2 whose indices
 * are clamped to the border (so edge pixels collect the outside weights).
 */
export function cubicResizeMatrix(inSize: number, outSize: number): Float32Array {
  checkSizes('cubicResizeMatrix', inSize, outSize);
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let dst = 0; dst < outSize; dst++) {
    const real = scale * (dst + 0.5) - 0.5;
    const base = Math.floor(real);
    const t = real - base;
    const weights = [
      cubicFar(t + 1, CUBIC_A),
      cubicNear(t, CUBIC_A),
      cubicNear(1 - t, CUBIC_A),
      cubicFar(2 - t, CUBIC_A),
    ];
    for (let k = 0; k < 4; k++) {
      const src = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
      m[dst * inSize + src]! += weights[k]!;
    }
  }
  return Float32Array.from(m);
}

/**
 * [out, in] matrix of PyTorch's bilinear interpolation along one axis: the
 * source coordinate is clamped at 0 below, and the upper neighbour index at in−1.
 */
export function linearResizeMatrix(inSize: number, outSize: number): Float32Array {
  checkSizes('linearResizeMatrix', inSize, outSize);
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let dst = 0; dst < outSize; dst++) {
    const real = Math.max(scale * (dst + 0.5) - 0.5, 0);
    const lo = Math.floor(real);
    const hi = lo < inSize - 1 ? lo + 1 : lo;
    const upper = real - lo;
    m[dst * inSize + lo]! += 1 - upper;
    m[dst * inSize + hi]! += upper;
  }
  return Float32Array.from(m);
}

export function resizeMatrix(kind: ResizeKind, inSize: number, outSize: number): Float32Array {
  return kind === 'bicubic' ? cubicResizeMatrix(inSize, outSize) : linearResizeMatrix(inSize, outSize);
}

/** Resizes the last two axes of `x` ([..., H, W]) to outH × outW. */
export function resize2d(x: Tensor, outH: number, outW: number, kind: ResizeKind): Tensor {
  const rank = x.shape.length;
  if (rank < 2) throw new GraphError(`resize2d: input needs rank >= 2, got shape [${x.shape.join(',')}]`);
  const h = x.shape[rank - 2]!;
  const w = x.shape[rank - 1]!;
  const g = x.graph;
  // Width first, then height: the order PyTorch's kernel interpolates in.
  const alongW = w === outW ? x : matmul(x, g.constant(transposed(resizeMatrix(kind, w, outW), outW, w), [w, outW]));
  return h === outH ? alongW : matmul(g.constant(resizeMatrix(kind, h, outH), [outH, h]), alongW);
}

/**
 * resize2d of tokens [B, h·w, C], an image with its channels last, into [B, outH·outW, C]: the
 * same interpolation, width first, without turning the tokens into an image and back (two
 * transposes of the whole resized tensor, 840 MiB a controlled layer at R = 128 and 10 warps).
 */
export function resizeTokens(x: Tensor, h: number, w: number, outH: number, outW: number, kind: ResizeKind): Tensor {
  const [b, t, c] = x.shape;
  if (x.shape.length !== 3 || t !== h * w) {
    throw new GraphError(`resizeTokens: tokens [B, ${h}·${w}, C] expected, got shape [${x.shape.join(',')}]`);
  }
  const g = x.graph;
  // Each image row's w tokens become outW: [outW, w] · [w, C] for every (batch element, row).
  const rows = reshape(x, [b! * h, w, c!]);
  const alongW = w === outW ? rows : matmul(g.constant(resizeMatrix(kind, w, outW), [outW, w]), rows);
  // Then each image's h rows (of outW·C values) become outH.
  const columns = reshape(alongW, [b!, h, outW * c!]);
  const alongH = h === outH ? columns : matmul(g.constant(resizeMatrix(kind, h, outH), [outH, h]), columns);
  return reshape(alongH, [b!, outH * outW, c!]);
}

function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

// PyTorch's affine_grid + grid_sample (bilinear, zero padding, align_corners=False)
// built from IR primitives. The image is read with gatherElements on its flattened
// pixels, so autodiff routes the gradient w.r.t. the image through scatterAddElements;
// floors and index casts carry no gradient, exactly as in PyTorch's own backward.
import type { Tensor } from './ir.js';
import { GraphError, shapeStr } from './ir.js';
import {
  add,
  cast,
  concat,
  div,
  expand,
  floor,
  gatherElements,
  greater,
  less,
  maximum,
  minimum,
  mul,
  neg,
  reshape,
  slice,
  sub,
} from './ops.js';

/**
 * Normalised x (or y) of the n pixel centres, (2i + 1)/n − 1. PyTorch builds the same
 * numbers as linspace(−1, 1, n)·(n − 1)/n, whose float32 rounding depends on its
 * vectorisation (≤ 1 ulp); the exact centres make the identity θ an exact identity.
 */
export function pixelCentres(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (2 * i + 1) / n - 1);
}

/** θ as [N,2,3]; a single [2,3] θ becomes a batch of one. */
function batchedTheta(theta: Tensor, what: string): Tensor {
  const s = theta.shape;
  const ok = (s.length === 2 || s.length === 3) && s[s.length - 2] === 2 && s[s.length - 1] === 3;
  if (!ok) throw new GraphError(`${what}: theta must be [2,3] or [N,2,3], got ${shapeStr(s)}`);
  return s.length === 2 ? reshape(theta, [1, 2, 3]) : theta;
}

/**
 * The sampling positions of `F.affine_grid(theta, [N, C, H, W], align_corners=False)`, x and y
 * apart: each [N, H, W] in normalised coordinates.
 */
export function affineCoordinates(theta: Tensor, h: number, w: number): [Tensor, Tensor] {
  const t = batchedTheta(theta, 'affineGrid');
  const n = t.shape[0]!;
  const g = t.graph;
  const xs = g.constant(pixelCentres(w), [1, 1, w]);
  const ys = g.constant(pixelCentres(h), [1, h, 1]);
  const at = (r: number, c: number) => reshape(slice(slice(t, 1, r, r + 1), 2, c, c + 1), [n, 1, 1]);
  // x·θ[r,0] + y·θ[r,1] + θ[r,2] elementwise, in the order of the reference's [x, y, 1]·θᵀ, rather
  // than as a matmul: a backend computing matmuls in TF32 must not round sampling coordinates.
  const coordinate = (r: number) => add(add(mul(xs, at(r, 0)), mul(ys, at(r, 1))), at(r, 2));
  return [coordinate(0), coordinate(1)];
}

/** `F.affine_grid(theta, [N, C, H, W], align_corners=False)`: [N, H, W, 2] sampling positions (x, y). */
export function affineGrid(theta: Tensor, h: number, w: number): Tensor {
  return concat(
    affineCoordinates(theta, h, w).map((c) => reshape(c, [...c.shape, 1])),
    3,
  );
}

/** 1 where the integer-valued coordinate lies inside 0..size−1, else 0. */
const insideMask = (c: Tensor, size: number) =>
  mul(cast(greater(c, -0.5), 'float32'), cast(less(c, size - 0.5), 'float32'));

const clampIndex = (c: Tensor, size: number) => maximum(minimum(c, size - 1), 0);

/** x's [N, C, H, W], checked for `what` (the entry point the caller used). */
function imageShape(x: Tensor, what: string): [number, number, number, number] {
  if (x.shape.length !== 4) throw new GraphError(`${what}: image must be [N,C,H,W], got ${shapeStr(x.shape)}`);
  return x.shape as [number, number, number, number];
}

/**
 * `F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)`.
 * x: [N, C, H, W]; grid: [N or 1, Hout, Wout, 2] holding (x, y) in [-1, 1].
 */
export function gridSampleBilinear(x: Tensor, grid: Tensor): Tensor {
  const [n] = imageShape(x, 'gridSampleBilinear');
  const gs = grid.shape;
  if (gs.length !== 4 || gs[3] !== 2 || (gs[0] !== n && gs[0] !== 1)) {
    throw new GraphError(`gridSampleBilinear: grid must be [${n} or 1, Hout, Wout, 2], got ${shapeStr(gs)}`);
  }
  const [gn, ho, wo] = gs as [number, number, number, number];
  const component = (axis: number) => reshape(slice(grid, 3, axis, axis + 1), [gn, ho, wo]);
  return sampleBilinear(x, component(0), component(1));
}

/**
 * grid_sample's bilinear sampling with its positions' x and y apart, each [N or 1, Hout, Wout]
 * (a warp's sampling grid is never put together only to be taken apart again).
 */
function sampleBilinear(x: Tensor, gx: Tensor, gy: Tensor): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [gn, ho, wo] = gx.shape as [number, number, number];
  // Pixel indices are formed in float32 (IR arithmetic is float): exact only below 2^24.
  if (h * w > 2 ** 24)
    throw new GraphError(`gridSampleBilinear: ${h}×${w} image has more pixels than float32 indexes exactly (2^24)`);
  const p = ho * wo;
  // Pixel coordinates: ((g + 1) · size − 1) / 2, half-pixel centres.
  const unnormalise = (g: Tensor, size: number) => div(sub(mul(add(reshape(g, [gn, 1, p]), 1), size), 1), 2);
  const ix = unnormalise(gx, w);
  const iy = unnormalise(gy, h);
  const x0 = floor(ix);
  const y0 = floor(iy);
  const x1 = add(x0, 1);
  const y1 = add(y0, 1);
  const east = sub(ix, x0);
  const south = sub(iy, y0);
  // Corners outside the image read zero: their weight is masked, their index clamped to stay legal.
  const wx0 = mul(sub(1, east), insideMask(x0, w));
  const wx1 = mul(east, insideMask(x1, w));
  const wy0 = mul(sub(1, south), insideMask(y0, h));
  const wy1 = mul(south, insideMask(y1, h));
  const pixels = reshape(x, [n, c, h * w]);
  const corner = (cx: Tensor, cy: Tensor, weight: Tensor) => {
    const flatIndex = add(mul(clampIndex(cy, h), w), clampIndex(cx, w));
    const index = expand(cast(flatIndex, 'int64'), [n, c, p]);
    return mul(gatherElements(pixels, index, 2), weight);
  };
  const sum = add(
    add(corner(x0, y0, mul(wx0, wy0)), corner(x1, y0, mul(wx1, wy0))),
    add(corner(x0, y1, mul(wx0, wy1)), corner(x1, y1, mul(wx1, wy1))),
  );
  return reshape(sum, [n, c, ho, wo]);
}

/** x sampled at θ·(output position): the reference's `RandomAffineWithInverse.__call__`. */
export function warp(x: Tensor, theta: Tensor): Tensor {
  const [n, , h, w] = imageShape(x, 'warp');
  const [gx, gy] = affineCoordinates(theta, h, w);
  if (gx.shape[0] !== n && gx.shape[0] !== 1)
    throw new GraphError(`warp: ${gx.shape[0]} affine matrices for ${n} images`);
  return sampleBilinear(x, gx, gy);
}

/**
 * Inverse of θ as a 3×3 affine matrix, in-graph (θ is a runtime input in training):
 * [[a,b,c],[d,e,f]]⁻¹ = [[e, −b, bf − ce], [−d, a, cd − af]] / (ae − bd).
 */
export function invertTheta(theta: Tensor): Tensor {
  const t = batchedTheta(theta, 'invertTheta');
  const n = t.shape[0]!;
  const at = (r: number, col: number) => reshape(slice(slice(t, 1, r, r + 1), 2, col, col + 1), [n, 1, 1]);
  const [a, b, c, d, e, f] = [at(0, 0), at(0, 1), at(0, 2), at(1, 0), at(1, 1), at(1, 2)];
  const det = sub(mul(a, e), mul(b, d));
  const row0 = concat([e, neg(b), sub(mul(b, f), mul(c, e))], 2);
  const row1 = concat([neg(d), a, sub(mul(c, d), mul(a, f))], 2);
  const inv = div(concat([row0, row1], 1), det);
  return theta.shape.length === 2 ? reshape(inv, [2, 3]) : inv;
}

/** Undoes `warp(·, θ)` where the image content allows: samples with θ⁻¹, zeros outside. */
export function inverseWarp(x: Tensor, theta: Tensor): Tensor {
  return warp(x, invertTheta(theta));
}

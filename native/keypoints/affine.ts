// Random affine warps of the equivariance loss and of augmented inference, drawn the
// way the reference's RandomAffineWithInverse draws them, as 2×3 matrices θ in
// normalised coordinates (PyTorch affine_grid convention: θ maps output to input).
import type { Random } from './rng.js';

export interface AffineRanges {
  /** Rotation is drawn uniformly in ±rotationDegrees. */
  rotationDegrees: number;
  /** Scale is drawn uniformly in [min, max]. */
  scale: readonly [number, number];
  /** Translation in normalised units (1 = half the image), drawn in ±x and ±y. */
  translate: readonly [number, number];
}

export interface AffineParams {
  angleDeg: number;
  scale: number;
  tx: number;
  ty: number;
}

/** Row-major [2,3] θ. */
export type Theta = Float32Array;

/** Draws angle, scale, tx, ty in the reference's order. */
export function drawAffineParams(rng: Random, ranges: AffineRanges): AffineParams {
  const angleDeg = rng.uniformIn(-ranges.rotationDegrees, ranges.rotationDegrees);
  const scale = rng.uniformIn(ranges.scale[0], ranges.scale[1]);
  const tx = rng.uniformIn(-ranges.translate[0], ranges.translate[0]);
  const ty = rng.uniformIn(-ranges.translate[1], ranges.translate[1]);
  return { angleDeg, scale, tx, ty };
}

/**
 * θ = [[s·cos a, s·sin a, tx], [−s·sin a, s·cos a, ty]]. The reference stores cos and
 * sin as float32 and multiplies by the scale in float32; doing the same reproduces
 * its θ bit for bit.
 */
export function thetaFromParams(p: AffineParams): Theta {
  const f = Math.fround;
  const rad = (p.angleDeg * Math.PI) / 180;
  const c = f(Math.cos(rad));
  const s = f(Math.sin(rad));
  const k = f(p.scale);
  return Float32Array.from([f(c * k), f(s * k), f(p.tx), f(-s * k), f(c * k), f(p.ty)]);
}

export function drawTheta(rng: Random, ranges: AffineRanges): { params: AffineParams; theta: Theta } {
  const params = drawAffineParams(rng, ranges);
  return { params, theta: thetaFromParams(params) };
}

/** Inverse of θ taken as the 3×3 matrix [θ; 0 0 1], in float64, returned as float32 [2,3]. */
export function invertAffine(theta: ArrayLike<number>): Theta {
  if (theta.length !== 6) throw new RangeError(`invertAffine: θ must hold 6 values (2×3), got ${theta.length}`);
  const [a, b, c, d, e, f] = Array.from(theta) as [number, number, number, number, number, number];
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw new RangeError(`invertAffine: θ is singular (det ${det})`);
  return Float32Array.from([e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det]);
}

/** The identity θ (no warp). */
export const identityTheta = (): Theta => Float32Array.from([1, 0, 0, 0, 1, 0]);

// In-graph token selection (ALGORITHM.md, training step 2–3): candidates by KL to a Gaussian
// at each map's peak, then furthest point sampling over the candidates' peaks. Everything
// here is discrete, so it carries no gradient.
import type { Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';

/** Peak (row, col) of each map [N, R, R] as float pixel indices [N, 2]. */
export function peakPositions(maps: Tensor): Tensor {
  const [n, h, w] = maps.shape as [number, number, number];
  const flat = op.argMax(op.reshape(op.stopGradient(maps), [n, h * w]), 1, true);
  const idx = op.cast(flat, 'float32');
  const row = op.floor(op.div(idx, w));
  const col = op.sub(idx, op.mul(row, w));
  return op.concat([row, col], 1);
}

/**
 * Squared distance from every pixel index (i, j) of an h×w grid to each position [N, 2] shifted by
 * `offset` in both axes: [N, h, w].
 */
function squaredDistances(positions: Tensor, h: number, w: number, offset = 0): Tensor {
  const g = positions.graph;
  const n = positions.shape[0]!;
  const rows = g.constant(
    Float32Array.from({ length: h }, (_, i) => i),
    [1, h, 1],
  );
  const cols = g.constant(
    Float32Array.from({ length: w }, (_, i) => i),
    [1, 1, w],
  );
  const axis = (a: number) => {
    const p = op.slice(positions, 1, a, a + 1);
    return op.reshape(offset === 0 ? p : op.add(p, offset), [n, 1, 1]);
  };
  const dr = op.sub(rows, axis(0));
  const dc = op.sub(cols, axis(1));
  return op.add(op.mul(dr, dr), op.mul(dc, dc));
}

/** Gaussians exp(−d²/2σ²) on pixel centres around each position [N, 2] → [N, R, R]. */
export function gaussianAt(positions: Tensor, h: number, w: number, sigma: number): Tensor {
  return op.exp(op.mul(squaredDistances(positions, h, w), -1 / (2 * sigma * sigma)));
}

/**
 * The `subjects` highest peaks of each map [N, R, R], as [N, 2] each: after a peak, pixels within
 * 0.05·R of it are zeroed before looking for the next (the reference's find_k_max_pixels,
 * distances from pixel index to peak centre as it measures them).
 */
export function subjectPeaks(maps: Tensor, subjects: number): Tensor[] {
  const [, h, w] = maps.shape as [number, number, number];
  const radiusSq = (0.05 * h) ** 2;
  let work = op.stopGradient(maps);
  const peaks: Tensor[] = [];
  for (let k = 0; k < subjects; k++) {
    const peak = peakPositions(work);
    peaks.push(peak);
    if (k === subjects - 1) break;
    const outside = op.greater(squaredDistances(peak, h, w, 0.5), radiusSq);
    work = op.where(outside, work, 0);
  }
  return peaks;
}

/** The sharpening target of each map: the mean of Gaussians at its `subjects` peaks, [N, R, R]. */
export function subjectTarget(maps: Tensor, sigma: number, subjects: number): Tensor {
  const [, h, w] = maps.shape as [number, number, number];
  const blobs = subjectPeaks(maps, subjects).map((p) => gaussianAt(p, h, w, sigma));
  const total = blobs.slice(1).reduce((acc, b) => op.add(acc, b), blobs[0]!);
  return op.stopGradient(subjects === 1 ? total : op.mul(total, 1 / subjects));
}

/** Tokens ranked by KL(Gaussian target ‖ softmax(map)), the `count` sharpest first: int64 [count]. */
export function sharpestTokens(maps: Tensor, sigma: number, count: number, subjects = 1): Tensor {
  const [n, h, w] = maps.shape as [number, number, number];
  const m = op.stopGradient(maps);
  const target = op.reshape(op.add(subjectTarget(m, sigma, subjects), 1e-5), [n, h * w]);
  const t = op.div(target, op.sum(target, [1], true));
  const q = op.softmax(op.add(op.reshape(m, [n, h * w]), 1e-5), 1);
  const kl = op.sum(op.mul(t, op.sub(op.log(t), op.log(q))), [1]);
  return op.topKIndices(kl, count, 0, false);
}

/** Row `index` (int64 [1]) of a matrix [C, C] as [1, C], exactly (a one-hot product). */
const row = (m: Tensor, index: Tensor) => op.matmul(op.oneHot(index, m.shape[0]!), m);

/**
 * Furthest point sampling among `candidates` (int64 [C]) using the peaks of `maps`:
 * the farthest pair first, then repeatedly the candidate farthest from the chosen set.
 * Returns the chosen token indices, int64 [k], in the order chosen.
 */
export function furthestPointSampling(maps: Tensor, candidates: Tensor, k: number): Tensor {
  const c = candidates.shape[0]!;
  const [, h] = maps.shape as [number, number, number];
  const peaks = op.div(op.add(peakPositions(maps), 0.5), h);
  const pts = op.matmul(op.oneHot(candidates, maps.shape[0]!), peaks); // [C, 2]
  const diff = op.sub(op.reshape(pts, [c, 1, 2]), op.reshape(pts, [1, c, 2]));
  const dist = op.sqrt(op.sum(op.mul(diff, diff), [2])); // [C, C]
  const pair = op.cast(op.argMax(op.reshape(dist, [c * c]), 0, true), 'float32');
  const i = op.floor(op.div(pair, c));
  const j = op.sub(pair, op.mul(i, c));
  const chosen = [op.cast(i, 'int64'), op.cast(j, 'int64')];
  let nearest = op.minimum(row(dist, chosen[0]!), row(dist, chosen[1]!));
  while (chosen.length < k) {
    const next = op.argMax(nearest, 1, false); // [1]
    chosen.push(next);
    nearest = op.minimum(nearest, row(dist, next));
  }
  return op.gatherElements(candidates, op.concat(chosen, 0), 0);
}

// Which tokens become keypoints: rank tokens by how Gaussian their attention blob is
// (KL divergence to a Gaussian at the blob's peak), keep the best candidates, then pick
// K of them spread over the image by furthest point sampling. Mirrors the reference's
// find_top_k_gaussian / furthest_point_sampling / find_best_indices on host arrays.

/** Attention maps of N tokens on an R×R grid, row-major [N, R, R]. */
export interface TokenMaps {
  data: Float32Array;
  tokens: number;
  size: number;
}

/** A point in normalised image coordinates (pixel centre / size). */
export interface PointYX {
  y: number;
  x: number;
}

function checkMaps(maps: TokenMaps): void {
  const { data, tokens, size } = maps;
  if (data.length !== tokens * size * size) {
    throw new RangeError(`attention maps: ${data.length} values do not fill [${tokens}, ${size}, ${size}]`);
  }
}

/** Flat index of the largest value of token n's map; the first one on ties, as torch.argmax on CPU. */
function argmaxOf(data: ArrayLike<number>, offset: number, length: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = data[offset + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** Each token's peak: (row + 0.5, col + 0.5) / R, the reference's find_max_pixel / R. */
export function peakPositions(maps: TokenMaps): PointYX[] {
  checkMaps(maps);
  const { data, tokens, size } = maps;
  const area = size * size;
  return Array.from({ length: tokens }, (_, n) => {
    const at = argmaxOf(data, n * area, area);
    return { y: (Math.floor(at / size) + 0.5) / size, x: ((at % size) + 0.5) / size };
  });
}

/**
 * The `subjects` highest peaks of one map: after each peak, pixels within 0.05·R of it
 * are zeroed before looking for the next (the reference's find_k_max_pixels).
 */
export function subjectPeaks(map: ArrayLike<number>, size: number, subjects: number): PointYX[] {
  const area = size * size;
  const work = Float64Array.from({ length: area }, (_, i) => map[i]!);
  const radiusSq = (0.05 * size) ** 2;
  const peaks: PointYX[] = [];
  for (let s = 0; s < subjects; s++) {
    const at = argmaxOf(work, 0, area);
    const py = Math.floor(at / size) + 0.5;
    const px = (at % size) + 0.5;
    peaks.push({ y: py / size, x: px / size });
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) if ((j - px) ** 2 + (i - py) ** 2 <= radiusSq) work[i * size + j] = 0;
    }
  }
  return peaks;
}

/** Mean of Gaussians exp(−d²/2σ²) centred on `peaks`, evaluated on the R×R pixel centres. */
export function gaussianTarget(peaks: readonly PointYX[], size: number, sigma: number): Float64Array {
  const out = new Float64Array(size * size);
  const denom = 2 * sigma * sigma;
  for (const p of peaks) {
    const cy = p.y * size;
    const cx = p.x * size;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++)
        out[i * size + j]! += Math.exp(-((i + 0.5 - cy) ** 2 + (j + 0.5 - cx) ** 2) / denom);
    }
  }
  for (let k = 0; k < out.length; k++) out[k]! /= peaks.length;
  return out;
}

export interface CandidateOptions {
  sigma: number;
  /** Blobs expected per image (the reference's num_subjects). */
  subjects?: number;
}

const EPSILON = 1e-5;

/**
 * KL(T‖Q) per token, with T the normalised Gaussian target (+1e-5) at the token's
 * peak(s) and Q the softmax over pixels of its map (+1e-5). Lower is sharper.
 */
export function gaussianScores(maps: TokenMaps, opts: CandidateOptions): Float64Array {
  checkMaps(maps);
  const { data, tokens, size } = maps;
  const area = size * size;
  const subjects = opts.subjects ?? 1;
  const scores = new Float64Array(tokens);
  for (let n = 0; n < tokens; n++) {
    const map = data.subarray(n * area, (n + 1) * area);
    const target = gaussianTarget(subjectPeaks(map, size, subjects), size, opts.sigma);
    let targetSum = 0;
    for (let i = 0; i < area; i++) targetSum += target[i]! + EPSILON;
    let maxLogit = -Infinity;
    for (let i = 0; i < area; i++) maxLogit = Math.max(maxLogit, map[i]! + EPSILON);
    let expSum = 0;
    for (let i = 0; i < area; i++) expSum += Math.exp(map[i]! + EPSILON - maxLogit);
    const logNormaliser = maxLogit + Math.log(expSum);
    let kl = 0;
    for (let i = 0; i < area; i++) {
      const t = (target[i]! + EPSILON) / targetSum;
      kl += t * (Math.log(t) - (map[i]! + EPSILON - logNormaliser));
    }
    scores[n] = kl;
  }
  return scores;
}

/** The `count` tokens with the lowest Gaussian scores, best first. */
export function topCandidates(maps: TokenMaps, count: number, opts: CandidateOptions): number[] {
  if (!Number.isInteger(count) || count < 1 || count > maps.tokens) {
    throw new RangeError(`topCandidates: candidate count ${count} must be in 1..${maps.tokens} (the token count)`);
  }
  return lowestScores(gaussianScores(maps, opts), count);
}

/** The `count` items with the lowest scores, lowest first; equal scores keep index order (a stable sort). */
export function lowestScores(scores: ArrayLike<number>, count: number): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[a]! - scores[b]! || a - b);
  return order.slice(0, count);
}

/**
 * Furthest point sampling over the candidates' peaks: the farthest pair first, then
 * repeatedly the candidate farthest from the chosen set, until K. Distances are
 * computed in float32 like the reference's, and ties go to the earlier candidate
 * (strict '>'), so equal distances on the pixel lattice resolve as the reference does.
 */
export function furthestPointSampling(maps: TokenMaps, candidates: readonly number[], k: number): number[] {
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`furthestPointSampling: K must be an integer >= 2, got ${k}`);
  if (candidates.length < 2)
    throw new RangeError(`furthestPointSampling: needs at least 2 candidates, got ${candidates.length}`);
  for (const c of candidates) {
    if (!Number.isInteger(c) || c < 0 || c >= maps.tokens)
      throw new RangeError(`furthestPointSampling: candidate ${c} is not a token index`);
  }
  const f = Math.fround;
  const peaks = peakPositions(maps).map((p) => ({ y: f(p.y), x: f(p.x) }));
  const dist = (a: number, b: number) => {
    const pa = peaks[a]!;
    const pb = peaks[b]!;
    const dy = f(pa.y - pb.y);
    const dx = f(pa.x - pb.x);
    return f(Math.sqrt(f(f(dy * dy) + f(dx * dx))));
  };
  let best = -1;
  let pair: [number, number] = [candidates[0]!, candidates[1]!];
  for (let i = 0; i < candidates.length; i++) {
    for (let j = i + 1; j < candidates.length; j++) {
      const d = dist(candidates[i]!, candidates[j]!);
      if (d > best) {
        best = d;
        pair = [candidates[i]!, candidates[j]!];
      }
    }
  }
  const selected = [...pair];
  while (selected.length < k) {
    let bestMin = -1;
    let next: number | null = null;
    for (const c of candidates) {
      if (selected.includes(c)) continue;
      const nearest = Math.min(...selected.map((s) => dist(c, s)));
      if (nearest > bestMin) {
        bestMin = nearest;
        next = c;
      }
    }
    if (next === null) break;
    selected.push(next);
  }
  return selected;
}

export interface IndexChoice {
  /** The K most frequently selected token indices, most frequent first (ties: lower index first). */
  indices: number[];
  /** How often each token was selected over all images. */
  counts: Map<number, number>;
}

/** The reference's find_best_indices vote over per-image selections. */
export function chooseIndices(perImageSelections: readonly (readonly number[])[], k: number): IndexChoice {
  const counts = new Map<number, number>();
  for (const selection of perImageSelections) for (const n of selection) counts.set(n, (counts.get(n) ?? 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([n]) => n);
  return { indices: ranked.slice(0, k), counts };
}

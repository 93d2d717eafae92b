// Judges a discrete result (a ranking, a furthest-point selection, a map's peak) against the
// reference's: identical, a tie in the reference's own numbers, or a failure. The numbers are
// the reference's, recomputed in float64 from the maps it recorded, so a backend that rounds
// differently may land on the other side of a tie, but never on a choice the reference's numbers
// call clearly worse (golden/README.md, "Where ties come from").
import { peakPositions, type PointYX, type TokenMaps } from '../keypoints/fps.js';

export type Judgement =
  { kind: 'identical' } | { kind: 'tie'; gap: number; detail: string } | { kind: 'fail'; gap: number; detail: string };

const sig = (v: number) => v.toPrecision(10);
const gapText = (g: number) => g.toExponential(1);

/** |a − b| relative to the larger magnitude; 0 when both are 0. */
export function relativeGap(a: number, b: number): number {
  const scale = Math.max(Math.abs(a), Math.abs(b));
  return scale === 0 ? 0 : Math.abs(a - b) / scale;
}

const verdict = (gap: number, tolerance: number, detail: string): Judgement =>
  gap <= tolerance ? { kind: 'tie', gap, detail } : { kind: 'fail', gap, detail };

function malformed(ours: readonly number[], length: number, allowed: (n: number) => boolean): string | undefined {
  if (ours.length !== length) return `ours has ${ours.length} items, the reference ${length}`;
  if (new Set(ours).size !== ours.length) return `ours repeats an item: [${ours.join(',')}]`;
  const stray = ours.find((n) => !allowed(n));
  return stray === undefined ? undefined : `ours holds ${stray}, which is not one of the items to choose from`;
}

/**
 * A list sorted by score (lowest first, e.g. candidates by KL). Ours is accepted at a tie when,
 * at every rank where it differs, its item's reference score is within `tolerance` of the score
 * of the reference's item at that rank: only near-equal scores changed places or crossed the
 * list's boundary.
 */
export function judgeRanking(
  ours: readonly number[],
  theirs: readonly number[],
  scores: ArrayLike<number>,
  tolerance: number,
): Judgement {
  if (ours.every((n, i) => n === theirs[i]) && ours.length === theirs.length) return { kind: 'identical' };
  const bad = malformed(ours, theirs.length, (n) => Number.isInteger(n) && n >= 0 && n < scores.length);
  if (bad) return { kind: 'fail', gap: Infinity, detail: bad };
  const ranks = ours.flatMap((n, rank) => {
    const m = theirs[rank]!;
    return n === m ? [] : [{ rank, n, m, gap: relativeGap(scores[n]!, scores[m]!) }];
  });
  const gap = Math.max(...ranks.map((r) => r.gap));
  const detail = ranks
    .map(
      (r) =>
        `rank ${r.rank}: ours ${r.n} (reference score ${sig(scores[r.n]!)}) vs reference ${r.m} (${sig(scores[r.m]!)}), gap ${gapText(r.gap)}`,
    )
    .join('; ');
  return verdict(gap, tolerance, detail);
}

const distance = (a: PointYX, b: PointYX) => Math.hypot(a.y - b.y, a.x - b.x);

/**
 * Furthest point sampling over `candidates` on the peaks of `maps`: the farthest pair (in
 * candidate order), then repeatedly the candidate farthest from the chosen set. Ours is walked
 * step by step on the reference's peaks; at each step its choice must score within `tolerance`
 * of that step's best. The detail shows the first step where ours left the reference's path.
 */
export function judgeFarthestPoints(
  ours: readonly number[],
  theirs: readonly number[],
  candidates: readonly number[],
  maps: TokenMaps,
  tolerance: number,
): Judgement {
  if (ours.every((n, i) => n === theirs[i]) && ours.length === theirs.length) return { kind: 'identical' };
  const bad = malformed(ours, theirs.length, (n) => candidates.includes(n));
  if (bad) return { kind: 'fail', gap: Infinity, detail: bad };
  if (candidates.indexOf(ours[0]!) > candidates.indexOf(ours[1]!)) {
    return {
      kind: 'fail',
      gap: Infinity,
      detail: `ours starts with the pair ${ours[0]},${ours[1]} out of candidate order`,
    };
  }
  const peaks = peakPositions(maps);
  const d = (a: number, b: number) => distance(peaks[a]!, peaks[b]!);
  const pairs = candidates.flatMap((a, i) => candidates.slice(i + 1).map((b) => d(a, b)));
  const farthestPair = Math.max(...pairs);
  // Step s's score of a choice c, given ours before s: its distance to the nearest chosen point.
  const score = (s: number, c: number) => Math.min(...ours.slice(0, s).map((p) => d(p, c)));
  let gap = relativeGap(d(ours[0]!, ours[1]!), farthestPair);
  let where = '';
  if (ours[0] !== theirs[0] || ours[1] !== theirs[1]) {
    where = `first pair: ours ${ours[0]},${ours[1]} at ${sig(d(ours[0]!, ours[1]!))}, reference ${theirs[0]},${theirs[1]} at ${sig(d(theirs[0]!, theirs[1]!))}`;
  }
  for (let s = 2; s < ours.length; s++) {
    const rest = candidates.filter((c) => !ours.slice(0, s).includes(c));
    const best = Math.max(...rest.map((c) => score(s, c)));
    gap = Math.max(gap, relativeGap(score(s, ours[s]!), best));
    if (!where && ours[s] !== theirs[s]) {
      where = `step ${s}: ours ${ours[s]} at ${sig(score(s, ours[s]!))}, reference ${theirs[s]} at ${sig(score(s, theirs[s]!))}`;
    }
  }
  const detail = `${where || 'same items, other order'}; largest gap to a step's best ${gapText(gap)} (distances between the reference's peaks)`;
  return verdict(gap, tolerance, detail);
}

/**
 * Each map's peak, as (y, x) pixel centres normalised by the map size. The reference stored them
 * in float32, a rounding that can differ by an ulp from ours, so both are compared as the pixel
 * they name. Where a peak moved, the reference map's values at both pixels must be within
 * `tolerance`.
 */
export function judgePeaks(
  ours: readonly PointYX[],
  theirs: readonly PointYX[],
  maps: TokenMaps,
  tolerance: number,
): Judgement {
  if (ours.length !== theirs.length) return { kind: 'fail', gap: Infinity, detail: 'different numbers of peaks' };
  const { size, data } = maps;
  const pixel = (p: PointYX) => ({ row: Math.floor(p.y * size), col: Math.floor(p.x * size) });
  const valueAt = (k: number, p: PointYX) => data[k * size * size + pixel(p).row * size + pixel(p).col]!;
  const name = (p: PointYX) => `(${pixel(p).row},${pixel(p).col})`;
  const moved = ours.flatMap((p, k) => (name(p) === name(theirs[k]!) ? [] : [{ k, p, q: theirs[k]! }]));
  if (moved.length === 0) return { kind: 'identical' };
  const rows = moved.map(({ k, p, q }) => ({
    gap: relativeGap(valueAt(k, p), valueAt(k, q)),
    text: `map ${k}: ours ${name(p)} value ${sig(valueAt(k, p))}, reference ${name(q)} value ${sig(valueAt(k, q))}`,
  }));
  const gap = Math.max(...rows.map((r) => r.gap));
  return verdict(
    gap,
    tolerance,
    `${rows.map((r) => `${r.text}, gap ${gapText(r.gap)}`).join('; ')} (the reference's map)`,
  );
}

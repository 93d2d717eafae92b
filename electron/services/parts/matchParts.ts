// Which part each index of a new run stands for, judged by where its keypoints land: on the
// images where both the index and a part have a point, the mean distance between them as a share
// of the image diagonal. The indices are assigned to parts by the cheapest total distance (each
// part at most once); an index is offered a new part when every part is further than NEW_PART.

import type { IndexMatch, KeypointIndex, MatchVerdict } from '../../common/keypoints.js';
import { cheapestAssignment } from './assignment.js';

/** Up to this mean distance (share of the image diagonal) an index inherits a part without question. */
export const CONFIDENT = 0.05;
/** Beyond this, the index becomes a new part; between CONFIDENT and NEW_PART it is flagged "check this match". */
export const NEW_PART = 0.15;
/** Fewer shared images than this and even a close match is only a guess. */
export const MIN_IMAGES = 3;

/** A point in pixels of its image. */
export interface Point {
  x: number;
  y: number;
}

export interface MatchInput {
  indices: KeypointIndex[];
  /** Index id → image id → where the index lands (visible points only). */
  indexPoints: Map<number, Map<number, Point>>;
  /** Part id → image id → where the part is (visible points only). */
  partPoints: Map<number, Map<number, Point>>;
  imageSizes: Map<number, { width: number; height: number }>;
}

interface Distance {
  mean: number;
  images: number;
}

function distance(a: Map<number, Point>, b: Map<number, Point>, sizes: MatchInput['imageSizes']): Distance | null {
  let sum = 0;
  let images = 0;
  for (const [imageId, p] of a) {
    const q = b.get(imageId);
    const size = sizes.get(imageId);
    if (!q || !size) continue;
    sum += Math.hypot(p.x - q.x, p.y - q.y) / Math.hypot(size.width, size.height);
    images++;
  }
  return images === 0 ? null : { mean: sum / images, images };
}

function verdictOf(d: Distance): MatchVerdict {
  return d.mean <= CONFIDENT && d.images >= MIN_IMAGES ? 'confident' : 'check';
}

/** The proposal for every index, in the indices' order. */
export function matchIndicesToParts(input: MatchInput): IndexMatch[] {
  const partIds = [...input.partPoints.keys()];
  const distances = input.indices.map((index) =>
    partIds.map((partId) =>
      distance(input.indexPoints.get(index.id) ?? new Map(), input.partPoints.get(partId)!, input.imageSizes),
    ),
  );
  // One column per part, then one "new part" column per index at the NEW_PART price: an index
  // takes a part only where that is cheaper than a part of its own. Parts without shared images
  // cost more than any new part, so they are never chosen.
  const unreachable = NEW_PART * 10 + 1;
  const cost = distances.map((row) => [
    ...row.map((d) => (d === null ? unreachable : d.mean)),
    ...input.indices.map(() => NEW_PART),
  ]);
  const column = cheapestAssignment(cost);
  return input.indices.map((index, i) => {
    const j = column[i]!;
    const d = j < partIds.length ? distances[i]![j]! : null;
    const closest = distances[i]!.reduce<number | null>(
      (best, e, k) => (e !== null && (best === null || e.mean < distances[i]![best]!.mean) ? k : best),
      null,
    );
    const nearest = closest === null ? null : { partId: partIds[closest]!, distance: distances[i]![closest]!.mean };
    const base = { indexId: index.id, position: index.position, token: index.token, nearest };
    if (!d || d.mean > NEW_PART) return { ...base, partId: null, distance: null, images: 0, verdict: 'new' };
    return { ...base, partId: partIds[j]!, distance: d.mean, images: d.images, verdict: verdictOf(d) };
  });
}

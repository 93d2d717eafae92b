// The label checks on shapes whose truth is known: a bird-like set of parts placed in each image
// at a random position, angle, size and facing, with a little noise; then a point or an edge
// made wrong on purpose.
import { describe, expect, it } from 'vitest';
import {
  checkShapes,
  MIN_IMAGES,
  type Point,
  type ShapeInstance,
} from '../../../../electron/services/quality/shapeChecks.js';
import { seededRandom } from '../../../support/random.js';

/** beak, eye, crown, tail, foot: a side view. */
const BIRD: Point[] = [
  { x: 60, y: 0 },
  { x: 40, y: -8 },
  { x: 30, y: -20 },
  { x: -70, y: 5 },
  { x: 0, y: 45 },
];

function flock(count: number, seed: number): ShapeInstance[] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const angle = (rand() - 0.5) * 1.2;
    const scale = 0.5 + rand() * 2;
    const mirror = rand() < 0.5 ? -1 : 1;
    const [tx, ty] = [100 + rand() * 300, 100 + rand() * 200];
    const points = BIRD.map((p) => {
      const x = mirror * p.x + (rand() - 0.5) * 4;
      const y = p.y + (rand() - 0.5) * 4;
      return {
        x: tx + scale * (Math.cos(angle) * x - Math.sin(angle) * y),
        y: ty + scale * (Math.sin(angle) * x + Math.cos(angle) * y),
      };
    });
    return { imageId: i + 1, points };
  });
}

describe('label checks on shapes', () => {
  it('flags nothing in a flock seen at any position, angle, size and facing', () => {
    const result = checkShapes(flock(40, 1), [
      [0, 1],
      [3, 4],
    ]);
    expect(result).toEqual({ checkedImages: 40, tooFew: false, issues: [] });
  });

  it('flags the one point put where another part belongs, and only it', () => {
    const birds = flock(40, 2);
    // Image 7's beak placed on its tail.
    birds[6]!.points[0] = { ...birds[6]!.points[3]! };
    const { issues } = checkShapes(birds, []);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ imageId: 7, kind: 'far-from-usual', parts: [0] });
    expect(issues[0]!.measure).toBeGreaterThan(10 * issues[0]!.usual);
  });

  it('flags an edge far longer than usual, worst first, and skips parts not labelled', () => {
    const birds = flock(30, 3);
    // Image 3's foot dragged down below the bird; image 5 has no foot at all.
    const [beak, foot] = [birds[2]!.points[0]!, birds[2]!.points[4]!];
    birds[2]!.points[4] = { x: foot.x + 4 * (foot.x - beak.x), y: foot.y + 4 * (foot.y - beak.y) };
    birds[4]!.points[4] = null;
    const { issues } = checkShapes(birds, [[3, 4]]);
    expect(issues.map((i) => [i.imageId, i.kind, i.parts])).toEqual([
      [3, 'far-from-usual', [4]],
      [3, 'odd-edge-length', [3, 4]],
    ]);
  });

  it('says it has too few images to know what is usual, and flags nothing', () => {
    const birds = flock(MIN_IMAGES - 1, 4);
    birds[0]!.points[0] = { x: 0, y: 0 };
    // Two labelled points are no shape: that image is not counted.
    const result = checkShapes(
      [...birds, { imageId: 99, points: [{ x: 1, y: 1 }, null, null, { x: 5, y: 5 }, null] }],
      [],
    );
    expect(result).toEqual({ checkedImages: MIN_IMAGES - 1, tooFew: true, issues: [] });
  });
});

import { describe, expect, it } from 'vitest';
import {
  augmentationDraws,
  indexVotePlan,
  iterationDraws,
  planIteration,
  remainingIterations,
  totalIterations,
} from '../../../native/keypoints/schedule.js';
import type { AffineRanges } from '../../../native/keypoints/affine.js';

const ranges: AffineRanges = { rotationDegrees: 15, scale: [0.8, 1], translate: [0.25, 0.25] };

describe('training schedule', () => {
  const shape = { imageCount: 7, batchSize: 4, steps: 5 };

  it('visits every image once per pass, in a fresh order each pass', () => {
    expect(totalIterations(shape)).toBe(20);
    const plans = remainingIterations(1, shape, 0);
    expect(plans).toHaveLength(20);
    const pass = (e: number) => plans.filter((p) => p.epoch === e).map((p) => p.imageIndex);
    expect([...pass(0)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect([...pass(1)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pass(0)).not.toEqual(pass(1));
  });

  it('steps the optimiser after every batch of iterations', () => {
    const plans = remainingIterations(1, shape, 0);
    expect(plans.filter((p) => p.stepsAfter).map((p) => p.iteration)).toEqual([3, 7, 11, 15, 19]);
    expect(plans.map((p) => p.step)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
  });

  it('resumes after k steps with exactly the iterations the full run had left', () => {
    const full = remainingIterations(9, shape, 0);
    expect(remainingIterations(9, shape, 3)).toEqual(full.slice(12));
    expect(remainingIterations(9, shape, 5)).toEqual([]);
    expect(() => planIteration(9, shape, 20)).toThrow(/iteration 20 is outside 0..19/);
    expect(() => remainingIterations(9, { ...shape, batchSize: 0 }, 0)).toThrow(/batchSize/);
  });

  it('draws each iteration’s warp and noises from the seed and the iteration alone', () => {
    const a = iterationDraws(5, 17, ranges, 64);
    iterationDraws(5, 3, ranges, 64);
    const b = iterationDraws(5, 17, ranges, 64);
    expect(Array.from(b.theta)).toEqual(Array.from(a.theta));
    expect(Array.from(b.noise)).toEqual(Array.from(a.noise));
    expect(Array.from(a.noise)).not.toEqual(Array.from(a.warpedNoise));
    expect(Array.from(iterationDraws(5, 18, ranges, 64).theta)).not.toEqual(Array.from(a.theta));
    expect(Array.from(iterationDraws(6, 17, ranges, 64).noise)).not.toEqual(Array.from(a.noise));
    expect(Math.abs(a.params.angleDeg)).toBeLessThanOrEqual(15);
  });
});

describe('index vote and augmented inference draws', () => {
  it('cycles through shuffled images for the index vote, with reproducible noise', () => {
    const plan = indexVotePlan(2, 10, 4, 8);
    expect(plan).toHaveLength(10);
    expect([...plan.slice(0, 4).map((p) => p.imageIndex)].sort()).toEqual([0, 1, 2, 3]);
    expect(Array.from(plan[7]!.noise())).toEqual(Array.from(indexVotePlan(2, 10, 4, 8)[7]!.noise()));
  });

  it('keys augmentation draws by image, independent of processing order', () => {
    const first = augmentationDraws(3, 42, 10, ranges, 16);
    expect(first).toHaveLength(10);
    augmentationDraws(3, 7, 10, ranges, 16);
    const again = augmentationDraws(3, 42, 10, ranges, 16);
    expect(again.map((d) => Array.from(d.theta))).toEqual(first.map((d) => Array.from(d.theta)));
    expect(Array.from(augmentationDraws(3, 43, 1, ranges, 16)[0]!.theta)).not.toEqual(Array.from(first[0]!.theta));
  });
});

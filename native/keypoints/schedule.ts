// The optimisation schedule and every random draw of a run, as pure functions of the
// seed and a position (iteration, image): a run resumed from a checkpoint at any step
// draws exactly what the uninterrupted run would have drawn, without replaying it.
import { drawTheta, type AffineParams, type AffineRanges, type Theta } from './affine.js';
import { Random } from './rng.js';

export interface ScheduleShape {
  /** Training images available. */
  imageCount: number;
  /** Iterations accumulated per optimiser step. */
  batchSize: number;
  /** Optimiser steps. */
  steps: number;
}

export interface IterationPlan {
  /** 0-based training iteration (an image seen once, plain and warped). */
  iteration: number;
  /** 0-based optimiser step this iteration's gradient goes into. */
  step: number;
  /** The optimiser steps (and a checkpoint may be written) after this iteration. */
  stepsAfter: boolean;
  /** Pass over the shuffled dataset this iteration belongs to. */
  epoch: number;
  imageIndex: number;
}

function checkShape(s: ScheduleShape): void {
  for (const [name, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`training schedule: ${name} must be a positive integer, got ${v}`);
  }
}

export const totalIterations = (s: ScheduleShape): number => s.steps * s.batchSize;

/** A fresh shuffle of the images for every pass, as the reference's DataLoader(shuffle=True). */
export function imageOrder(seed: number, epoch: number, imageCount: number): number[] {
  return new Random(seed, 'image-order', epoch).permutation(imageCount);
}

export function planIteration(seed: number, shape: ScheduleShape, iteration: number): IterationPlan {
  checkShape(shape);
  const total = totalIterations(shape);
  if (!Number.isInteger(iteration) || iteration < 0 || iteration >= total) {
    throw new RangeError(`training schedule: iteration ${iteration} is outside 0..${total - 1}`);
  }
  const epoch = Math.floor(iteration / shape.imageCount);
  return {
    iteration,
    step: Math.floor(iteration / shape.batchSize),
    stepsAfter: (iteration + 1) % shape.batchSize === 0,
    epoch,
    imageIndex: imageOrder(seed, epoch, shape.imageCount)[iteration % shape.imageCount]!,
  };
}

/** The iterations still to run after `completedSteps` optimiser steps (resume point). */
export function remainingIterations(seed: number, shape: ScheduleShape, completedSteps: number): IterationPlan[] {
  checkShape(shape);
  if (!Number.isInteger(completedSteps) || completedSteps < 0 || completedSteps > shape.steps) {
    throw new RangeError(`training schedule: ${completedSteps} completed steps is outside 0..${shape.steps}`);
  }
  const plans: IterationPlan[] = [];
  for (let it = completedSteps * shape.batchSize; it < totalIterations(shape); it++)
    plans.push(planIteration(seed, shape, it));
  return plans;
}

export interface IterationDraws {
  params: AffineParams;
  theta: Theta;
  /** ε of the plain image's evaluation. */
  noise: Float32Array;
  /** ε of the warped image's evaluation. */
  warpedNoise: Float32Array;
}

/** The warp and both noises of one training iteration; `noiseSize` = latent channels × h × w. */
export function iterationDraws(
  seed: number,
  iteration: number,
  ranges: AffineRanges,
  noiseSize: number,
): IterationDraws {
  const { params, theta } = drawTheta(new Random(seed, 'train-warp', iteration), ranges);
  return {
    params,
    theta,
    noise: new Random(seed, 'train-noise', iteration).normals(noiseSize),
    warpedNoise: new Random(seed, 'train-warped-noise', iteration).normals(noiseSize),
  };
}

/** The noise of the `vote`-th image of the index vote. */
export const indexVoteNoise = (seed: number, vote: number, noiseSize: number): Float32Array =>
  new Random(seed, 'index-noise', vote).normals(noiseSize);

/**
 * Images evaluated when voting for the keypoint indices: `count` draws cycling through
 * fresh shuffles (the reference's find_best_indices), each with its own noise.
 */
export function indexVotePlan(
  seed: number,
  count: number,
  imageCount: number,
  noiseSize: number,
): Array<{ imageIndex: number; noise: () => Float32Array }> {
  checkShape({ imageCount, batchSize: 1, steps: count });
  return Array.from({ length: count }, (_, i) => {
    const epoch = Math.floor(i / imageCount);
    return {
      imageIndex: new Random(seed, 'index-order', epoch).permutation(imageCount)[i % imageCount]!,
      noise: () => indexVoteNoise(seed, i, noiseSize),
    };
  });
}

export interface AugmentationDraw {
  theta: Theta;
  noise: Float32Array;
}

/**
 * The warps and noises of augmented inference on one image. Keyed by the image's own
 * id, so its keypoints do not depend on which other images were processed or in what order.
 */
export function augmentationDraws(
  seed: number,
  imageKey: number,
  iterations: number,
  ranges: AffineRanges,
  noiseSize: number,
): AugmentationDraw[] {
  return Array.from({ length: iterations }, (_, it) => ({
    theta: drawTheta(new Random(seed, 'augment-warp', imageKey, it), ranges).theta,
    noise: new Random(seed, 'augment-noise', imageKey, it).normals(noiseSize),
  }));
}

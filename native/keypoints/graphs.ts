// The graphs the method runs besides the training step: an image's latents (the step's plain
// image), maps with the selection made on them (index choice), and the augmented-inference draws
// (per-image keypoints).
import type { Graph, Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { resize2d } from '../graph/resize.js';
import { inverseWarp, warp } from '../graph/sampling.js';
import {
  attentionMaps,
  encode,
  modelParams,
  type MapEvaluationSettings,
  type SdxlComponents,
} from './attentionMaps.js';
import { furthestPointSampling, sharpestTokens } from './selection.js';

export interface GraphShape {
  imageSize: number;
  latentSize: number;
  tokens: number;
}

const declareInputs = (g: Graph, model: SdxlComponents, shape: GraphShape) => {
  const lc = model.vae.config.latentChannels;
  return {
    image: g.input('image', [1, 3, shape.imageSize, shape.imageSize]),
    noise: g.input('noise', [1, lc, shape.latentSize, shape.latentSize]),
    tokens: g.input('tokens', [1, shape.tokens, model.unet.config.crossAttentionDim]),
  };
};

const first = (t: Tensor) => op.reshape(t, t.shape.slice(1));

/** Input image → its latents (step 1 of an evaluation), for the training step's plain image. */
export function buildLatentsGraph(
  g: Graph,
  model: SdxlComponents,
  shape: GraphShape,
  s: { latentScale: number },
): Tensor {
  const image = g.input('image', [1, 3, shape.imageSize, shape.imageSize]);
  return encode(modelParams(g, model), model, image, s);
}

export interface SelectionGraph {
  latents: Tensor;
  maps: Tensor;
  candidates: Tensor;
  selected: Tensor;
}

/** Inputs image, noise, tokens → the maps and the K tokens furthest point sampling picks on them. */
export function buildSelectionGraph(
  g: Graph,
  model: SdxlComponents,
  shape: GraphShape,
  maps: MapEvaluationSettings,
  select: { sigma: number; candidates: number; keypoints: number; subjects: number },
): SelectionGraph {
  const { image, noise, tokens } = declareInputs(g, model, shape);
  const evaluation = attentionMaps(modelParams(g, model), model, image, noise, tokens, maps);
  const a = first(evaluation.maps);
  const candidates = sharpestTokens(a, select.sigma, select.candidates, select.subjects);
  return {
    latents: evaluation.latents,
    maps: a,
    candidates,
    selected: furthestPointSampling(a, candidates, select.keypoints),
  };
}

export interface AugmentedDrawsGraph extends AveragedMaps {
  /** unwarpedSoFar plus the chosen indices' maps of the warped images, upsampled, warped back: [K, S, S]. */
  unwarpedSum: Tensor;
  /** coverageSoFar plus how many draws cover each pixel once warped back: [S, S]. */
  coverageSum: Tensor;
}

/** The graph's outputs, in the order a run returns them to AugmentedAverage.update. */
export const augmentedDrawsOutputs = (g: AugmentedDrawsGraph): Tensor[] => [
  g.unwarpedSum,
  g.coverageSum,
  g.averaged,
  g.peaks,
];

/** What the sums average to: an image's keypoints once its last pass has run. */
export interface AveragedMaps {
  /** The sum over the draws / how many draws covered each pixel, 0 where none did: [K, S, S]. */
  averaged: Tensor;
  /** Each averaged map's peak: the flat index of the first pixel of its highest value, int64 [K]. */
  peaks: Tensor;
}

/**
 * The averaged maps of sums [K, S, S] over coverage [S, S], and their peaks. Made on the device so
 * the host only reads them: per pixel on the host they cost tens of milliseconds an image.
 */
export function averagedMaps(unwarpedSum: Tensor, coverageSum: Tensor): AveragedMaps {
  const [k, h, w] = unwarpedSum.shape as [number, number, number];
  const coverage = op.reshape(coverageSum, [1, h, w]);
  const uncovered = op.equal(coverage, coverage.graph.fill(0, [1, h, w]));
  const averaged = op.where(uncovered, 0, op.div(unwarpedSum, coverage));
  return { averaged, peaks: op.argMax(op.reshape(averaged, [k, h * w]), 1) };
}

/**
 * Inputs image, thetas [D,2,3], noises [D,C,h,w], tokens, indices (int64 [K]), unwarpedSoFar
 * [K,S,S], coverageSoFar [S,S] → the sums carried on by D augmentation draws in one batch: one
 * call per pass instead of one per draw, and only the sums travel back to the host. The draws
 * are added one at a time, in order, to the sums so far, so an image's result is the same
 * bits however its draws are split into passes.
 */
export function buildAugmentedDraws(
  g: Graph,
  model: SdxlComponents,
  shape: GraphShape,
  maps: MapEvaluationSettings,
  keypoints: number,
  outputSize: number,
  draws: number,
): AugmentedDrawsGraph {
  const lc = model.vae.config.latentChannels;
  const image = g.input('image', [1, 3, shape.imageSize, shape.imageSize]);
  const thetas = g.input('thetas', [draws, 2, 3]);
  const noises = g.input('noises', [draws, lc, shape.latentSize, shape.latentSize]);
  const tokens = g.input('tokens', [1, shape.tokens, model.unet.config.crossAttentionDim]);
  const indices = g.input('indices', [keypoints], 'int64');
  const unwarpedSoFar = g.input('unwarpedSoFar', [keypoints, outputSize, outputSize]);
  const coverageSoFar = g.input('coverageSoFar', [outputSize, outputSize]);
  const warped = warp(op.expand(image, [draws, 3, shape.imageSize, shape.imageSize]), thetas);
  const a = attentionMaps(modelParams(g, model), model, warped, noises, tokens, maps).maps; // [D, N, R, R]
  const [, n, r] = a.shape as [number, number, number, number];
  const byToken = op.reshape(op.transpose(a, [1, 0, 2, 3]), [n, draws, r, r]);
  const picked = op.transpose(op.takeRows(byToken, indices), [1, 0, 2, 3]); // [D, K, R, R]
  const unwarped = inverseWarp(resize2d(picked, outputSize, outputSize, 'bilinear'), thetas);
  const coverage = inverseWarp(g.fill(1, [draws, 1, outputSize, outputSize]), thetas);
  const draw = (t: Tensor, d: number, dims: number[]) => op.reshape(op.slice(t, 0, d, d + 1), dims);
  let unwarpedSum = unwarpedSoFar;
  let coverageSum = coverageSoFar;
  for (let d = 0; d < draws; d++) {
    unwarpedSum = op.add(unwarpedSum, draw(unwarped, d, [keypoints, outputSize, outputSize]));
    coverageSum = op.add(coverageSum, draw(coverage, d, [outputSize, outputSize]));
  }
  return { unwarpedSum, coverageSum, ...averagedMaps(unwarpedSum, coverageSum) };
}

// The graphs the method runs besides the training step: maps with the selection made on them
// (index choice), and one augmented-inference draw (per-image keypoints).
import type { Graph, Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { resize2d } from '../graph/resize.js';
import { inverseWarp, warp } from '../graph/sampling.js';
import { attentionMaps, modelParams, type MapEvaluationSettings, type SdxlComponents } from './attentionMaps.js';
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
  return { latents: evaluation.latents, maps: a, candidates, selected: furthestPointSampling(a, candidates, select.keypoints) };
}

export interface AugmentedDrawGraph {
  /** The chosen indices' maps of the warped image, upsampled and warped back: [K, S, S]. */
  unwarped: Tensor;
  /** Where the warped-back image has content: [S, S] in [0, 1]. */
  coverage: Tensor;
}

/** Inputs image, theta, noise, tokens, indices (int64 [K]) → one augmentation draw, ready to accumulate. */
export function buildAugmentedDraw(
  g: Graph,
  model: SdxlComponents,
  shape: GraphShape,
  maps: MapEvaluationSettings,
  keypoints: number,
  outputSize: number,
): AugmentedDrawGraph {
  const { image, noise, tokens } = declareInputs(g, model, shape);
  const theta = g.input('theta', [2, 3]);
  const indices = g.input('indices', [keypoints], 'int64');
  const warped = warp(image, theta);
  const a = first(attentionMaps(modelParams(g, model), model, warped, noise, tokens, maps).maps);
  const picked = resize2d(op.takeRows(a, indices), outputSize, outputSize, 'bilinear');
  const unwarped = first(inverseWarp(op.reshape(picked, [1, ...picked.shape]), theta));
  const coverage = op.reshape(inverseWarp(g.fill(1, [1, 1, outputSize, outputSize]), theta), [outputSize, outputSize]);
  return { unwarped, coverage };
}

// One training iteration (ALGORITHM.md, "One training iteration"): the plain and the warped
// image's maps, token selection, sharpening + equivariance losses, and the gradient of the loss
// with respect to the tokens. The plain image's latents are an input: its encoding is the same in
// every iteration (the VAE's mean, no noise), so the run encodes each image once (IterationRunner).
// By default one graph does the rest; the low-memory setting runs the UNet evaluations one after
// the other (lowMemoryStep.ts).
import type { Graph, Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { grad } from '../graph/autodiff.js';
import { inverseWarp, warp } from '../graph/sampling.js';
import {
  encode,
  mapsFromLatents,
  modelParams,
  type MapEvaluationSettings,
  type SdxlComponents,
} from './attentionMaps.js';
import { furthestPointSampling, sharpestTokens, subjectTarget } from './selection.js';

export interface LossSettings {
  sigma: number;
  /** K: tokens trained per iteration (and keypoints in the end). */
  keypoints: number;
  /** Candidates kept before furthest point sampling. */
  candidates: number;
  sharpeningWeight: number;
  equivarianceWeight: number;
  /** Subjects per image: blobs per token map (the reference's num_subjects). */
  subjects: number;
}

export interface TrainStepGraph {
  loss: Tensor;
  sharpening: Tensor;
  equivariance: Tensor;
  gradient: Tensor;
  candidates: Tensor;
  selected: Tensor;
  maps: Tensor;
  warpedMaps: Tensor;
  warpedImage: Tensor;
}

/**
 * Where the step's discrete choices come from. `computed`: the graph makes them (training).
 * `given`: inputs givenCandidates (int64 [candidates]) and givenSelected (int64 [K]) decide them,
 * as the reference made them; the graph still outputs its own candidates, and its own selection
 * from the given candidates, so a checker can judge both while the losses and the gradient follow
 * the reference's choice (parity after a tie).
 */
export type StepChoice = 'computed' | 'given';

export interface StepShape {
  imageSize: number;
  latentSize: number;
  tokens: number;
}

/** The inputs every training-step graph declares: image, its latents, theta, noise, warpedNoise, tokens. */
export function declareStepInputs(g: Graph, model: SdxlComponents, shape: StepShape) {
  const lc = model.vae.config.latentChannels;
  return {
    image: g.input('image', [1, 3, shape.imageSize, shape.imageSize]),
    latents: g.input('latents', [1, lc, shape.latentSize, shape.latentSize]),
    theta: g.input('theta', [2, 3]),
    noise: g.input('noise', [1, lc, shape.latentSize, shape.latentSize]),
    warpedNoise: g.input('warpedNoise', [1, lc, shape.latentSize, shape.latentSize]),
    tokens: g.input('tokens', [1, shape.tokens, model.unet.config.crossAttentionDim]),
  };
}

/** [1, ...] → [...]: the maps of a batch of one. */
export const first = (t: Tensor) => op.reshape(t, t.shape.slice(1));

export interface StepLosses {
  loss: Tensor;
  sharpening: Tensor;
  equivariance: Tensor;
  candidates: Tensor;
  selected: Tensor;
}

/** Selection and losses from the plain maps `a` and the warped image's maps `aw` ([N, R, R] each). */
export function stepLosses(a: Tensor, aw: Tensor, theta: Tensor, loss: LossSettings, choice: StepChoice): StepLosses {
  const g = a.graph;
  const candidates = sharpestTokens(a, loss.sigma, loss.candidates, loss.subjects);
  const given =
    choice === 'given'
      ? {
          candidates: g.input('givenCandidates', [loss.candidates], 'int64'),
          selected: g.input('givenSelected', [loss.keypoints], 'int64'),
        }
      : undefined;
  const selected = furthestPointSampling(aw, given?.candidates ?? candidates, loss.keypoints);
  const used = given?.selected ?? selected;
  const picked = op.takeRows(a, used); // [K, R, R]
  const pickedWarped = op.takeRows(aw, used);

  const target = subjectTarget(picked, loss.sigma, loss.subjects);
  const mse = (x: Tensor, y: Tensor) => {
    const d = op.sub(x, y);
    return op.mean(op.mul(d, d), [...x.shape.keys()]);
  };
  const sharpening = mse(picked, target);
  const unwarped = first(inverseWarp(op.reshape(pickedWarped, [1, ...pickedWarped.shape]), theta));
  const equivariance = mse(picked, unwarped);
  const total = op.add(op.mul(equivariance, loss.equivarianceWeight), op.mul(sharpening, loss.sharpeningWeight));
  return { loss: total, sharpening, equivariance, candidates, selected };
}

/**
 * Graph inputs of a training step, by name: image, latents (the image's, from latentsGraph), theta,
 * noise, warpedNoise, tokens (+ the given choice).
 */
export function buildTrainStep(
  g: Graph,
  model: SdxlComponents,
  shape: StepShape,
  maps: MapEvaluationSettings,
  loss: LossSettings,
  choice: StepChoice = 'computed',
): TrainStepGraph {
  const { image, latents, theta, noise, warpedNoise, tokens } = declareStepInputs(g, model, shape);
  const params = modelParams(g, model);

  const warpedImage = warp(image, theta);
  const warpedLatents = encode(params, model, warpedImage, maps);
  // Both UNet evaluations as one batch of two: each weight is read (and widened from float16)
  // once per pass instead of twice, and every GEMM is twice as tall. Each image's maps are its
  // own: no op of the UNet mixes batch elements.
  const both = mapsFromLatents(
    params,
    model,
    op.concat([latents, warpedLatents], 0),
    op.concat([noise, warpedNoise], 0),
    tokens,
    maps,
    shape.imageSize,
  ).maps;
  const a = first(op.slice(both, 0, 0, 1));
  const aw = first(op.slice(both, 0, 1, 2));
  const step = stepLosses(a, aw, theta, loss, choice);
  const [gradient] = grad(step.loss, [tokens]);
  return { ...step, gradient: gradient!, maps: a, warpedMaps: aw, warpedImage };
}

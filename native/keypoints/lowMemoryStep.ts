// The training iteration of the "Low GPU memory" setting: the same losses and token gradient as
// the one-graph step (trainStep.ts), but only one UNet evaluation's saved activations are alive at
// a time. The plain image's evaluation runs forward only (its activations are freed as it goes);
// the loss's gradient with respect to its maps, dA (a small [N, R, R] tensor), is then carried
// back to the tokens by evaluating that UNet again from the same latents and the same noise ε
// (graph inputs, so nothing is redrawn): the gradient of sum(A ⊙ dA), a
// vector-Jacobian product, taken after the warped evaluation's own backward has freed its
// activations. One graph, so one activation arena sized for the larger of the two backwards.
import type { Graph } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { grad } from '../graph/autodiff.js';
import { warp } from '../graph/sampling.js';
import {
  attentionMaps,
  mapsFromLatents,
  modelParams,
  type MapEvaluationSettings,
  type SdxlComponents,
} from './attentionMaps.js';
import {
  declareStepInputs,
  first,
  stepLosses,
  type LossSettings,
  type StepShape,
  type TrainStepGraph,
} from './trainStep.js';

/** Inputs and outputs as buildTrainStep's (choice `computed`). */
export function buildLowMemoryTrainStep(
  g: Graph,
  model: SdxlComponents,
  shape: StepShape,
  maps: MapEvaluationSettings,
  loss: LossSettings,
): TrainStepGraph {
  const { image, latents, theta, noise, warpedNoise, tokens } = declareStepInputs(g, model, shape);
  const params = modelParams(g, model);

  const warpedImage = warp(image, theta);
  const a = first(mapsFromLatents(params, model, latents, noise, tokens, maps, shape.imageSize).maps);
  const aw = first(attentionMaps(params, model, warpedImage, warpedNoise, tokens, maps).maps);
  // The loss sees the plain maps as constants: their share of the gradient comes from the second pass.
  const aConstant = op.stopGradient(a);
  const step = stepLosses(aConstant, aw, theta, loss, 'computed');
  const [warpedShare, mapsGradient] = grad(step.loss, [tokens, aConstant]);

  const again = first(mapsFromLatents(params, model, latents, noise, tokens, maps, shape.imageSize).maps);
  const upstream = op.stopGradient(mapsGradient!);
  const [plainShare] = grad(op.sum(op.mul(again, upstream), [0, 1, 2]), [tokens]);
  // The warped share first: its backward frees that evaluation's activations before the second pass.
  return { ...step, gradient: op.add(warpedShare!, plainShare!), maps: a, warpedMaps: aw, warpedImage };
}

// The method's real graphs (training step with its gradient, image latents, index selection, augmented draws) on
// the carried case_a model, as the parity run builds them: the largest graphs the tests can make
// without real SDXL weights. Used where a change must leave whole graphs byte-identical.
import { Graph, type Tensor } from '../../native/graph/ir.js';
import {
  buildAugmentedDraws,
  buildLatentsGraph,
  buildSelectionGraph,
  type GraphShape,
} from '../../native/keypoints/graphs.js';
import { buildTrainStep, type LossSettings } from '../../native/keypoints/trainStep.js';
import { openGoldenCase } from '../../native/parity/goldenCase.js';
import { loadSdxlModel } from '../../native/sdxl/load.js';
import { goldenCaseDir } from '../golden/paths.js';

export interface MethodGraph {
  name: string;
  outputs: Tensor[];
}

/** Builds case_a's training step, latents, selection and augmented-draws graphs, each in its own Graph. */
export function methodGraphs(): MethodGraph[] {
  const c = openGoldenCase(goldenCaseDir());
  const p = c.meta.params;
  const model = loadSdxlModel(c.modelDir);
  const shape: GraphShape = { imageSize: p.image_size, latentSize: p.latent_size, tokens: p.num_tokens };
  const maps = {
    upsampleRes: p.feature_upsample_res,
    layers: p.layers,
    maxQueryTokens: 32 * 32,
    latentScale: p.latent_scale,
    schedule: model.scheduler,
    timestep: p.timestep,
  };
  const loss: LossSettings = {
    sigma: p.sigma,
    keypoints: p.top_k,
    candidates: p.furthest_point_num_samples,
    sharpeningWeight: p.sharpening_loss_weight,
    equivarianceWeight: p.equivariance_attn_loss_weight,
    subjects: p.num_subjects,
  };
  const step = buildTrainStep(new Graph(), model, shape, maps, loss);
  const sel = buildSelectionGraph(new Graph(), model, shape, maps, loss);
  const aug = c.meta.augmented;
  const sums = buildAugmentedDraws(new Graph(), model, shape, maps, aug.indices.length, aug.upscale_size, 3);
  return [
    {
      name: 'train step',
      outputs: [step.loss, step.sharpening, step.equivariance, step.gradient, step.candidates, step.selected],
    },
    { name: 'image latents', outputs: [buildLatentsGraph(new Graph(), model, shape, maps)] },
    { name: 'selection', outputs: [sel.latents, sel.maps, sel.candidates, sel.selected] },
    { name: 'augmented draws', outputs: [sums.unwarpedSum, sums.coverageSum] },
  ];
}

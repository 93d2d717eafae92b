// The method's real graphs (training step with its gradient, image latents, index selection, augmented draws) on
// the carried case_a model, as the parity run builds them: the largest graphs the tests can make
// without real SDXL weights. Used where a change must leave whole graphs byte-identical.
import { Graph, type Tensor } from '../../native/graph/ir.js';
import {
  augmentedDrawsOutputs,
  buildAugmentedDraws,
  buildLatentsGraph,
  buildSelectionGraph,
} from '../../native/keypoints/graphs.js';
import { buildTrainStep } from '../../native/keypoints/trainStep.js';
import { caseSettings } from '../../native/parity/caseSettings.js';
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
  const { shape, maps, loss } = caseSettings(p, model.scheduler);
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
    { name: 'augmented draws', outputs: augmentedDrawsOutputs(sums) },
  ];
}

// A reference case's parameters as the settings of our graphs: the parity run and the tests that
// pin the method's graphs build the very same graphs from them.
import type { MapEvaluationSettings } from '../keypoints/attentionMaps.js';
import type { GraphShape } from '../keypoints/graphs.js';
import type { LossSettings } from '../keypoints/trainStep.js';
import type { SchedulerConfig } from '../sdxl/config.js';
import type { GoldenMeta } from './goldenCase.js';

export interface CaseSettings {
  shape: GraphShape;
  maps: MapEvaluationSettings;
  loss: LossSettings;
}

/** `schedule`: the noise schedule of the model the reference ran (its model folder's). */
export function caseSettings(p: GoldenMeta['params'], schedule: SchedulerConfig): CaseSettings {
  return {
    shape: { imageSize: p.image_size, latentSize: p.latent_size, tokens: p.num_tokens },
    maps: {
      upsampleRes: p.feature_upsample_res,
      layers: p.layers,
      maxQueryTokens: 32 * 32,
      latentScale: p.latent_scale,
      schedule,
      timestep: p.timestep,
    },
    loss: {
      sigma: p.sigma,
      keypoints: p.top_k,
      candidates: p.furthest_point_num_samples,
      sharpeningWeight: p.sharpening_loss_weight,
      equivarianceWeight: p.equivariance_attn_loss_weight,
      subjects: p.num_subjects,
    },
  };
}

// "Find the maps" (ALGORITHM.md, one UNet evaluation): image → latent → noised latent →
// UNet up to the controlled layers → attention maps [B, N, R, R].
import type { Graph, Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import type { SchedulerConfig, UNetConfig, VaeConfig } from '../sdxl/config.js';
import { Params, type WeightLookup } from '../sdxl/params.js';
import { noiseCoefficients } from '../sdxl/timeEmbedding.js';
import { unetAttentionMaps, type MapSettings } from '../sdxl/unet.js';
import { encodeLatents } from '../sdxl/vae.js';

/** The two SDXL components the method uses, with their configs and weights. */
export interface SdxlComponents {
  unet: { config: UNetConfig; weights: WeightLookup };
  vae: { config: VaeConfig; weights: WeightLookup };
}

export interface MapEvaluationSettings extends MapSettings {
  latentScale: number;
  schedule: SchedulerConfig;
  timestep: number;
}

/** Weights as graph leaves, shared by every evaluation inside one graph (both UNet calls of a step). */
export interface ModelParams {
  unet: Params;
  vae: Params;
}

export const modelParams = (g: Graph, model: SdxlComponents): ModelParams => ({
  unet: new Params(g, model.unet.weights, 'unet'),
  vae: new Params(g, model.vae.weights, 'vae'),
});

export interface MapEvaluation {
  latents: Tensor;
  maps: Tensor;
  textEmbeds: Tensor;
}

/** One evaluation: images [B,3,S,S] in [0,1], noise ε [B,C,h,w], tokens [1,N,D]. */
export function attentionMaps(
  params: ModelParams,
  model: SdxlComponents,
  images: Tensor,
  noise: Tensor,
  tokens: Tensor,
  s: MapEvaluationSettings,
): MapEvaluation {
  const latents = encode(params, model, images, s);
  return { latents, ...mapsFromLatents(params, model, latents, noise, tokens, s, images.shape[2]!) };
}

/** Step 1 of an evaluation alone: images [B,3,S,S] in [0,1] → their latents. */
export const encode = (params: ModelParams, model: SdxlComponents, images: Tensor, s: { latentScale: number }) =>
  encodeLatents(params.vae, model.vae.config, images, s.latentScale);

/**
 * The UNet half of an evaluation, from latents already encoded: the training step's plain image
 * comes encoded, and the low-memory step recomputes this half for its backward.
 */
export function mapsFromLatents(
  params: ModelParams,
  model: SdxlComponents,
  latents: Tensor,
  noise: Tensor,
  tokens: Tensor,
  s: MapEvaluationSettings,
  imageSize: number,
): Omit<MapEvaluation, 'latents'> {
  const c = noiseCoefficients(s.schedule, s.timestep);
  const sample = op.add(op.mul(latents, c.signal), op.mul(noise, c.noise));
  return unetAttentionMaps(params.unet, model.unet.config, { sample, tokens, timestep: s.timestep, imageSize }, s);
}

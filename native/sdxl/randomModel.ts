// Random-weight models of the SDXL architecture at any size: a diffusers folder (configs +
// safetensors) and its original single-file twin. Used by tests, benchmarks and the demo, where
// downloading 7 GB of real weights is not an option.
//
// Every tensor is drawn from its own PRNG stream seeded by (seed, component, name), so a value does
// not depend on which other tensors are written: a filtered write equals the same tensors of a full one.
// Initialisation follows PyTorch's defaults for Linear/Conv (uniform ±1/sqrt(fan_in) for weights and
// biases), which keeps activations finite through the whole UNet as case_a shows; norm scales are
// 1 ± 0.1 and norm shifts ±0.1 so that swapping a norm's weight and bias changes the output.
import fs from 'node:fs';
import path from 'node:path';
import {
  normalizeUNetConfig,
  normalizeVaeConfig,
  parseDiffusersUNetConfig,
  parseDiffusersVaeConfig,
  unetTensorShapes,
  vaeTensorShapes,
  SDXL_TIME_ID_COUNT,
  type TensorShapes,
} from './config.js';
import { loadSdxlModel, type LoadOptions, type WeightSource } from './load.js';
import {
  UNET_PREFIX,
  VAE_PREFIX,
  isVaeAttentionProjection,
  unetKeyToOriginal,
  vaeKeyToOriginal,
} from './singleFile.js';
import { writeSafetensorsStreaming, type TensorPlan, type WritableDtype } from '../weights/safetensors.js';

export interface RandomModelSizes {
  /** UNet channels per resolution level. */
  blockOutChannels: number[];
  layersPerBlock: number;
  /** Per level; ignored for levels without attention. */
  transformerDepth: number[];
  /** Attention heads per level. */
  heads: number[];
  /** Which down levels have cross-attention (SDXL: all but the first). */
  downHasAttention: boolean[];
  crossAttentionDim: number;
  pooledDim: number;
  /** Width of each sinusoidal time-id embedding. */
  timeIdEmbedDim: number;
  unetNormGroups: number;
  /** Latent side the UNet config advertises. */
  sampleSize: number;
  vaeBlockOutChannels: number[];
  vaeLayersPerBlock: number;
  vaeNormGroups: number;
  latentChannels: number;
}

/** stabilityai/stable-diffusion-xl-base-1.0's sizes: 2.57 G UNet parameters, 83.7 M VAE. */
export const SDXL_SIZES: RandomModelSizes = {
  blockOutChannels: [320, 640, 1280],
  layersPerBlock: 2,
  transformerDepth: [1, 2, 10],
  heads: [5, 10, 20],
  downHasAttention: [false, true, true],
  crossAttentionDim: 2048,
  pooledDim: 1280,
  timeIdEmbedDim: 256,
  unetNormGroups: 32,
  sampleSize: 128,
  vaeBlockOutChannels: [128, 256, 512, 512],
  vaeLayersPerBlock: 2,
  vaeNormGroups: 32,
  latentChannels: 4,
};

/** Small enough to train on a CPU in seconds; same structure as SDXL (16 channels per head). */
export const DEMO_SIZES: RandomModelSizes = {
  blockOutChannels: [32, 64, 128],
  layersPerBlock: 2,
  transformerDepth: [1, 1, 2],
  heads: [2, 4, 8],
  downHasAttention: [false, true, true],
  crossAttentionDim: 64,
  pooledDim: 32,
  timeIdEmbedDim: 8,
  unetNormGroups: 16,
  sampleSize: 16,
  vaeBlockOutChannels: [16, 32, 32, 32],
  vaeLayersPerBlock: 1,
  vaeNormGroups: 8,
  latentChannels: 4,
};

export type ModelComponent = 'unet' | 'vae';

export interface RandomModelOptions {
  /** Stored type of the weights (default F32). */
  dtype?: WritableDtype;
  /**
   * Which tensors to write (default all). A model missing tensors loads only with
   * `allowMissing`; used to benchmark a truncated full-size UNet without writing 10 GB.
   */
  include?: (component: ModelComponent, name: string) => boolean;
}

export function unetConfigJson(s: RandomModelSizes): Record<string, unknown> {
  return {
    _class_name: 'UNet2DConditionModel',
    act_fn: 'silu',
    addition_embed_type: 'text_time',
    addition_time_embed_dim: s.timeIdEmbedDim,
    // diffusers' historical naming: this list holds the number of heads per block (see config.ts).
    attention_head_dim: s.heads,
    block_out_channels: s.blockOutChannels,
    center_input_sample: false,
    cross_attention_dim: s.crossAttentionDim,
    down_block_types: s.downHasAttention.map((a) => (a ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    flip_sin_to_cos: true,
    freq_shift: 0,
    in_channels: 4,
    layers_per_block: s.layersPerBlock,
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    norm_eps: 1e-5,
    norm_num_groups: s.unetNormGroups,
    out_channels: 4,
    projection_class_embeddings_input_dim: s.pooledDim + SDXL_TIME_ID_COUNT * s.timeIdEmbedDim,
    sample_size: s.sampleSize,
    transformer_layers_per_block: s.transformerDepth,
    up_block_types: [...s.downHasAttention].reverse().map((a) => (a ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    upcast_attention: false,
    use_linear_projection: true,
  };
}

export function vaeConfigJson(s: RandomModelSizes): Record<string, unknown> {
  return {
    _class_name: 'AutoencoderKL',
    act_fn: 'silu',
    block_out_channels: s.vaeBlockOutChannels,
    down_block_types: s.vaeBlockOutChannels.map(() => 'DownEncoderBlock2D'),
    force_upcast: true,
    in_channels: 3,
    latent_channels: s.latentChannels,
    layers_per_block: s.vaeLayersPerBlock,
    norm_num_groups: s.vaeNormGroups,
    out_channels: 3,
    sample_size: s.sampleSize * 2 ** (s.vaeBlockOutChannels.length - 1),
    scaling_factor: 0.13025,
    up_block_types: s.vaeBlockOutChannels.map(() => 'UpDecoderBlock2D'),
  };
}

const SCHEDULER_CONFIG = {
  _class_name: 'DDIMScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  set_alpha_to_one: false,
  steps_offset: 1,
  timestep_spacing: 'leading',
};

/** Set in model_index.json of the folders written here, so the app can say their weights are random. */
export const RANDOM_WEIGHTS_KEY = '_skp_random_weights';

const MODEL_INDEX = {
  _class_name: 'StableDiffusionXLPipeline',
  [RANDOM_WEIGHTS_KEY]: true,
  unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
  scheduler: ['diffusers', 'DDIMScheduler'],
};

/** True for a diffusers folder written by writeRandomSdxlModel. */
export function hasRandomWeights(modelPath: string): boolean {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(modelPath, 'model_index.json'), 'utf8')) as unknown;
    return (
      typeof index === 'object' && index !== null && (index as Record<string, unknown>)[RANDOM_WEIGHTS_KEY] === true
    );
  } catch {
    return false;
  }
}

/** FNV-1a: spreads (seed, component, name) into a 32-bit stream seed. */
function hashSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: a tiny, fast, well-mixed 32-bit generator; fills `out` with U(-bound, bound). */
function fillUniform(out: Float32Array, seed: number, center: number, bound: number): void {
  let a = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = center + (2 * u - 1) * bound;
  }
}

/** The random values of one tensor; depends only on (seed, component, name, shape). */
export function randomTensor(
  shapes: TensorShapes,
  component: ModelComponent,
  name: string,
  seed: number,
): Float32Array {
  const shape = shapes.get(name);
  if (!shape) throw new Error(`${component}: no tensor '${name}' in this architecture`);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const streamSeed = hashSeed(`${seed}:${component}:${name}`);
  const isNorm = shape.length === 1 && /(^|\.)(norm\d?|group_norm|conv_norm_out|norm_out)\.(weight|bias)$/.test(name);
  if (isNorm) {
    fillUniform(out, streamSeed, name.endsWith('.weight') ? 1 : 0, 0.1);
    return out;
  }
  const weightShape = name.endsWith('.bias') ? shapes.get(name.slice(0, -'bias'.length) + 'weight') : shape;
  const fanIn = weightShape ? weightShape.slice(1).reduce((a, b) => a * b, 1) : 1;
  fillUniform(out, streamSeed, 0, 1 / Math.sqrt(fanIn));
  return out;
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

function writeComponent(
  file: string,
  component: ModelComponent,
  shapes: TensorShapes,
  seed: number,
  opts: RandomModelOptions,
): void {
  const dtype = opts.dtype ?? 'F32';
  const plan: TensorPlan[] = [...shapes]
    .filter(([name]) => !opts.include || opts.include(component, name))
    .map(([name, shape]) => ({ name, dtype, shape }));
  writeSafetensorsStreaming(file, plan, (p) => randomTensor(shapes, component, p.name, seed), { format: 'pt' });
}

/**
 * Writes a diffusers-layout SDXL folder with random weights: model_index.json, unet/, vae/,
 * scheduler/. Tensors are generated and written one at a time (full size fits in little memory).
 */
export function writeRandomSdxlModel(
  dir: string,
  sizes: RandomModelSizes = DEMO_SIZES,
  seed = 0,
  opts: RandomModelOptions = {},
): void {
  const unetJson = unetConfigJson(sizes);
  const vaeJson = vaeConfigJson(sizes);
  // Normalising first validates the sizes (heads divide channels, groups divide channels, ...).
  const unet = normalizeUNetConfig(parseDiffusersUNetConfig(unetJson, 'random model sizes'), 'random model sizes');
  const vae = normalizeVaeConfig(
    parseDiffusersVaeConfig(vaeJson, 'random model sizes (VAE)'),
    'random model sizes (VAE)',
  );
  for (const sub of ['unet', 'vae', 'scheduler']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  writeJson(path.join(dir, 'model_index.json'), MODEL_INDEX);
  writeJson(path.join(dir, 'unet', 'config.json'), unetJson);
  writeJson(path.join(dir, 'vae', 'config.json'), vaeJson);
  writeJson(path.join(dir, 'scheduler', 'scheduler_config.json'), SCHEDULER_CONFIG);
  const weightsFile = 'diffusion_pytorch_model.safetensors';
  writeComponent(path.join(dir, 'unet', weightsFile), 'unet', unetTensorShapes(unet), seed, opts);
  writeComponent(path.join(dir, 'vae', weightsFile), 'vae', vaeTensorShapes(vae), seed, opts);
}

function originalPlan(
  w: WeightSource,
  prefix: string,
  toOriginal: (name: string) => string,
  dtype: WritableDtype,
): Array<TensorPlan & { source: string }> {
  return w.names().map((name) => {
    const shape = w.shape(name);
    // The original VAE keeps its attention projections as 1×1 convolutions.
    const stored = isVaeAttentionProjection(name) && prefix === VAE_PREFIX ? [...shape, 1, 1] : shape;
    return { name: prefix + toOriginal(name), dtype, shape: stored, source: name };
  });
}

/**
 * Writes the model folder `modelDir` as one original-layout file (`model.diffusion_model.*`,
 * `first_stage_model.*`), the way sd_xl_base_1.0.safetensors ships. Streams tensor by tensor.
 */
export function writeSingleFile(
  modelDir: string,
  file: string,
  dtype: WritableDtype = 'F16',
  opts: Pick<LoadOptions, 'allowMissing'> = {},
): void {
  const model = loadSdxlModel(modelDir, opts);
  const u = model.unet.config;
  const unetLayout = { layersPerBlock: u.layersPerBlock, hasAttention: u.downHasAttention };
  const vaeLayout = { levels: model.vae.config.blockOutChannels.length };
  const plan = [
    ...originalPlan(model.unet.weights, UNET_PREFIX, (n) => unetKeyToOriginal(n, unetLayout), dtype).map((p) => ({
      ...p,
      weights: model.unet.weights,
    })),
    ...originalPlan(model.vae.weights, VAE_PREFIX, (n) => vaeKeyToOriginal(n, vaeLayout), dtype).map((p) => ({
      ...p,
      weights: model.vae.weights,
    })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  writeSafetensorsStreaming(file, plan, (p, i) => plan[i]!.weights.readFloat32(plan[i]!.source), { format: 'pt' });
}

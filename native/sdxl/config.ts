// Model configs: diffusers' JSON files (validated with zod at the edge) and our normalised form,
// where every per-block setting is an explicit list so graph builders never re-derive diffusers'
// defaulting rules.
//
// Naming trap in diffusers' UNet2DConditionModel: `num_attention_heads = num_attention_heads or
// attention_head_dim`. Configs written before diffusers fixed the naming (all SDXL configs, which
// leave `num_attention_heads` null) store the NUMBER OF HEADS per block in `attention_head_dim`;
// each block then gets `out_channels // heads` channels per head (CrossAttnDownBlock2D passes that
// to Transformer2DModel). SDXL base: attention_head_dim [5, 10, 20] over channels [320, 640, 1280]
// = 64 channels per head. The mid block uses the last entry; up blocks use the reversed list.
import { readRegularTextFileSync } from '../weights/regularFile.js';
import { z } from 'zod';

export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelConfigError';
  }
}

const intOrList = z.union([z.number().int().positive(), z.array(z.number().int().positive()).min(1)]);

/** diffusers `unet/config.json` (UNet2DConditionModel); unknown keys are ignored. */
export const DiffusersUNetConfigSchema = z.object({
  _class_name: z.string().optional(),
  in_channels: z.number().int().positive().default(4),
  out_channels: z.number().int().positive().default(4),
  sample_size: z.number().int().positive().nullish(),
  block_out_channels: z.array(z.number().int().positive()).min(1),
  down_block_types: z.array(z.string()).min(1),
  up_block_types: z.array(z.string()).min(1),
  mid_block_type: z.string().nullish(),
  layers_per_block: intOrList.default(2),
  transformer_layers_per_block: z
    .union([
      z.number().int().nonnegative(),
      z.array(z.union([z.number().int().nonnegative(), z.array(z.number().int())])),
    ])
    .default(1),
  reverse_transformer_layers_per_block: z.array(z.array(z.number().int().nonnegative())).nullish(),
  attention_head_dim: intOrList.nullish(),
  num_attention_heads: intOrList.nullish(),
  cross_attention_dim: intOrList.default(1280),
  addition_embed_type: z.string().nullish(),
  addition_time_embed_dim: z.number().int().positive().nullish(),
  projection_class_embeddings_input_dim: z.number().int().positive().nullish(),
  class_embed_type: z.string().nullish(),
  norm_num_groups: z.number().int().positive().nullish().default(32),
  norm_eps: z.number().positive().default(1e-5),
  use_linear_projection: z.boolean().default(false),
  upcast_attention: z.boolean().nullish(),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  act_fn: z.string().default('silu'),
  time_embedding_type: z.string().default('positional'),
  time_embedding_dim: z.number().int().positive().nullish(),
  resnet_time_scale_shift: z.string().default('default'),
  mid_block_scale_factor: z.number().default(1),
  conv_in_kernel: z.number().int().default(3),
  conv_out_kernel: z.number().int().default(3),
  only_cross_attention: z.union([z.boolean(), z.array(z.boolean())]).default(false),
  dual_cross_attention: z.boolean().default(false),
  encoder_hid_dim_type: z.string().nullish(),
  time_cond_proj_dim: z.number().nullish(),
  attention_type: z.string().default('default'),
});
export type DiffusersUNetConfig = z.infer<typeof DiffusersUNetConfigSchema>;

/** diffusers `vae/config.json` (AutoencoderKL). */
export const DiffusersVaeConfigSchema = z.object({
  _class_name: z.string().optional(),
  in_channels: z.number().int().positive().default(3),
  out_channels: z.number().int().positive().default(3),
  latent_channels: z.number().int().positive().default(4),
  block_out_channels: z.array(z.number().int().positive()).min(1),
  down_block_types: z.array(z.string()).min(1),
  up_block_types: z.array(z.string()).min(1),
  layers_per_block: z.number().int().positive().default(1),
  norm_num_groups: z.number().int().positive().default(32),
  act_fn: z.string().default('silu'),
  sample_size: z.number().int().positive().nullish(),
  scaling_factor: z.number().positive().default(0.18215),
  shift_factor: z.number().nullish(),
  force_upcast: z.boolean().default(true),
  mid_block_add_attention: z.boolean().default(true),
  use_quant_conv: z.boolean().default(true),
  use_post_quant_conv: z.boolean().default(true),
});
export type DiffusersVaeConfig = z.infer<typeof DiffusersVaeConfigSchema>;

/** diffusers `scheduler/scheduler_config.json` (DDIM/Euler/... share these fields). */
export const DiffusersSchedulerConfigSchema = z.object({
  _class_name: z.string().optional(),
  num_train_timesteps: z.number().int().positive().default(1000),
  beta_start: z.number().positive().default(0.00085),
  beta_end: z.number().positive().default(0.012),
  beta_schedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']).default('scaled_linear'),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  steps_offset: z.number().int().nonnegative().default(1),
  timestep_spacing: z.enum(['leading', 'trailing', 'linspace']).default('leading'),
  set_alpha_to_one: z.boolean().default(false),
  clip_sample: z.boolean().default(false),
  trained_betas: z.array(z.number()).nullish(),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type DiffusersSchedulerConfig = z.infer<typeof DiffusersSchedulerConfigSchema>;

/** A UNet in our terms. Lists are per down block (index 0 = highest resolution) unless named `up…`. */
export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  /** Latent side the model was trained at (SDXL: 128), when the config says. */
  sampleSize: number | null;
  blockOutChannels: number[];
  /** Resnets per down block; up block i has `upLayersPerBlock[i]` = reversed + 1. */
  layersPerBlock: number[];
  upLayersPerBlock: number[];
  downHasAttention: boolean[];
  /** Per up block, in execution order (lowest resolution first). */
  upHasAttention: boolean[];
  /** Transformer blocks per attention, per down block (meaningless where the block has no attention). */
  transformerDepth: number[];
  upTransformerDepth: number[];
  midTransformerDepth: number;
  /** Attention heads per down block; channels per head = blockOutChannels[i] / headCount[i]. */
  headCount: number[];
  upHeadCount: number[];
  midHeadCount: number;
  /** Width of the text tokens fed to cross-attention (SDXL: 2048). */
  crossAttentionDim: number;
  normNumGroups: number;
  normEps: number;
  useLinearProjection: boolean;
  upcastAttention: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  /** Width of the timestep embedding MLP (block_out_channels[0] × 4). */
  timeEmbedDim: number;
  /** Width of each sinusoidal time-id embedding (SDXL: 256). */
  additionTimeEmbedDim: number;
  /** Input width of add_embedding = pooledDim + timeIdCount × additionTimeEmbedDim (SDXL: 2816). */
  projectionInputDim: number;
  /** Width of the pooled text embedding `text_embeds` (SDXL: 1280). */
  pooledDim: number;
  /** How many time ids SDXL conditions on: original size, crop, target size. */
  timeIdCount: number;
  midBlockScaleFactor: number;
}

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  /** Resnets per encoder block; decoder blocks have one more. */
  layersPerBlock: number;
  normNumGroups: number;
  /** diffusers' Encoder/Decoder hard-code 1e-6 (not configurable). */
  normEps: number;
  /** The mid-block attention uses a single head over all channels. */
  midAttention: boolean;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  scalingFactor: number;
  shiftFactor: number | null;
  sampleSize: number | null;
}

export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  predictionType: 'epsilon' | 'v_prediction' | 'sample';
  stepsOffset: number;
  timestepSpacing: 'leading' | 'trailing' | 'linspace';
  setAlphaToOne: boolean;
}

/** SDXL conditions on six time ids: original (h, w), crop (top, left), target (h, w). */
export const SDXL_TIME_ID_COUNT = 6;

const CROSS_DOWN = 'CrossAttnDownBlock2D';
const PLAIN_DOWN = 'DownBlock2D';
const CROSS_UP = 'CrossAttnUpBlock2D';
const PLAIN_UP = 'UpBlock2D';

function perBlock(value: number | number[], n: number, field: string, where: string): number[] {
  if (typeof value === 'number') return Array(n).fill(value);
  if (value.length !== n) throw new ModelConfigError(`${where}: ${field} has ${value.length} entries for ${n} blocks`);
  return [...value];
}

function check(cond: boolean, where: string, message: string): asserts cond {
  if (!cond) throw new ModelConfigError(`${where}: ${message}`);
}

/** One down and one up block type per block, each of a kind given; returns the number of blocks. */
function checkBlocks(
  c: Pick<DiffusersUNetConfig & DiffusersVaeConfig, 'block_out_channels' | 'down_block_types' | 'up_block_types'>,
  where: string,
  downTypes: readonly string[],
  upTypes: readonly string[],
): number {
  const n = c.block_out_channels.length;
  check(
    c.down_block_types.length === n,
    where,
    `down_block_types has ${c.down_block_types.length} entries for ${n} blocks`,
  );
  check(c.up_block_types.length === n, where, `up_block_types has ${c.up_block_types.length} entries for ${n} blocks`);
  for (const t of c.down_block_types) check(downTypes.includes(t), where, `down block type '${t}' is not supported`);
  for (const t of c.up_block_types) check(upTypes.includes(t), where, `up block type '${t}' is not supported`);
  return n;
}

function formatZod(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readRegularTextFileSync(path);
  } catch (e) {
    throw new ModelConfigError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export function parseDiffusersUNetConfig(raw: unknown, where: string): DiffusersUNetConfig {
  const r = DiffusersUNetConfigSchema.safeParse(raw);
  if (!r.success) throw new ModelConfigError(`${where}: not a diffusers UNet config (${formatZod(r.error)})`);
  return r.data;
}

export function parseDiffusersVaeConfig(raw: unknown, where: string): DiffusersVaeConfig {
  const r = DiffusersVaeConfigSchema.safeParse(raw);
  if (!r.success) throw new ModelConfigError(`${where}: not a diffusers AutoencoderKL config (${formatZod(r.error)})`);
  return r.data;
}

export const readDiffusersUNetConfig = (path: string) => parseDiffusersUNetConfig(readJson(path), path);
export const readDiffusersVaeConfig = (path: string) => parseDiffusersVaeConfig(readJson(path), path);

/**
 * Our UNet config from a diffusers one. Rejects, naming the field, whatever the SDXL graph does
 * not implement, so an unusual model fails here rather than with a shape error deep in a graph.
 */
export function normalizeUNetConfig(c: DiffusersUNetConfig, where: string): UNetConfig {
  const n = checkBlocks(c, where, [CROSS_DOWN, PLAIN_DOWN], [CROSS_UP, PLAIN_UP]);
  check(
    (c.mid_block_type ?? 'UNetMidBlock2DCrossAttn') === 'UNetMidBlock2DCrossAttn',
    where,
    `mid_block_type '${c.mid_block_type}' is not supported`,
  );
  check(
    c.addition_embed_type === 'text_time',
    where,
    `addition_embed_type is ${JSON.stringify(c.addition_embed_type ?? null)}, SDXL uses 'text_time'`,
  );
  check(c.act_fn === 'silu', where, `act_fn '${c.act_fn}' is not supported (SDXL uses silu)`);
  check(
    c.time_embedding_type === 'positional',
    where,
    `time_embedding_type '${c.time_embedding_type}' is not supported`,
  );
  check(
    c.resnet_time_scale_shift === 'default',
    where,
    `resnet_time_scale_shift '${c.resnet_time_scale_shift}' is not supported`,
  );
  check(!c.class_embed_type, where, `class_embed_type '${c.class_embed_type}' is not supported`);
  check(
    c.conv_in_kernel === 3 && c.conv_out_kernel === 3,
    where,
    'conv_in_kernel/conv_out_kernel other than 3 are not supported',
  );
  check(
    c.only_cross_attention === false ||
      (Array.isArray(c.only_cross_attention) && c.only_cross_attention.every((v) => !v)),
    where,
    'only_cross_attention is not supported',
  );
  check(!c.dual_cross_attention, where, 'dual_cross_attention is not supported');
  check(!c.encoder_hid_dim_type, where, `encoder_hid_dim_type '${c.encoder_hid_dim_type}' is not supported`);
  check(c.time_cond_proj_dim == null, where, 'time_cond_proj_dim (LCM guidance embedding) is not supported');
  check(c.attention_type === 'default', where, `attention_type '${c.attention_type}' is not supported`);
  check(c.time_embedding_dim == null, where, 'a custom time_embedding_dim is not supported');
  check(c.norm_num_groups != null, where, 'norm_num_groups is null (no group norm): not supported');
  check(c.addition_time_embed_dim != null, where, 'addition_time_embed_dim is missing');
  check(c.projection_class_embeddings_input_dim != null, where, 'projection_class_embeddings_input_dim is missing');

  const headsRaw = c.num_attention_heads ?? c.attention_head_dim;
  check(headsRaw != null, where, 'neither num_attention_heads nor attention_head_dim is set');
  const headCount = perBlock(
    headsRaw,
    n,
    c.num_attention_heads != null ? 'num_attention_heads' : 'attention_head_dim',
    where,
  );
  const layersPerBlock = perBlock(c.layers_per_block, n, 'layers_per_block', where);
  const tl = c.transformer_layers_per_block;
  check(
    typeof tl === 'number' || tl.every((v) => typeof v === 'number'),
    where,
    'transformer_layers_per_block with per-layer lists (asymmetric UNets) is not supported',
  );
  const transformerDepth = perBlock(tl as number | number[], n, 'transformer_layers_per_block', where);
  check(c.reverse_transformer_layers_per_block == null, where, 'reverse_transformer_layers_per_block is not supported');
  const cross = perBlock(c.cross_attention_dim, n, 'cross_attention_dim', where);
  check(
    cross.every((d) => d === cross[0]),
    where,
    `cross_attention_dim differs between blocks (${cross.join(', ')})`,
  );

  const downHasAttention = c.down_block_types.map((t) => t === CROSS_DOWN);
  const upHasAttention = c.up_block_types.map((t) => t === CROSS_UP);
  for (let i = 0; i < n; i++) {
    check(
      upHasAttention[n - 1 - i] === downHasAttention[i],
      where,
      `up block ${n - 1 - i} (${c.up_block_types[n - 1 - i]}) does not mirror down block ${i} (${c.down_block_types[i]})`,
    );
    if (downHasAttention[i]) {
      check(
        c.block_out_channels[i]! % headCount[i]! === 0,
        where,
        `block ${i}: ${c.block_out_channels[i]} channels do not split into ${headCount[i]} heads`,
      );
    }
    check(
      c.block_out_channels[i]! % c.norm_num_groups === 0,
      where,
      `block ${i}: ${c.block_out_channels[i]} channels do not split into ${c.norm_num_groups} groups`,
    );
  }
  check(c.block_out_channels[n - 1]! % headCount[n - 1]! === 0, where, 'mid block channels do not split into heads');

  const additionTimeEmbedDim = c.addition_time_embed_dim;
  const projectionInputDim = c.projection_class_embeddings_input_dim;
  const pooledDim = projectionInputDim - SDXL_TIME_ID_COUNT * additionTimeEmbedDim;
  check(
    pooledDim > 0,
    where,
    `projection_class_embeddings_input_dim ${projectionInputDim} leaves no room for a pooled embedding after ${SDXL_TIME_ID_COUNT} time ids of ${additionTimeEmbedDim}`,
  );
  return {
    inChannels: c.in_channels,
    outChannels: c.out_channels,
    sampleSize: c.sample_size ?? null,
    blockOutChannels: [...c.block_out_channels],
    layersPerBlock,
    upLayersPerBlock: [...layersPerBlock].reverse().map((l) => l + 1),
    downHasAttention,
    upHasAttention,
    transformerDepth,
    upTransformerDepth: [...transformerDepth].reverse(),
    midTransformerDepth: transformerDepth[n - 1]!,
    headCount,
    upHeadCount: [...headCount].reverse(),
    midHeadCount: headCount[n - 1]!,
    crossAttentionDim: cross[0]!,
    normNumGroups: c.norm_num_groups,
    normEps: c.norm_eps,
    useLinearProjection: c.use_linear_projection,
    upcastAttention: c.upcast_attention ?? false,
    flipSinToCos: c.flip_sin_to_cos,
    freqShift: c.freq_shift,
    timeEmbedDim: c.block_out_channels[0]! * 4,
    additionTimeEmbedDim,
    projectionInputDim,
    pooledDim,
    timeIdCount: SDXL_TIME_ID_COUNT,
    midBlockScaleFactor: c.mid_block_scale_factor,
  };
}

export function normalizeVaeConfig(c: DiffusersVaeConfig, where: string): VaeConfig {
  checkBlocks(c, where, ['DownEncoderBlock2D'], ['UpDecoderBlock2D']);
  check(c.act_fn === 'silu', where, `act_fn '${c.act_fn}' is not supported`);
  for (const [i, ch] of c.block_out_channels.entries()) {
    check(
      ch % c.norm_num_groups === 0,
      where,
      `block ${i}: ${ch} channels do not split into ${c.norm_num_groups} groups`,
    );
  }
  return {
    inChannels: c.in_channels,
    outChannels: c.out_channels,
    latentChannels: c.latent_channels,
    blockOutChannels: [...c.block_out_channels],
    layersPerBlock: c.layers_per_block,
    normNumGroups: c.norm_num_groups,
    normEps: 1e-6,
    midAttention: c.mid_block_add_attention,
    useQuantConv: c.use_quant_conv,
    usePostQuantConv: c.use_post_quant_conv,
    scalingFactor: c.scaling_factor,
    shiftFactor: c.shift_factor ?? null,
    sampleSize: c.sample_size ?? null,
  };
}

export function normalizeSchedulerConfig(raw: unknown, where: string): SchedulerConfig {
  const r = DiffusersSchedulerConfigSchema.safeParse(raw);
  if (!r.success) throw new ModelConfigError(`${where}: not a diffusers scheduler config (${formatZod(r.error)})`);
  const c = r.data;
  check(!c.trained_betas, where, 'trained_betas is not supported');
  check(!c.rescale_betas_zero_snr, where, 'rescale_betas_zero_snr is not supported');
  return {
    numTrainTimesteps: c.num_train_timesteps,
    betaStart: c.beta_start,
    betaEnd: c.beta_end,
    betaSchedule: c.beta_schedule,
    predictionType: c.prediction_type,
    stepsOffset: c.steps_offset,
    timestepSpacing: c.timestep_spacing,
    setAlphaToOne: c.set_alpha_to_one,
  };
}

export const readUNetConfig = (path: string): UNetConfig => normalizeUNetConfig(readDiffusersUNetConfig(path), path);
export const readVaeConfig = (path: string): VaeConfig => normalizeVaeConfig(readDiffusersVaeConfig(path), path);
export const readSchedulerConfig = (path: string): SchedulerConfig => normalizeSchedulerConfig(readJson(path), path);

// The tensors a config implies ----------------------------------------------------------------
// Every weight of the diffusers module tree with its shape. The loader checks a model against
// this (so a mismatched config fails at load, naming the tensor) and the random model maker
// generates exactly these.

export type TensorShapes = Map<string, number[]>;

function addResnet(out: TensorShapes, p: string, cin: number, cout: number, timeDim: number | null): void {
  out.set(`${p}.norm1.weight`, [cin]).set(`${p}.norm1.bias`, [cin]);
  addConv(out, `${p}.conv1`, cout, cin, 3);
  if (timeDim !== null) out.set(`${p}.time_emb_proj.weight`, [cout, timeDim]).set(`${p}.time_emb_proj.bias`, [cout]);
  out.set(`${p}.norm2.weight`, [cout]).set(`${p}.norm2.bias`, [cout]);
  addConv(out, `${p}.conv2`, cout, cout, 3);
  if (cin !== cout) addConv(out, `${p}.conv_shortcut`, cout, cin, 1);
}

function addLinear(out: TensorShapes, p: string, cout: number, cin: number, bias = true): void {
  out.set(`${p}.weight`, [cout, cin]);
  if (bias) out.set(`${p}.bias`, [cout]);
}

function addConv(out: TensorShapes, p: string, cout: number, cin: number, kernel: number): void {
  out.set(`${p}.weight`, [cout, cin, kernel, kernel]).set(`${p}.bias`, [cout]);
}

function addTransformer(out: TensorShapes, p: string, c: number, depth: number, cross: number, linear: boolean): void {
  out.set(`${p}.norm.weight`, [c]).set(`${p}.norm.bias`, [c]);
  const proj = linear ? [c, c] : [c, c, 1, 1];
  out.set(`${p}.proj_in.weight`, proj).set(`${p}.proj_in.bias`, [c]);
  for (let k = 0; k < depth; k++) {
    const b = `${p}.transformer_blocks.${k}`;
    for (const n of ['norm1', 'norm2', 'norm3']) out.set(`${b}.${n}.weight`, [c]).set(`${b}.${n}.bias`, [c]);
    for (const [attn, kvDim] of [
      ['attn1', c],
      ['attn2', cross],
    ] as const) {
      addLinear(out, `${b}.${attn}.to_q`, c, c, false);
      addLinear(out, `${b}.${attn}.to_k`, c, kvDim, false);
      addLinear(out, `${b}.${attn}.to_v`, c, kvDim, false);
      addLinear(out, `${b}.${attn}.to_out.0`, c, c);
    }
    // GEGLU: one projection to twice the inner width (4c), half of it gates the other half.
    addLinear(out, `${b}.ff.net.0.proj`, 8 * c, c);
    addLinear(out, `${b}.ff.net.2`, c, 4 * c);
  }
  out.set(`${p}.proj_out.weight`, proj).set(`${p}.proj_out.bias`, [c]);
}

export function unetTensorShapes(c: UNetConfig): TensorShapes {
  const out: TensorShapes = new Map();
  const ch = c.blockOutChannels;
  const n = ch.length;
  const t = c.timeEmbedDim;
  addConv(out, 'conv_in', ch[0]!, c.inChannels, 3);
  addLinear(out, 'time_embedding.linear_1', t, ch[0]!);
  addLinear(out, 'time_embedding.linear_2', t, t);
  addLinear(out, 'add_embedding.linear_1', t, c.projectionInputDim);
  addLinear(out, 'add_embedding.linear_2', t, t);
  const attention = (p: string, width: number, depth: number) =>
    addTransformer(out, p, width, depth, c.crossAttentionDim, c.useLinearProjection);
  let prev = ch[0]!;
  for (let i = 0; i < n; i++) {
    const cout = ch[i]!;
    for (let j = 0; j < c.layersPerBlock[i]!; j++) {
      addResnet(out, `down_blocks.${i}.resnets.${j}`, j === 0 ? prev : cout, cout, t);
      if (c.downHasAttention[i]) attention(`down_blocks.${i}.attentions.${j}`, cout, c.transformerDepth[i]!);
    }
    if (i < n - 1) addConv(out, `down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  }
  const last = ch[n - 1]!;
  addResnet(out, 'mid_block.resnets.0', last, last, t);
  attention('mid_block.attentions.0', last, c.midTransformerDepth);
  addResnet(out, 'mid_block.resnets.1', last, last, t);
  const rev = [...ch].reverse();
  for (let i = 0; i < n; i++) {
    const cout = rev[i]!;
    const prevOut = rev[Math.max(i - 1, 0)]!;
    const input = rev[Math.min(i + 1, n - 1)]!;
    const count = c.upLayersPerBlock[i]!;
    for (let j = 0; j < count; j++) {
      const skip = j === count - 1 ? input : cout;
      addResnet(out, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prevOut : cout) + skip, cout, t);
      if (c.upHasAttention[i]) attention(`up_blocks.${i}.attentions.${j}`, cout, c.upTransformerDepth[i]!);
    }
    if (i < n - 1) addConv(out, `up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
  }
  out.set('conv_norm_out.weight', [ch[0]!]).set('conv_norm_out.bias', [ch[0]!]);
  addConv(out, 'conv_out', c.outChannels, ch[0]!, 3);
  return out;
}

function addVaeMid(out: TensorShapes, p: string, c: number, attention: boolean): void {
  addResnet(out, `${p}.mid_block.resnets.0`, c, c, null);
  if (attention) {
    const a = `${p}.mid_block.attentions.0`;
    out.set(`${a}.group_norm.weight`, [c]).set(`${a}.group_norm.bias`, [c]);
    for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) addLinear(out, `${a}.${proj}`, c, c);
  }
  addResnet(out, `${p}.mid_block.resnets.1`, c, c, null);
}

export function vaeTensorShapes(c: VaeConfig): TensorShapes {
  const out: TensorShapes = new Map();
  const ch = c.blockOutChannels;
  const n = ch.length;
  const last = ch[n - 1]!;
  const lat = c.latentChannels;
  addConv(out, 'encoder.conv_in', ch[0]!, c.inChannels, 3);
  let prev = ch[0]!;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c.layersPerBlock; j++)
      addResnet(out, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : ch[i]!, ch[i]!, null);
    if (i < n - 1) addConv(out, `encoder.down_blocks.${i}.downsamplers.0.conv`, ch[i]!, ch[i]!, 3);
    prev = ch[i]!;
  }
  addVaeMid(out, 'encoder', last, c.midAttention);
  out.set('encoder.conv_norm_out.weight', [last]).set('encoder.conv_norm_out.bias', [last]);
  addConv(out, 'encoder.conv_out', 2 * lat, last, 3);
  if (c.useQuantConv) addConv(out, 'quant_conv', 2 * lat, 2 * lat, 1);
  if (c.usePostQuantConv) addConv(out, 'post_quant_conv', lat, lat, 1);
  addConv(out, 'decoder.conv_in', last, lat, 3);
  addVaeMid(out, 'decoder', last, c.midAttention);
  const rev = [...ch].reverse();
  for (let i = 0; i < n; i++) {
    const cout = rev[i]!;
    const prevOut = rev[Math.max(i - 1, 0)]!;
    for (let j = 0; j <= c.layersPerBlock; j++)
      addResnet(out, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prevOut : cout, cout, null);
    if (i < n - 1) addConv(out, `decoder.up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
  }
  out.set('decoder.conv_norm_out.weight', [ch[0]!]).set('decoder.conv_norm_out.bias', [ch[0]!]);
  addConv(out, 'decoder.conv_out', c.outChannels, ch[0]!, 3);
  return out;
}

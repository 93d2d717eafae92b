// Opens the user's SDXL weights, whatever layout they come in, as diffusers-named tensors with
// diffusers shapes. Nothing is read but safetensors headers and config files: the graph points
// at the bytes where they lie (WeightRef), so a 7 GB model costs no copy and no load time.
//
// Layouts: a diffusers folder (unet/ and vae/, each with config.json and
// diffusion_pytorch_model[.fp16].safetensors, possibly sharded with an .index.json) or one
// original-layout file (`model.diffusion_model.*` + `first_stage_model.*`, as
// sd_xl_base_1.0.safetensors ships).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { WeightRef } from '../graph/ir.js';
import { readRegularTextFileSync } from '../weights/regularFile.js';
import { openSafetensors, type SafetensorsDtype, type SafetensorsFile } from '../weights/safetensors.js';
import {
  normalizeUNetConfig,
  normalizeVaeConfig,
  parseDiffusersUNetConfig,
  parseDiffusersVaeConfig,
  readDiffusersUNetConfig,
  readDiffusersVaeConfig,
  readSchedulerConfig,
  unetTensorShapes,
  vaeTensorShapes,
  type DiffusersUNetConfig,
  type DiffusersVaeConfig,
  type SchedulerConfig,
  type TensorShapes,
  type UNetConfig,
  type VaeConfig,
} from './config.js';
import {
  UNET_PREFIX,
  VAE_PREFIX,
  KeyMappingError,
  inferUNet,
  inferVae,
  isVaeAttentionProjection,
  legacyVaeName,
  unetKeyToDiffusers,
  vaeKeyToDiffusers,
  type ShapeTable,
} from './singleFile.js';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

export interface WeightInfo {
  /** diffusers name, relative to the component. */
  name: string;
  /** Name in the user's file. */
  storedName: string;
  file: string;
  dtype: SafetensorsDtype;
  /** Shape as stored (the original VAE keeps attention projections as [C, C, 1, 1]). */
  storedShape: number[];
  /** diffusers shape; same element count and bytes as storedShape. */
  shape: number[];
  byteOffset: number;
  byteLength: number;
}

/** One component's weights under diffusers names and shapes. */
export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  ref(name: string): WeightRef;
  readFloat32(name: string): Float32Array;
  info(name: string): WeightInfo;
}

export interface LoadedComponent<C> {
  config: C;
  weights: WeightSource;
}

export interface LoadedModel {
  format: 'diffusers' | 'single-file';
  path: string;
  unet: LoadedComponent<UNetConfig>;
  vae: LoadedComponent<VaeConfig>;
  scheduler: SchedulerConfig;
  /** Stored element type of the weights: 'float16', 'float32', or e.g. 'mixed (float16, float32)'. */
  dtype: string;
  parameterCount: number;
}

export interface LoadOptions {
  /** A diffusers unet/config.json overriding the model's own (or, for a single file, SDXL's defaults). */
  unetConfig?: string;
  /** A diffusers vae/config.json, likewise. */
  vaeConfig?: string;
  /**
   * Accept a diffusers folder missing some of the tensors its config implies (a truncated random
   * model for benchmarks); present tensors are still checked. A graph using a missing one fails then.
   */
  allowMissing?: boolean;
}

/** SDXL's DDIM/Euler training schedule, for single files that carry no scheduler config. */
export const SDXL_SCHEDULER: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  predictionType: 'epsilon',
  stepsOffset: 1,
  timestepSpacing: 'leading',
  setAlphaToOne: false,
};

/** What a single file cannot tell from its shapes, set as in stabilityai/stable-diffusion-xl-base-1.0. */
const SDXL_UNET_DEFAULTS = {
  addition_embed_type: 'text_time',
  addition_time_embed_dim: 256,
  channels_per_head: 64,
  norm_num_groups: 32,
  norm_eps: 1e-5,
  flip_sin_to_cos: true,
  freq_shift: 0,
  sample_size: 128,
} as const;
const SDXL_VAE_DEFAULTS = { norm_num_groups: 32, scaling_factor: 0.13025, sample_size: 1024 } as const;

const STORED_AS: Partial<Record<SafetensorsDtype, WeightRef['storedAs']>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
};

const DTYPE_WORDS: Partial<Record<SafetensorsDtype, string>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
};

interface Entry {
  file: SafetensorsFile;
  storedName: string;
  shape: number[];
}

class TableSource implements WeightSource {
  constructor(
    private readonly component: string,
    private readonly entries: Map<string, Entry>,
  ) {}

  private get(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new ModelLoadError(`${this.component}: the model has no tensor '${name}'`);
    return e;
  }

  names = () => [...this.entries.keys()];
  has = (name: string) => this.entries.has(name);
  shape = (name: string) => [...this.get(name).shape];

  info(name: string): WeightInfo {
    const e = this.get(name);
    const i = e.file.info(e.storedName);
    return {
      name,
      storedName: e.storedName,
      file: e.file.path,
      dtype: i.dtype,
      storedShape: i.shape,
      shape: [...e.shape],
      byteOffset: i.byteOffset,
      byteLength: i.byteLength,
    };
  }

  ref(name: string): WeightRef {
    const e = this.get(name);
    const i = e.file.info(e.storedName);
    const storedAs = STORED_AS[i.dtype];
    if (!storedAs)
      throw new ModelLoadError(
        `${e.file.path}: tensor '${e.storedName}' is ${i.dtype}; weights must be F32, F16 or BF16`,
      );
    return { file: e.file.path, byteOffset: i.byteOffset, storedAs, name: e.storedName };
  }

  readFloat32(name: string): Float32Array {
    const e = this.get(name);
    return e.file.readFloat32(e.storedName);
  }
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const fmt = (s: number[]) => `[${s.join(', ')}]`;

/**
 * Checks a component's tensors against the ones its config implies: every expected tensor must be
 * there with its shape, in a float type. Extra tensors are an error too, since they mean the config
 * describes a different model than the file holds.
 */
function checkAgainstConfig(
  component: string,
  where: string,
  entries: Map<string, Entry>,
  expected: TensorShapes,
  allowMissing = false,
): void {
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const e = entries.get(name);
    if (!e) {
      if (!allowMissing) problems.push(`missing '${name}' ${fmt(shape)}`);
      continue;
    }
    if (e.shape.join() !== shape.join()) {
      problems.push(`'${e.storedName}' is ${fmt(e.shape)}, the config implies ${fmt(shape)}`);
      continue;
    }
    const dtype = e.file.info(e.storedName).dtype;
    if (!STORED_AS[dtype]) problems.push(`'${e.storedName}' is ${dtype}, weights must be F32, F16 or BF16`);
  }
  for (const [name, e] of entries) if (!expected.has(name)) problems.push(`unexpected tensor '${e.storedName}'`);
  if (problems.length) {
    const shown = problems.slice(0, 8).join('; ');
    const more = problems.length > 8 ? ` (and ${problems.length - 8} more)` : '';
    throw new ModelLoadError(`${where}: the ${component} weights do not match its config: ${shown}${more}`);
  }
}

// Diffusers folders -------------------------------------------------------------------------------

const ShardIndexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

const WEIGHT_FILES = [
  'diffusion_pytorch_model.safetensors',
  'diffusion_pytorch_model.safetensors.index.json',
  'diffusion_pytorch_model.fp16.safetensors',
  'diffusion_pytorch_model.fp16.safetensors.index.json',
];

function openComponentFiles(dir: string): Array<{ file: SafetensorsFile; only?: Set<string> }> {
  const found = WEIGHT_FILES.find((f) => fs.existsSync(path.join(dir, f)));
  if (!found) {
    const pickles = fs.existsSync(dir)
      ? fs.readdirSync(dir).filter((f) => f.endsWith('.bin') || f.endsWith('.ckpt'))
      : [];
    if (pickles.length) {
      throw new ModelLoadError(
        `${dir}: only PyTorch pickle weights (${pickles.join(', ')}); they can run code when opened, so convert them to .safetensors`,
      );
    }
    throw new ModelLoadError(`${dir}: no diffusion_pytorch_model.safetensors (or .fp16 / sharded variant)`);
  }
  const full = path.join(dir, found);
  if (!found.endsWith('.index.json')) return [{ file: openSafetensors(full) }];
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularTextFileSync(full));
  } catch (e) {
    throw new ModelLoadError(`${full}: not valid JSON (${(e as Error).message})`);
  }
  const index = ShardIndexSchema.safeParse(raw);
  if (!index.success)
    throw new ModelLoadError(`${full}: not a shard index (needs a "weight_map" of tensor name -> file)`);
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(index.data.weight_map)) {
    // The index comes from the internet: a shard name must not reach outside the folder.
    if (shard !== path.basename(shard) || shard === '..' || shard === '.') {
      throw new ModelLoadError(`${full}: shard '${shard}' for tensor '${name}' is not a plain file name`);
    }
    if (!byShard.has(shard)) byShard.set(shard, new Set());
    byShard.get(shard)!.add(name);
  }
  return [...byShard].map(([shard, names]) => {
    const file = openSafetensors(path.join(dir, shard));
    for (const n of names)
      if (!file.has(n)) throw new ModelLoadError(`${full}: tensor '${n}' is listed in ${shard} but not there`);
    return { file, only: names };
  });
}

function diffusersEntries(dir: string, rename: (n: string) => string = (n) => n): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const { file, only } of openComponentFiles(dir)) {
    for (const storedName of file.names()) {
      if (only && !only.has(storedName)) continue;
      const name = rename(storedName);
      if (entries.has(name)) throw new ModelLoadError(`${dir}: tensor '${name}' appears twice`);
      entries.set(name, { file, storedName, shape: file.info(storedName).shape });
    }
  }
  return entries;
}

/** Legacy diffusers VAEs stored attention projections as Linear; current ones too. Both [C, C]. */
function squeezeVaeAttention(entries: Map<string, Entry>): void {
  for (const [name, e] of entries) {
    if (isVaeAttentionProjection(name) && e.shape.length === 4 && e.shape[2] === 1 && e.shape[3] === 1) {
      e.shape = [e.shape[0]!, e.shape[1]!];
    }
  }
}

function loadDiffusersFolder(dir: string, opts: LoadOptions): Omit<LoadedModel, 'dtype' | 'parameterCount'> {
  const unetDir = path.join(dir, 'unet');
  const vaeDir = path.join(dir, 'vae');
  for (const [d, what] of [
    [unetDir, 'unet'],
    [vaeDir, 'vae'],
  ] as const) {
    if (!fs.existsSync(d))
      throw new ModelLoadError(`${dir}: no ${what}/ folder (a diffusers SDXL model folder has unet/ and vae/)`);
  }
  const unetConfigPath = opts.unetConfig ?? path.join(unetDir, 'config.json');
  const vaeConfigPath = opts.vaeConfig ?? path.join(vaeDir, 'config.json');
  const unetConfig = normalizeUNetConfig(readDiffusersUNetConfig(unetConfigPath), unetConfigPath);
  const vaeConfig = normalizeVaeConfig(readDiffusersVaeConfig(vaeConfigPath), vaeConfigPath);
  const unetEntries = diffusersEntries(unetDir);
  const vaeEntries = diffusersEntries(vaeDir, legacyVaeName);
  squeezeVaeAttention(vaeEntries);
  checkAgainstConfig('UNet', unetDir, unetEntries, unetTensorShapes(unetConfig), opts.allowMissing);
  checkAgainstConfig('VAE', vaeDir, vaeEntries, vaeTensorShapes(vaeConfig), opts.allowMissing);
  const schedulerPath = path.join(dir, 'scheduler', 'scheduler_config.json');
  return {
    format: 'diffusers',
    path: dir,
    unet: { config: unetConfig, weights: new TableSource('UNet', unetEntries) },
    vae: { config: vaeConfig, weights: new TableSource('VAE', vaeEntries) },
    scheduler: fs.existsSync(schedulerPath) ? readSchedulerConfig(schedulerPath) : SDXL_SCHEDULER,
  };
}

// Single files ------------------------------------------------------------------------------------

function shapeTable(file: SafetensorsFile, prefix: string): ShapeTable {
  const keys = file
    .names()
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length));
  return { keys, shape: (k) => (file.has(prefix + k) ? file.info(prefix + k).shape : undefined) };
}

/** Checks that the shape-determined fields of a user config agree with the file. */
function compareWithFile(where: string, user: Record<string, unknown>, inferred: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(inferred)) {
    const given = user[field];
    if (given === undefined || given === null) continue;
    const a = Array.isArray(value) && !Array.isArray(given) ? (value as unknown[]).map(() => given) : given;
    if (JSON.stringify(a) !== JSON.stringify(value)) {
      throw new ModelLoadError(
        `${where}: ${field} is ${JSON.stringify(given)} but the weights have ${JSON.stringify(value)}`,
      );
    }
  }
}

function singleFileUNetConfig(file: SafetensorsFile, table: ShapeTable, configPath?: string) {
  const inferred = inferUNet(table);
  const channels = inferred.config.block_out_channels;
  let raw: Record<string, unknown>;
  if (configPath) {
    const user: DiffusersUNetConfig = readDiffusersUNetConfig(configPath);
    // Depth means nothing for levels without attention; take the config's value there.
    const userDepth = user.transformer_layers_per_block;
    inferred.config.transformer_layers_per_block = inferred.config.transformer_layers_per_block.map((d, i) =>
      inferred.layout.hasAttention[i]
        ? d
        : typeof userDepth === 'number'
          ? userDepth
          : ((userDepth[i] as number | undefined) ?? d),
    );
    compareWithFile(configPath, user, inferred.config);
    raw = { ...user, ...inferred.config };
  } else {
    const d = SDXL_UNET_DEFAULTS;
    raw = {
      ...inferred.config,
      addition_embed_type: d.addition_embed_type,
      addition_time_embed_dim: d.addition_time_embed_dim,
      attention_head_dim: channels.map((c) => Math.max(1, Math.round(c / d.channels_per_head))),
      norm_num_groups: d.norm_num_groups,
      norm_eps: d.norm_eps,
      flip_sin_to_cos: d.flip_sin_to_cos,
      freq_shift: d.freq_shift,
      sample_size: d.sample_size,
    };
  }
  const where = configPath
    ? `${file.path} with ${configPath}`
    : `${file.path} (read with SDXL's head size 64, 32 groups and time-id width 256; for other sizes give the model's diffusers unet config.json)`;
  return { layout: inferred.layout, config: normalizeUNetConfig(parseDiffusersUNetConfig(raw, where), where) };
}

function singleFileVaeConfig(file: SafetensorsFile, table: ShapeTable, configPath?: string) {
  const inferred = inferVae(table);
  let raw: Record<string, unknown>;
  if (configPath) {
    const user: DiffusersVaeConfig = readDiffusersVaeConfig(configPath);
    compareWithFile(configPath, user, inferred.config);
    raw = { ...user, ...inferred.config };
  } else {
    raw = { ...inferred.config, ...SDXL_VAE_DEFAULTS };
  }
  const where = configPath ? `${file.path} with ${configPath}` : file.path;
  return { layout: inferred.layout, config: normalizeVaeConfig(parseDiffusersVaeConfig(raw, where), where) };
}

function mapEntries(
  file: SafetensorsFile,
  prefix: string,
  component: string,
  toDiffusers: (key: string) => string | null,
): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const storedName of file.names()) {
    if (!storedName.startsWith(prefix)) continue;
    const name = toDiffusers(storedName.slice(prefix.length));
    if (name === null) throw new ModelLoadError(`${file.path}: '${storedName}' is not part of an SDXL ${component}`);
    if (entries.has(name))
      throw new ModelLoadError(
        `${file.path}: '${storedName}' and '${entries.get(name)!.storedName}' both map to '${name}'`,
      );
    entries.set(name, { file, storedName, shape: file.info(storedName).shape });
  }
  return entries;
}

function loadSingleFile(filePath: string, opts: LoadOptions): Omit<LoadedModel, 'dtype' | 'parameterCount'> {
  const file = openSafetensors(filePath);
  const unetTable = shapeTable(file, UNET_PREFIX);
  const vaeTable = shapeTable(file, VAE_PREFIX);
  if (unetTable.keys.length === 0) throw new ModelLoadError(`${filePath}: no UNet tensors (model.diffusion_model.*)`);
  if (vaeTable.keys.length === 0) throw new ModelLoadError(`${filePath}: no VAE tensors (first_stage_model.*)`);
  try {
    const unet = singleFileUNetConfig(file, unetTable, opts.unetConfig);
    const vae = singleFileVaeConfig(file, vaeTable, opts.vaeConfig);
    const unetEntries = mapEntries(file, UNET_PREFIX, 'UNet', (k) => unetKeyToDiffusers(k, unet.layout));
    const vaeEntries = mapEntries(file, VAE_PREFIX, 'VAE', (k) => vaeKeyToDiffusers(k, vae.layout));
    squeezeVaeAttention(vaeEntries);
    checkAgainstConfig('UNet', filePath, unetEntries, unetTensorShapes(unet.config));
    checkAgainstConfig('VAE', filePath, vaeEntries, vaeTensorShapes(vae.config));
    return {
      format: 'single-file',
      path: filePath,
      unet: { config: unet.config, weights: new TableSource('UNet', unetEntries) },
      vae: { config: vae.config, weights: new TableSource('VAE', vaeEntries) },
      scheduler: SDXL_SCHEDULER,
    };
  } catch (e) {
    if (e instanceof KeyMappingError) throw new ModelLoadError(`${filePath}: ${e.message}`);
    throw e;
  }
}

// Entry point -------------------------------------------------------------------------------------

function summarise(model: Omit<LoadedModel, 'dtype' | 'parameterCount'>): LoadedModel {
  const dtypes = new Set<string>();
  let parameterCount = 0;
  for (const w of [model.unet.weights, model.vae.weights]) {
    for (const n of w.names()) {
      const i = w.info(n);
      dtypes.add(DTYPE_WORDS[i.dtype] ?? i.dtype);
      parameterCount += numel(i.shape);
    }
  }
  const list = [...dtypes].sort();
  return { ...model, dtype: list.length === 1 ? list[0]! : `mixed (${list.join(', ')})`, parameterCount };
}

/** The model path made absolute, and what is there; a ModelLoadError when nothing is. */
export function statModelPath(modelPath: string): { abs: string; stat: fs.Stats } {
  const abs = path.resolve(modelPath);
  try {
    return { abs, stat: fs.statSync(abs) };
  } catch {
    throw new ModelLoadError(`${abs}: no such file or folder`);
  }
}

/**
 * Opens an SDXL model: a diffusers folder or an original-layout single .safetensors file.
 * Throws ModelLoadError / ModelConfigError / SafetensorsError naming the file and the tensor.
 */
export function loadSdxlModel(modelPath: string, opts: LoadOptions = {}): LoadedModel {
  const { abs, stat } = statModelPath(modelPath);
  if (stat.isDirectory()) return summarise(loadDiffusersFolder(abs, opts));
  if (!abs.endsWith('.safetensors')) {
    throw new ModelLoadError(`${abs}: not a .safetensors file or a diffusers model folder`);
  }
  return summarise(loadSingleFile(abs, opts));
}

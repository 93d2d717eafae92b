// The GPU memory the method needs on the native CUDA backend, from the plans the backend itself
// would make: for each job, the activation arena and constants of its graph (planGraph, pure
// TypeScript, no GPU), the weights that graph reads at their stored width, and a fixed allowance
// for the CUDA context and cuBLAS's workspace. Building a graph reads only tensor names, shapes
// and dtypes, so this works from the files' headers (or a config's recorded shapes) without
// loading a weight.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Graph, type Tensor } from '../graph/ir.js';
import { planGraph } from '../cuda/plan.js';
import { distinctFloat32Bytes, distinctStoredBytes, float32CopiesFit } from '../cuda/weights.js';
import { augmentedDrawsOutputs, buildAugmentedDraws, buildLatentsGraph } from './graphs.js';
import { buildLowMemoryTrainStep } from './lowMemoryStep.js';
import { mapSettingsFor, warpsPerPass, type MethodModel } from './method.js';
import type { RunSettings } from './settings.js';
import type { WeightSource } from '../sdxl/load.js';
import { buildTrainStep } from './trainStep.js';

/**
 * What a process using the GPU holds besides our allocations. Measured on an H200 (CUDA 13.0,
 * 2026-11-29): 0.61 GiB in use before any weight is loaded (CUDA context, cuBLAS and its
 * workspace), and 0.42 GiB more at every job's peak than its arena, weights and constants
 * (the captured launch graph and cuBLAS's own buffers). With both, the estimates match peaks
 * measured later (2026-11-30, other graphs) within 0.5%: at 512² training 8.75 GiB, Low GPU
 * memory training 6.82, inference 4.28 to 8.66 (1 to 10 warps a pass); at 1024² Low GPU memory
 * training 13.10 and inference 7.70. With layer norm and GEGLU as ops (2026-11-30) they are 2–2.5%
 * under: training 7.22 against 7.36, Low GPU memory 6.14 against 6.30, at 1024² training 13.73
 * against 13.88; inference still within 0.5%.
 */
export const CUDA_CONTEXT_BYTES = Math.round(1.03 * 2 ** 30);

export interface GraphMemory {
  /** Activations: one arena per graph (reused between tensors whose lifetimes do not overlap), summed over the job's graphs. */
  arenaBytes: number;
  constantBytes: number;
  /** Every weight the graph reads, once, at its stored width. */
  weightBytes: number;
  /** The same held as float32 copies, as a GPU with room does (CudaBackend, FLOAT32_WEIGHTS_SHARE). */
  float32WeightBytes: number;
  /** All of the above plus CUDA_CONTEXT_BYTES. */
  totalBytes: number;
}

export interface MethodMemory {
  training: GraphMemory;
  /** Training with the "Low GPU memory" setting. */
  lowMemoryTraining: GraphMemory;
  /** Augmented inference, `warpsPerPass` warps a pass. */
  inference: GraphMemory & { warpsPerPass: number };
}

/** The graphs of one job, compiled side by side: each its own arena and constants, the weights they read once. */
function graphMemory(...graphs: Tensor[][]): GraphMemory {
  const plans = graphs.map((outputs) => planGraph(outputs));
  const weights = plans.flatMap((p) => p.weights);
  const weightBytes = distinctStoredBytes(weights);
  const arenaBytes = plans.reduce((sum, p) => sum + p.arenaBytes, 0);
  const constantBytes = plans.reduce((sum, p) => sum + p.constantBytes, 0);
  return {
    arenaBytes,
    constantBytes,
    weightBytes,
    float32WeightBytes: distinctFloat32Bytes(weights),
    totalBytes: arenaBytes + constantBytes + weightBytes + CUDA_CONTEXT_BYTES,
  };
}

/**
 * A job's memory on a GPU of `gpuTotalBytes`: with float32 copies of its weights where that keeps
 * it within FLOAT32_WEIGHTS_SHARE of the card, as the backend chooses. (The backend decides per
 * graph with its own working room; per job, with the context, this is the same choice or a
 * slightly more cautious one.)
 */
export function onGpu(g: GraphMemory, gpuTotalBytes: number): { totalBytes: number; float32Weights: boolean } {
  const withCopies = g.totalBytes - g.weightBytes + g.float32WeightBytes;
  const float32Weights = g.float32WeightBytes > g.weightBytes && float32CopiesFit(withCopies, gpuTotalBytes);
  return { totalBytes: float32Weights ? withCopies : g.totalBytes, float32Weights };
}

/** Plans training (default and low-memory) and augmented inference at these settings. */
export function methodMemory(model: MethodModel, s: RunSettings): MethodMemory {
  const downscale = 2 ** (model.vae.config.blockOutChannels.length - 1);
  const shape = { imageSize: s.imageSize, latentSize: s.imageSize / downscale, tokens: s.tokens };
  const maps = mapSettingsFor(model.scheduler, s);
  // Training holds the step and the encoder of its plain images (IterationRunner).
  const training = (build: typeof buildTrainStep) => {
    const t = build(new Graph(), model, shape, maps, s);
    return graphMemory(
      [t.loss, t.sharpening, t.equivariance, t.gradient],
      [buildLatentsGraph(new Graph(), model, shape, s)],
    );
  };
  const warps = warpsPerPass(s);
  const draws = buildAugmentedDraws(new Graph(), model, shape, maps, s.keypoints, s.imageSize, warps);
  return {
    training: training(buildTrainStep),
    lowMemoryTraining: training(buildLowMemoryTrainStep),
    inference: {
      ...graphMemory(augmentedDrawsOutputs(draws)),
      warpsPerPass: warps,
    },
  };
}

/** A model whose tensors can be listed: what the cache key needs besides its configs. */
export interface ListedModel extends MethodModel {
  unet: MethodModel['unet'] & { weights: Pick<WeightSource, 'names' | 'shape' | 'ref'> };
  vae: MethodModel['vae'] & { weights: Pick<WeightSource, 'names' | 'shape' | 'ref'> };
}

const graphMemorySchema = z.object({
  arenaBytes: z.number(),
  constantBytes: z.number(),
  weightBytes: z.number(),
  float32WeightBytes: z.number(),
  totalBytes: z.number(),
});
const methodMemorySchema = z.object({
  training: graphMemorySchema,
  lowMemoryTraining: graphMemorySchema,
  inference: graphMemorySchema.extend({ warpsPerPass: z.number() }),
});

/** The engine's sources that shape a plan (graphs, model, planner): a cached plan of other code is stale. */
function engineDigest(): string {
  const native = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ts|js|mjs)$/.test(entry.name))
        hash.update(`${path.relative(native, full)}\0`).update(fs.readFileSync(full));
    }
  };
  for (const folder of ['graph', 'sdxl', 'keypoints', 'cuda']) walk(path.join(native, folder));
  return hash.digest('hex');
}

/** Configs, settings and every tensor's name, shape and stored type, plus the engine's sources. */
function cacheKey(model: ListedModel, s: RunSettings): string {
  const tensors = (weights: ListedModel['unet']['weights']) =>
    weights
      .names()
      .sort()
      .map((n) => `${n}:${weights.shape(n).join('x')}:${weights.ref(n).storedAs}`);
  return createHash('sha256')
    .update(
      JSON.stringify({
        engine: engineDigest(),
        unet: model.unet.config,
        vae: model.vae.config,
        scheduler: model.scheduler,
        settings: s,
        unetTensors: tensors(model.unet.weights),
        vaeTensors: tensors(model.vae.weights),
      }),
    )
    .digest('hex');
}

/**
 * methodMemory, kept in `cacheDir` by model, settings and engine version: planning full-size
 * SDXL takes seconds, and `skp model check` asks again for the same model. An unreadable entry
 * is planned again.
 */
export function cachedMethodMemory(model: ListedModel, s: RunSettings, cacheDir: string): MethodMemory {
  const file = path.join(cacheDir, `${cacheKey(model, s)}.json`);
  try {
    return methodMemorySchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch {
    const memory = methodMemory(model, s);
    fs.mkdirSync(cacheDir, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(partial, JSON.stringify(memory));
    fs.renameSync(partial, file);
    return memory;
  }
}

// The full-size SDXL architecture with random float16 weights, for benchmarks: only the tensors
// the method's graphs read (a dry build records them), so 2.6 GiB are written instead of 10.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Graph, type WeightRef } from '../../native/graph/ir.js';
import { buildAugmentedDraws } from '../../native/keypoints/graphs.js';
import { mapSettingsFor } from '../../native/keypoints/method.js';
import type { RunSettings } from '../../native/keypoints/settings.js';
import { buildTrainStep } from '../../native/keypoints/trainStep.js';
import {
  normalizeUNetConfig,
  normalizeVaeConfig,
  parseDiffusersUNetConfig,
  parseDiffusersVaeConfig,
  unetTensorShapes,
  vaeTensorShapes,
  type TensorShapes,
} from '../../native/sdxl/config.js';
import { loadSdxlModel, SDXL_SCHEDULER, type LoadedModel } from '../../native/sdxl/load.js';
import { SDXL_SIZES, unetConfigJson, vaeConfigJson, writeRandomSdxlModel } from '../../native/sdxl/randomModel.js';

/** A lookup over a config's tensor list that records which tensors a graph asks for. */
function recorder(shapes: TensorShapes, used: Set<string>) {
  return {
    has: (n: string) => shapes.has(n),
    shape: (n: string) => shapes.get(n)!,
    ref: (n: string): WeightRef => {
      used.add(n);
      return { file: '/nonexistent', byteOffset: 0, storedAs: 'float16', name: n };
    },
  };
}

/** Names of the SDXL tensors the training and inference graphs read at these settings. */
function tensorsNeeded(s: RunSettings, used: { unet: Set<string>; vae: Set<string> }): void {
  const unetConfig = normalizeUNetConfig(parseDiffusersUNetConfig(unetConfigJson(SDXL_SIZES), 'SDXL'), 'SDXL');
  const vaeConfig = normalizeVaeConfig(parseDiffusersVaeConfig(vaeConfigJson(SDXL_SIZES), 'SDXL'), 'SDXL');
  const dry = {
    unet: { config: unetConfig, weights: recorder(unetTensorShapes(unetConfig), used.unet) },
    vae: { config: vaeConfig, weights: recorder(vaeTensorShapes(vaeConfig), used.vae) },
  };
  const shape = { imageSize: s.imageSize, latentSize: s.imageSize / 8, tokens: s.tokens };
  const maps = mapSettingsFor(SDXL_SCHEDULER, s);
  buildTrainStep(new Graph(), dry, shape, maps, s);
  buildAugmentedDraws(new Graph(), dry, shape, maps, s.keypoints, s.imageSize, 1);
}

export interface FullSizeModel {
  model: LoadedModel;
  bytes: number;
  seconds: number;
  tensors: { unet: number; vae: number };
}

/** Writes (into `dir`/model) and loads the full-size model the given settings need. */
export function writeFullSizeModel(dir: string, settings: RunSettings[]): FullSizeModel {
  const t = performance.now();
  const used = { unet: new Set<string>(), vae: new Set<string>() };
  for (const s of settings) tensorsNeeded(s, used);
  const folder = path.join(dir, 'model');
  writeRandomSdxlModel(folder, SDXL_SIZES, 0, { dtype: 'F16', include: (c, n) => used[c].has(n) });
  const model = loadSdxlModel(folder, { allowMissing: true });
  const bytes = ['unet', 'vae'].reduce(
    (a, c) => a + fs.statSync(path.join(folder, c, 'diffusion_pytorch_model.safetensors')).size,
    0,
  );
  return {
    model,
    bytes,
    seconds: (performance.now() - t) / 1000,
    tensors: { unet: used.unet.size, vae: used.vae.size },
  };
}

// A model of another shape than case_a, made by our own code with random weights in SDXL's layout:
// the diffusers folder and the original-layout single file must give identical maps, and the
// controlled layers must be found across attention modules, not only inside one.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Graph } from '../../../native/graph/ir.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { loadSdxlModel } from '../../../native/sdxl/load.js';
import {
  DEMO_SIZES,
  writeRandomSdxlModel,
  writeSingleFile,
  type RandomModelSizes,
} from '../../../native/sdxl/randomModel.js';
import { controlledSites } from '../../../native/sdxl/unet.js';
import { buildSelectionGraph } from '../../../native/keypoints/graphs.js';
import { Random } from '../../../native/keypoints/rng.js';
import { maxAbsError } from '../../../native/parity/compare.js';

const sizes: RandomModelSizes = {
  ...DEMO_SIZES,
  blockOutChannels: [16, 32, 48],
  transformerDepth: [1, 1, 1],
  heads: [1, 2, 3],
  crossAttentionDim: 40,
  pooledDim: 24,
  timeIdEmbedDim: 6,
  unetNormGroups: 8,
  vaeBlockOutChannels: [8, 16, 16],
  vaeNormGroups: 4,
};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-shape-'));
const folder = path.join(dir, 'model');
writeRandomSdxlModel(folder, sizes, 3);
const single = path.join(dir, 'model.safetensors');
writeSingleFile(folder, single, 'F32');
const backend = new OrtBackend({ provider: 'cpu', cacheDir: path.join(dir, 'cache') });

// 64 px images through a 3-level VAE → 16×16 latents; the UNet's lowest level is 4×4.
const shape = { imageSize: 64, latentSize: 16, tokens: 12 };
const settings = {
  upsampleRes: 8,
  layers: [0, 1, 2],
  maxQueryTokens: 32 * 32,
  latentScale: 0.18215,
  timestep: 1,
};

async function mapsOf(modelPath: string, configs: { unetConfig?: string; vaeConfig?: string } = {}) {
  const model = loadSdxlModel(modelPath, configs);
  const g = new Graph();
  const sel = buildSelectionGraph(
    g,
    model,
    shape,
    { ...settings, schedule: model.scheduler },
    {
      sigma: 1,
      candidates: 6,
      keypoints: 3,
      subjects: 1,
    },
  );
  const graph = await backend.compile([sel.maps, sel.selected]);
  const rng = new Random(5);
  const [maps, selected] = await graph.run({
    image: { dtype: 'float32', shape: [1, 3, 64, 64], data: rng.uniforms(3 * 64 * 64) },
    noise: { dtype: 'float32', shape: [1, 4, 16, 16], data: rng.normals(4 * 16 * 16) },
    tokens: { dtype: 'float32', shape: [1, 12, 40], data: rng.normals(12 * 40) },
  });
  await graph.release();
  return { model, maps: maps!.data as Float32Array, selected: Array.from(selected!.data as BigInt64Array, Number) };
}

describe('a model of another shape', () => {
  it('finds the controlled layers across the attention modules of the first up block', () => {
    const model = loadSdxlModel(folder);
    const sites = controlledSites(model.unet.config, shape.latentSize, settings);
    expect(sites).toEqual([
      { upBlock: 0, attention: 0, block: 0 },
      { upBlock: 0, attention: 1, block: 0 },
      { upBlock: 0, attention: 2, block: 0 },
    ]);
  });

  it('gives identical maps from the diffusers folder and the single file', async () => {
    const a = await mapsOf(folder);
    const b = await mapsOf(single, {
      unetConfig: path.join(folder, 'unet/config.json'),
      vaeConfig: path.join(folder, 'vae/config.json'),
    });
    expect(a.maps).toHaveLength(12 * 8 * 8);
    expect(maxAbsError(a.maps, b.maps)).toBe(0);
    expect(b.selected).toEqual(a.selected);
    // Maps are softmax weights over the tokens: every pixel sums to 1.
    for (let px = 0; px < 64; px++) {
      let s = 0;
      for (let n = 0; n < 12; n++) s += a.maps[n * 64 + px]!;
      expect(s).toBeCloseTo(1, 5);
    }
  });

  it('gives maps within bfloat16 rounding from a bfloat16 single file', async () => {
    const bf16 = path.join(dir, 'model-bf16.safetensors');
    writeSingleFile(folder, bf16, 'BF16');
    const a = await mapsOf(folder);
    const b = await mapsOf(bf16, {
      unetConfig: path.join(folder, 'unet/config.json'),
      vaeConfig: path.join(folder, 'vae/config.json'),
    });
    const err = maxAbsError(a.maps, b.maps);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(5e-2);
  });
});

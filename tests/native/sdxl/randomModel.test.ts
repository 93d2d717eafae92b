import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEMO_SIZES,
  SDXL_SIZES,
  unetConfigJson,
  vaeConfigJson,
  writeRandomSdxlModel,
  writeSingleFile,
  type RandomModelSizes,
} from '../../../native/sdxl/randomModel.js';
import {
  normalizeUNetConfig,
  normalizeVaeConfig,
  parseDiffusersUNetConfig,
  parseDiffusersVaeConfig,
  unetTensorShapes,
  vaeTensorShapes,
} from '../../../native/sdxl/config.js';
import { loadSdxlModel, type LoadedModel } from '../../../native/sdxl/load.js';
import { detectModel } from '../../../native/sdxl/detect.js';
import { openSafetensors } from '../../../native/weights/safetensors.js';
import { goldenModelDir, goldenSingleFile } from '../../golden/paths.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-random-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sameBytes = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const configsOf = (dir: string) => ({
  unetConfig: path.join(dir, 'unet/config.json'),
  vaeConfig: path.join(dir, 'vae/config.json'),
});

/** A second small size, differing from the demo in every dimension the layout depends on. */
const ODD_SIZES: RandomModelSizes = {
  ...DEMO_SIZES,
  blockOutChannels: [24, 48, 48, 72],
  layersPerBlock: 1,
  transformerDepth: [1, 2, 1, 3],
  heads: [3, 3, 6, 6],
  downHasAttention: [false, true, false, true],
  crossAttentionDim: 40,
  pooledDim: 20,
  timeIdEmbedDim: 4,
  unetNormGroups: 12,
  vaeBlockOutChannels: [8, 16, 16],
  vaeLayersPerBlock: 2,
  vaeNormGroups: 4,
};

describe('random SDXL models', () => {
  it('full-size preset has exactly SDXL base 1.0’s parameter counts', () => {
    const unet = normalizeUNetConfig(parseDiffusersUNetConfig(unetConfigJson(SDXL_SIZES), 'sdxl'), 'sdxl');
    const vae = normalizeVaeConfig(parseDiffusersVaeConfig(vaeConfigJson(SDXL_SIZES), 'sdxl'), 'sdxl');
    const count = (m: Map<string, number[]>) => [...m.values()].reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
    expect(unet.headCount.map((h, i) => unet.blockOutChannels[i]! / h)).toEqual([64, 64, 64]);
    expect(unet.projectionInputDim).toBe(2816);
    expect(count(unetTensorShapes(unet))).toBe(2_567_463_684);
    expect(count(vaeTensorShapes(vae))).toBe(83_653_863);
  });

  for (const [label, sizes] of [
    ['demo', DEMO_SIZES],
    ['odd', ODD_SIZES],
  ] as const) {
    it(`${label} sizes round-trip through both loaders with identical tensors`, () => {
      const dir = path.join(tmp, label);
      writeRandomSdxlModel(dir, sizes, 7);
      const folder = loadSdxlModel(dir);
      expect(detectModel(dir).kind).toBe('sdxl-base');
      expect(folder.unet.config.blockOutChannels).toEqual(sizes.blockOutChannels);
      expect(folder.unet.config.pooledDim).toBe(sizes.pooledDim);
      expect(folder.vae.config.blockOutChannels).toEqual(sizes.vaeBlockOutChannels);

      const file = path.join(tmp, `${label}.safetensors`);
      writeSingleFile(dir, file, 'F32');
      expect(
        openSafetensors(file)
          .names()
          .every((n) => /^(model\.diffusion_model|first_stage_model)\./.test(n)),
      ).toBe(true);
      const single = loadSdxlModel(file, configsOf(dir));
      expect(detectModel(file).kind).toBe('sdxl-base');
      expect(single.unet.config).toEqual(folder.unet.config);
      expect(single.vae.config).toEqual(folder.vae.config);
      for (const part of ['unet', 'vae'] as const) {
        const a = folder[part].weights;
        const b = single[part].weights;
        expect(b.names().sort()).toEqual(a.names().sort());
        const differing = a
          .names()
          .filter((n) => a.shape(n).join() !== b.shape(n).join() || !sameBytes(a.readFloat32(n), b.readFloat32(n)));
        expect(differing, part).toEqual([]);
      }
    });
  }

  it('writes float16 single files within float16 rounding', () => {
    const dir = path.join(tmp, 'demo16');
    writeRandomSdxlModel(dir, DEMO_SIZES, 3);
    const file = path.join(tmp, 'demo16.safetensors');
    writeSingleFile(dir, file, 'F16');
    const folder = loadSdxlModel(dir);
    const single = loadSdxlModel(file, configsOf(dir));
    expect(single.dtype).toBe('float16');
    let worst = 0;
    for (const n of folder.unet.weights.names()) {
      const a = folder.unet.weights.readFloat32(n);
      const b = single.unet.weights.readFloat32(n);
      for (let i = 0; i < a.length; i++)
        worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(a[i]!), 2 ** -14));
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(2 ** -11);
  });

  it('is deterministic per seed, and each tensor independent of the others written', () => {
    const a = path.join(tmp, 'seed-a');
    const b = path.join(tmp, 'seed-b');
    const c = path.join(tmp, 'seed-c');
    const partial = path.join(tmp, 'seed-partial');
    writeRandomSdxlModel(a, DEMO_SIZES, 11);
    writeRandomSdxlModel(b, DEMO_SIZES, 11);
    writeRandomSdxlModel(c, DEMO_SIZES, 12);
    const weights = (d: string) => fs.readFileSync(path.join(d, 'unet/diffusion_pytorch_model.safetensors'));
    expect(weights(a).equals(weights(b))).toBe(true);
    expect(weights(a).equals(weights(c))).toBe(false);

    writeRandomSdxlModel(partial, DEMO_SIZES, 11, {
      include: (part, name) => part === 'unet' && name.startsWith('down_blocks.'),
    });
    expect(() => loadSdxlModel(partial)).toThrow(/missing 'conv_in.weight'/);
    const p = loadSdxlModel(partial, { allowMissing: true });
    const full = loadSdxlModel(a);
    expect(p.vae.weights.names()).toEqual([]);
    const names = p.unet.weights.names();
    expect(names.length).toBeGreaterThan(10);
    expect(names.every((n) => n.startsWith('down_blocks.'))).toBe(true);
    expect(names.filter((n) => !sameBytes(p.unet.weights.readFloat32(n), full.unet.weights.readFloat32(n)))).toEqual(
      [],
    );
  });

  it('scales weights like PyTorch’s default init and keeps norms near identity', () => {
    const m: LoadedModel = loadSdxlModel(path.join(tmp, 'seed-a'));
    const w = m.unet.weights.readFloat32('up_blocks.0.resnets.0.conv1.weight');
    const fanIn = m.unet.weights
      .shape('up_blocks.0.resnets.0.conv1.weight')
      .slice(1)
      .reduce((x, y) => x * y, 1);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeCloseTo(1 / Math.sqrt(3 * fanIn), 3);
    expect(w.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0)).toBeLessThanOrEqual(1 / Math.sqrt(fanIn));
    const g = m.unet.weights.readFloat32('mid_block.attentions.0.transformer_blocks.0.norm2.weight');
    expect(Math.min(...g)).toBeGreaterThanOrEqual(0.9);
    expect(Math.max(...g)).toBeLessThanOrEqual(1.1);
    expect(new Set(g).size).toBeGreaterThan(g.length / 2);
  });

  it('plans the full-size model tensor by tensor (writing only what is asked)', () => {
    const dir = path.join(tmp, 'sdxl-stub');
    writeRandomSdxlModel(dir, SDXL_SIZES, 0, { dtype: 'F16', include: (_, name) => name.startsWith('conv_in.') });
    const m = loadSdxlModel(dir, { allowMissing: true });
    expect(m.unet.weights.names().sort()).toEqual(['conv_in.bias', 'conv_in.weight']);
    expect(m.unet.weights.shape('conv_in.weight')).toEqual([320, 4, 3, 3]);
    expect(m.unet.weights.info('conv_in.weight').dtype).toBe('F16');
    expect(m.unet.config.crossAttentionDim).toBe(2048);
  });

  it("writes case_a's folder as byte-for-byte the reference's float16 single file", () => {
    const file = path.join(tmp, 'case_a.safetensors');
    writeSingleFile(goldenModelDir(), file, 'F16');
    const ours = openSafetensors(file);
    const reference = openSafetensors(goldenSingleFile());
    expect(ours.names().sort()).toEqual(reference.names().sort());
    const differing = reference.names().filter((n) => {
      const a = reference.info(n);
      const b = ours.info(n);
      return (
        a.dtype !== b.dtype ||
        a.shape.join() !== b.shape.join() ||
        !Buffer.from(reference.readBytes(n)).equals(ours.readBytes(n))
      );
    });
    expect(differing).toEqual([]);
  });
});

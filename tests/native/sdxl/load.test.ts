import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSdxlModel, ModelLoadError, type LoadedModel, type WeightSource } from '../../../native/sdxl/load.js';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../../native/weights/safetensors.js';
import { halfToFloat32 } from '../../../native/weights/float16.js';
import { goldenModelDir, goldenSingleFile } from '../../golden/paths.js';

const modelDir = goldenModelDir();
const singleFile = goldenSingleFile();
const configs = {
  unetConfig: path.join(modelDir, 'unet/config.json'),
  vaeConfig: path.join(modelDir, 'vae/config.json'),
};

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-load-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Largest |a - b| relative to float16's spacing at |a|: ≤ 0.5 means b is a's float16 rounding. */
function float16Ulps(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i]!);
    const spacing = x < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(x)) - 10);
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / spacing);
  }
  return worst;
}

const sameBytes = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Reads a weight's bytes the way a backend will: from ref.file at ref.byteOffset. */
function readViaRef(w: WeightSource, name: string): Float32Array {
  const ref = w.ref(name);
  const n = w.shape(name).reduce((a, b) => a * b, 1);
  const bytesPer = ref.storedAs === 'float32' ? 4 : 2;
  const buf = Buffer.alloc(n * bytesPer);
  const fd = fs.openSync(ref.file, 'r');
  fs.readSync(fd, buf, 0, buf.length, ref.byteOffset);
  fs.closeSync(fd);
  const copy = new Uint8Array(buf).buffer;
  if (ref.storedAs === 'float32') return new Float32Array(copy);
  if (ref.storedAs === 'float16') return halfToFloat32(new Uint16Array(copy));
  throw new Error(`unexpected ${ref.storedAs}`);
}

describe("case_a's two layouts", () => {
  let diffusers: LoadedModel;
  let single: LoadedModel;
  beforeAll(() => {
    diffusers = loadSdxlModel(modelDir);
    single = loadSdxlModel(singleFile, configs);
  });

  it('reports format, dtype and size', () => {
    expect(diffusers.format).toBe('diffusers');
    expect(diffusers.dtype).toBe('float32');
    expect(single.format).toBe('single-file');
    expect(single.dtype).toBe('float16');
    expect(single.parameterCount).toBe(diffusers.parameterCount);
    const onDisk = fs.statSync(path.join(modelDir, 'unet/diffusion_pytorch_model.safetensors')).size;
    const unetParams = diffusers.unet.weights
      .names()
      .reduce((s, n) => s + diffusers.unet.weights.shape(n).reduce((a, b) => a * b, 1), 0);
    expect(unetParams * 4).toBeLessThan(onDisk);
    expect(unetParams * 4).toBeGreaterThan(onDisk - 200_000);
  });

  it('gives the same configs', () => {
    expect(single.unet.config).toEqual(diffusers.unet.config);
    expect(single.vae.config).toEqual(diffusers.vae.config);
    expect(diffusers.scheduler.numTrainTimesteps).toBe(1000);
  });

  it('gives the same names, shapes and values (within float16 rounding) for every tensor', () => {
    for (const part of ['unet', 'vae'] as const) {
      const a = diffusers[part].weights;
      const b = single[part].weights;
      expect(b.names().sort()).toEqual(a.names().sort());
      let worst = 0;
      for (const name of a.names()) {
        expect(b.shape(name), name).toEqual(a.shape(name));
        worst = Math.max(worst, float16Ulps(a.readFloat32(name), b.readFloat32(name)));
      }
      expect(worst, part).toBeLessThanOrEqual(0.5);
    }
  });

  it('points every WeightRef at the bytes readFloat32 returns', () => {
    for (const model of [diffusers, single]) {
      for (const part of ['unet', 'vae'] as const) {
        const w = model[part].weights;
        const differing = w.names().filter((name) => !sameBytes(readViaRef(w, name), w.readFloat32(name)));
        expect(differing, `${model.format} ${part}`).toEqual([]);
      }
    }
  });

  it('uses diffusers names and shapes, reporting the stored ones in info', () => {
    const w = single.vae.weights;
    expect(w.shape('encoder.mid_block.attentions.0.to_q.weight')).toEqual([32, 32]);
    expect(w.info('encoder.mid_block.attentions.0.to_q.weight')).toMatchObject({
      storedName: 'first_stage_model.encoder.mid.attn_1.q.weight',
      storedShape: [32, 32, 1, 1],
      dtype: 'F16',
    });
    expect(single.unet.weights.ref('down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.weight').name).toBe(
      'model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_q.weight',
    );
    expect(diffusers.unet.weights.has('up_blocks.0.upsamplers.0.conv.weight')).toBe(true);
  });

  it("explains what is missing when case_a's single file comes without its config", () => {
    expect(() => loadSdxlModel(singleFile)).toThrow(/head size 64.*give the model's diffusers unet config.json/);
  });
});

/** Copies case_a's diffusers folder in another layout: UNet split over two shards, VAE as the fp16 variant. */
function writeVariantFolder(dir: string): void {
  for (const sub of ['unet', 'vae', 'scheduler']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  for (const f of ['model_index.json', 'unet/config.json', 'vae/config.json', 'scheduler/scheduler_config.json']) {
    fs.copyFileSync(path.join(modelDir, f), path.join(dir, f));
  }
  const unet = openSafetensors(path.join(modelDir, 'unet/diffusion_pytorch_model.safetensors'));
  const names = unet.names();
  const shards: Array<Record<string, TensorToWrite>> = [{}, {}];
  const weightMap: Record<string, string> = {};
  names.forEach((n, i) => {
    shards[i % 2]![n] = { dtype: 'F32', shape: unet.info(n).shape, data: unet.readFloat32(n) };
    weightMap[n] = `diffusion_pytorch_model-0000${(i % 2) + 1}-of-00002.safetensors`;
  });
  shards.forEach((s, i) =>
    writeSafetensors(path.join(dir, `unet/diffusion_pytorch_model-0000${i + 1}-of-00002.safetensors`), s),
  );
  fs.writeFileSync(
    path.join(dir, 'unet/diffusion_pytorch_model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }),
  );
  const vae = openSafetensors(path.join(modelDir, 'vae/diffusion_pytorch_model.safetensors'));
  const vaeTensors: Record<string, TensorToWrite> = {};
  for (const n of vae.names()) {
    // Legacy (diffusers < 0.14) attention names, to check they are mapped.
    const legacy = n
      .replace('attentions.0.to_q.', 'attentions.0.query.')
      .replace('attentions.0.to_out.0.', 'attentions.0.proj_attn.');
    vaeTensors[legacy] = { dtype: 'F16', shape: vae.info(n).shape, data: vae.readFloat32(n) };
  }
  writeSafetensors(path.join(dir, 'vae/diffusion_pytorch_model.fp16.safetensors'), vaeTensors);
}

describe('diffusers folder variants', () => {
  it('loads sharded UNets and fp16 VAEs with legacy attention names', () => {
    const dir = path.join(tmp, 'variant');
    writeVariantFolder(dir);
    const m = loadSdxlModel(dir);
    const ref = loadSdxlModel(modelDir);
    expect(m.dtype).toBe('mixed (float16, float32)');
    expect(m.unet.weights.names().sort()).toEqual(ref.unet.weights.names().sort());
    expect(m.vae.weights.names().sort()).toEqual(ref.vae.weights.names().sort());
    const name = 'up_blocks.1.attentions.2.transformer_blocks.1.attn2.to_k.weight';
    expect(m.unet.weights.readFloat32(name)).toEqual(ref.unet.weights.readFloat32(name));
    expect(m.unet.weights.info(name).file).toMatch(/-0000[12]-of-00002\.safetensors$/);
    const q = 'decoder.mid_block.attentions.0.to_q.weight';
    expect(m.vae.weights.info(q).storedName).toBe('decoder.mid_block.attentions.0.query.weight');
    expect(float16Ulps(ref.vae.weights.readFloat32(q), m.vae.weights.readFloat32(q))).toBeLessThanOrEqual(0.5);
  });

  it('rejects a shard index that reaches outside the folder', () => {
    const dir = path.join(tmp, 'escape');
    writeVariantFolder(dir);
    const indexPath = path.join(dir, 'unet/diffusion_pytorch_model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf-8'));
    index.weight_map['conv_in.weight'] = '../vae/diffusion_pytorch_model.fp16.safetensors';
    fs.writeFileSync(indexPath, JSON.stringify(index));
    expect(() => loadSdxlModel(dir)).toThrow(
      /shard '..\/vae\/diffusion_pytorch_model.fp16.safetensors' for tensor 'conv_in.weight' is not a plain file name/,
    );
  });

  it('names the tensor when weights and config disagree', () => {
    const dir = path.join(tmp, 'mismatch');
    writeVariantFolder(dir);
    const cfgPath = path.join(dir, 'unet/config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf-8'));
    cfg.cross_attention_dim = 128;
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(() => loadSdxlModel(dir)).toThrow(ModelLoadError);
    expect(() => loadSdxlModel(dir)).toThrow(/attn2\.to_k\.weight' is \[64, 96\], the config implies \[64, 128\]/);
  });

  it('refuses pickle-only folders and missing parts with a clear message', () => {
    const dir = path.join(tmp, 'pickle');
    fs.mkdirSync(path.join(dir, 'unet'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'vae'), { recursive: true });
    fs.copyFileSync(path.join(modelDir, 'unet/config.json'), path.join(dir, 'unet/config.json'));
    fs.copyFileSync(path.join(modelDir, 'vae/config.json'), path.join(dir, 'vae/config.json'));
    fs.writeFileSync(path.join(dir, 'unet/diffusion_pytorch_model.bin'), 'not really');
    expect(() => loadSdxlModel(dir)).toThrow(/pickle.*convert them to \.safetensors/);
    expect(() => loadSdxlModel(path.join(dir, 'unet'))).toThrow(/no unet\/ folder/);
    expect(() => loadSdxlModel(path.join(tmp, 'nothing-here'))).toThrow(/no such file or folder/);
  });

  it('checks a user config against a single file', () => {
    const cfg = JSON.parse(fs.readFileSync(configs.unetConfig, 'utf-8'));
    cfg.block_out_channels = [32, 64, 128];
    const p = path.join(tmp, 'wrong-unet-config.json');
    fs.writeFileSync(p, JSON.stringify(cfg));
    expect(() => loadSdxlModel(singleFile, { ...configs, unetConfig: p })).toThrow(
      /block_out_channels is \[32,64,128\] but the weights have \[32,64,96\]/,
    );
  });
});

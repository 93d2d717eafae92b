import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectModel, openUserModel, UnsupportedModelError, type ModelKind } from '../../../native/sdxl/detect.js';
import { writeSafetensors, type TensorToWrite } from '../../../native/weights/safetensors.js';
import { goldenModelDir, goldenSingleFile } from '../../golden/paths.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-detect-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file with the given tensor names and shapes (zeros): enough for detection, which reads no values. */
function fakeFile(name: string, shapes: Record<string, number[]>): string {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [k, shape] of Object.entries(shapes)) {
    tensors[k] = { dtype: 'F16', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
  }
  const p = path.join(dir, name);
  writeSafetensors(p, tensors);
  return p;
}

const U = 'model.diffusion_model.';
const VAE_KEYS = { 'first_stage_model.encoder.conv_in.weight': [8, 3, 3, 3] };

/** Original-layout UNet keys of a checkpoint with the given context width and conditioning. */
function unetKeys(opts: { context: number; inChannels?: number; labelEmbInput?: number }): Record<string, number[]> {
  const keys: Record<string, number[]> = {
    [`${U}input_blocks.0.0.weight`]: [8, opts.inChannels ?? 4, 3, 3],
    [`${U}input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight`]: [8, opts.context],
  };
  if (opts.labelEmbInput) keys[`${U}label_emb.0.0.weight`] = [16, opts.labelEmbInput];
  return keys;
}

function diffusersFolder(name: string, unetConfig: Record<string, unknown> | null, parts: string[]): string {
  const root = path.join(dir, name);
  fs.mkdirSync(root);
  for (const p of parts) fs.mkdirSync(path.join(root, p), { recursive: true });
  if (unetConfig) fs.writeFileSync(path.join(root, 'unet/config.json'), JSON.stringify(unetConfig));
  return root;
}

describe('detectModel', () => {
  const expectKind = (p: string, kind: ModelKind, fragment?: RegExp) => {
    const d = detectModel(p);
    expect(d.kind, p).toBe(kind);
    expect(d.usable).toBe(kind === 'sdxl-base');
    if (kind !== 'sdxl-base') {
      expect(d.problem).toMatch(/^this is .*; the workstation needs an SDXL base UNet and VAE/);
      if (fragment) expect(d.problem).toMatch(fragment);
    }
  };

  it("accepts case_a's diffusers folder and single file as SDXL base", () => {
    expectKind(goldenModelDir(), 'sdxl-base');
    expectKind(goldenSingleFile(), 'sdxl-base');
    expect(detectModel(goldenSingleFile()).format).toBe('single-file');
  });

  it('recognises original single files of other families', () => {
    expectKind(
      fakeFile('sd15.safetensors', { ...unetKeys({ context: 768 }), ...VAE_KEYS }),
      'sd1',
      /Stable Diffusion 1/,
    );
    expectKind(
      fakeFile('sd21.safetensors', { ...unetKeys({ context: 1024 }), ...VAE_KEYS }),
      'sd2',
      /Stable Diffusion 2/,
    );
    expectKind(
      fakeFile('refiner.safetensors', { ...unetKeys({ context: 1280, labelEmbInput: 2560 }), ...VAE_KEYS }),
      'sdxl-refiner',
      /refiner/,
    );
    expectKind(
      fakeFile('inpaint.safetensors', {
        ...unetKeys({ context: 2048, inChannels: 9, labelEmbInput: 2816 }),
        ...VAE_KEYS,
      }),
      'inpainting',
      /9 input channels/,
    );
    expectKind(
      fakeFile('xl.safetensors', { ...unetKeys({ context: 2048, labelEmbInput: 2816 }), ...VAE_KEYS }),
      'sdxl-base',
    );
    expectKind(
      fakeFile('xl-novae.safetensors', unetKeys({ context: 2048, labelEmbInput: 2816 })),
      'unet-only',
      /first_stage_model/,
    );
  });

  it('recognises add-ons and lone components', () => {
    expectKind(
      fakeFile('lora.safetensors', {
        'lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight': [4, 640],
        'lora_unet_down_blocks_1_attentions_0_proj_in.lora_up.weight': [640, 4],
      }),
      'lora',
      /LoRA/,
    );
    expectKind(fakeFile('peft-lora.safetensors', { 'unet.down_blocks.1.attn.to_q.lora_A.weight': [4, 8] }), 'lora');
    expectKind(fakeFile('vae-orig.safetensors', { 'encoder.down.0.block.0.conv1.weight': [8, 8, 3, 3] }), 'vae-only');
    expectKind(
      fakeFile('vae-diffusers.safetensors', { 'decoder.up_blocks.0.resnets.0.conv1.weight': [8, 8, 3, 3] }),
      'vae-only',
    );
    expectKind(fakeFile('vae-prefixed.safetensors', VAE_KEYS), 'vae-only');
    expectKind(
      fakeFile('unet-diffusers.safetensors', { 'add_embedding.linear_1.weight': [8, 8] }),
      'unet-only',
      /model folder/,
    );
    expectKind(
      fakeFile('clip.safetensors', { 'text_model.encoder.layers.0.mlp.fc1.weight': [8, 8] }),
      'text-encoder',
      /text encoder/,
    );
    expectKind(fakeFile('other.safetensors', { 'backbone.stem.weight': [8, 3, 3, 3] }), 'unknown', /not a model/);
  });

  it('recognises diffusers folders by their unet config', () => {
    const sd15 = { cross_attention_dim: 768, in_channels: 4 };
    expectKind(diffusersFolder('sd15', sd15, ['unet', 'vae']), 'sd1');
    const refiner = {
      cross_attention_dim: 1280,
      addition_embed_type: 'text_time',
      projection_class_embeddings_input_dim: 2560,
    };
    expectKind(diffusersFolder('refiner', refiner, ['unet', 'vae']), 'sdxl-refiner');
    const xl = {
      cross_attention_dim: 2048,
      addition_embed_type: 'text_time',
      projection_class_embeddings_input_dim: 2816,
    };
    expectKind(diffusersFolder('xl-inpaint', { ...xl, in_channels: 9 }, ['unet', 'vae']), 'inpainting');
    expectKind(diffusersFolder('xl-novae', xl, ['unet']), 'unet-only', /no vae\//);
    expectKind(diffusersFolder('vae-only', null, ['vae']), 'vae-only');
    expectKind(diffusersFolder('te-only', null, ['text_encoder', 'text_encoder_2']), 'text-encoder');
    expectKind(diffusersFolder('empty', null, []), 'unknown', /holds unet\/ and vae\//);
  });

  it('refuses unreadable paths with the reason', () => {
    const ckpt = path.join(dir, 'model.ckpt');
    fs.writeFileSync(ckpt, 'x');
    expect(() => detectModel(ckpt)).toThrow(/pickle/);
    expect(() => detectModel(path.join(dir, 'absent.safetensors'))).toThrow(/no such file or folder/);
  });
});

describe('openUserModel', () => {
  it('loads SDXL and refuses other families before loading', () => {
    const { model } = openUserModel(goldenModelDir());
    expect(model.unet.config.crossAttentionDim).toBe(96);
    const sd15 = fakeFile('sd15-open.safetensors', { ...unetKeys({ context: 768 }), ...VAE_KEYS });
    expect(() => openUserModel(sd15)).toThrow(UnsupportedModelError);
    expect(() => openUserModel(sd15)).toThrow(/sd15-open.safetensors: this is a Stable Diffusion 1.x model/);
  });
});

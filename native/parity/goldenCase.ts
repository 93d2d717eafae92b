// Reads a reference case laid out like shared/golden/case_a: model/, golden/meta.json,
// golden/tensors.safetensors (and optionally golden/intermediates.safetensors).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { openSafetensors, type SafetensorsFile } from '../weights/safetensors.js';

const theta = z.array(z.array(z.number()).length(3)).length(2);

const metaSchema = z.object({
  params: z.object({
    image_size: z.number().int().positive(),
    latent_size: z.number().int().positive(),
    feature_upsample_res: z.number().int().positive(),
    num_tokens: z.number().int().positive(),
    embedding_dim: z.number().int().positive(),
    text_dim1: z.number().int().nonnegative(),
    top_k: z.number().int().positive(),
    furthest_point_num_samples: z.number().int().positive(),
    sigma: z.number().positive(),
    num_subjects: z.number().int().positive(),
    layers: z.array(z.number().int().nonnegative()),
    timestep: z.number().int().nonnegative(),
    lr: z.number(),
    weight_decay: z.number(),
    sharpening_loss_weight: z.number(),
    equivariance_attn_loss_weight: z.number(),
    latent_scale: z.number(),
  }),
  step: z.object({
    image_index: z.number().int().nonnegative(),
    loss: z.number(),
    sharpening: z.number(),
    equivariance: z.number(),
    top_initial_candidates: z.array(z.number().int()),
    selected_indices: z.array(z.number().int()),
  }),
  optimize: z.object({
    iterations: z.number().int().positive(),
    accumulation: z.number().int().positive(),
    schedule: z.array(
      z.object({
        image_index: z.number().int().nonnegative(),
        theta,
        loss: z.number(),
        top_initial_candidates: z.array(z.number().int()),
        selected_indices: z.array(z.number().int()),
      }),
    ),
  }),
  find_best_indices: z.object({
    per_image: z.array(z.array(z.number().int())),
    counts: z.record(z.string(), z.number().int()),
    best_by_count_then_index: z.array(z.number().int()),
  }),
  augmented: z.object({
    image_index: z.number().int().nonnegative(),
    indices: z.array(z.number().int()),
    iterations: z.number().int().positive(),
    upscale_size: z.number().int().positive(),
    keypoints_yx_normalized: z.array(z.array(z.number()).length(2)),
  }),
});

export type GoldenMeta = z.infer<typeof metaSchema>;

export interface GoldenCase {
  dir: string;
  modelDir: string;
  meta: GoldenMeta;
  tensors: SafetensorsFile;
  intermediates?: SafetensorsFile;
  /** A golden tensor as float32 with its shape. */
  tensor(name: string): { data: Float32Array; shape: number[] };
}

export function openGoldenCase(dir: string): GoldenCase {
  const need = (rel: string) => {
    const p = path.join(dir, rel);
    if (!fs.existsSync(p)) throw new Error(`${dir}: not a reference case — missing ${rel}`);
    return p;
  };
  const metaPath = need('golden/meta.json');
  const parsed = metaSchema.safeParse(JSON.parse(fs.readFileSync(metaPath, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${metaPath}: field ${issue.path.join('.')}: ${issue.message}`);
  }
  const tensors = openSafetensors(need('golden/tensors.safetensors'));
  const interPath = path.join(dir, 'golden/intermediates.safetensors');
  const intermediates = fs.existsSync(interPath) ? openSafetensors(interPath) : undefined;
  return {
    dir,
    modelDir: need('model'),
    meta: parsed.data,
    tensors,
    intermediates,
    tensor(name) {
      const file = tensors.has(name) ? tensors : intermediates?.has(name) ? intermediates : undefined;
      if (!file) throw new Error(`${dir}: golden tensor '${name}' is missing`);
      return { data: file.readFloat32(name), shape: file.info(name).shape };
    },
  };
}

// Every setting of a keypoint-discovery run, with the reference's defaults, validated
// once at the edge. Settings that only make sense together (K against the candidates
// and tokens, the map resolution against the attention grid) are checked here too, so
// a bad combination fails before a GPU minute is spent.
import { z } from 'zod';

const positiveInt = () => z.number().int().positive();
const range = (lo: number, hi: number) => z.tuple([z.number(), z.number()]).default([lo, hi]);

export const augmentationSchema = z
  .object({
    /** Rotation drawn in ±degrees. */
    rotationDegrees: z.number().min(0).max(180).default(15),
    /** Scale drawn in [min, max]. */
    scale: range(0.8, 1.0),
    /** Translation in normalised units (1 = half the image), drawn in ±x, ±y. */
    translate: range(0.25, 0.25),
  })
  .strict();

export const runSettingsSchema = z
  .object({
    /** N: learned text-embedding tokens. */
    tokens: positiveInt().default(500),
    /** Optimiser steps; each accumulates `batchSize` iterations. */
    steps: positiveInt().default(200),
    batchSize: positiveInt().default(4),
    learningRate: z.number().positive().default(0.005),
    weightDecay: z.number().min(0).default(1e-4),
    /** σ of the Gaussian targets, in map pixels. */
    sigma: z.number().positive().default(2.0),
    /** K: keypoints (tokens trained per iteration and indices chosen in the end). */
    keypoints: z.number().int().min(2).default(10),
    /** Lowest-KL candidates kept before furthest point sampling. */
    candidates: z.number().int().min(2).default(25),
    /** R: side of the attention maps (the controlled layers' upsampled query grid). */
    upsampleRes: positiveInt().default(128),
    /** Which eligible up-block cross-attention layers are controlled. */
    layers: z.array(z.number().int().min(0)).min(1).default([0, 1, 2]),
    /** A cross-attention layer is eligible when its query token count is at most this. */
    maxQueryTokens: positiveInt().default(32 * 32),
    augmentation: augmentationSchema.default({ rotationDegrees: 15, scale: [0.8, 1.0], translate: [0.25, 0.25] }),
    /** Warped evaluations averaged per image when finding its keypoints. */
    augmentationIterations: positiveInt().default(10),
    /**
     * Of those, evaluated together in one pass (lowered to a divisor of augmentationIterations);
     * the same keypoints for any value. 0, the default, chooses: on a backend that knows its
     * device's memory (native CUDA), the most whose graph takes at most half of it, else 2.
     * Measured on an H200 at 512 px with float16 weights: 2 per pass peak at 4.66 GiB in use,
     * 5 at 6.16 GiB; fewer passes cost fewer launches and weight conversions.
     */
    warpsPerPass: z.number().int().min(0).default(0),
    equivarianceWeight: z.number().min(0).default(1000),
    sharpeningWeight: z.number().min(0).default(100),
    /** S: images are resized to S×S pixels. */
    imageSize: positiveInt().default(512),
    /** Latent scaling; the reference keeps SD1.5's 0.18215 even for SDXL (whose own is 0.13025). */
    latentScale: z.number().positive().default(0.18215),
    /** Images used to vote for the keypoint indices after training. */
    indexImages: positiveInt().default(100),
    /** Subjects expected per image (blobs per token). */
    subjects: positiveInt().default(1),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    /**
     * Training evaluates the plain image's UNet again for its backward instead of keeping both
     * evaluations' activations (lowMemoryStep.ts): the same gradient in less GPU memory, for one
     * more UNet forward per iteration.
     */
    lowMemory: z.boolean().default(false),
    /**
     * The backend's fast arithmetic (native CUDA: TF32 tensor cores in the UNet), for training,
     * index choice and keypoints alike. Measured on an H200 at 512²: training 28% faster; the
     * numbers drift from the reference's (golden cases: about 1e-3 in the gradient, a few
     * percent in the tokens after some steps), so a run is close to, not equal to, float32's.
     */
    fastPrecision: z.boolean().default(false),
  })
  .strict();

export type RunSettings = z.infer<typeof runSettingsSchema>;
export type RunSettingsInput = z.input<typeof runSettingsSchema>;

/** The reference's settings: every default, read once from the schema that defines them. */
export const referenceSettings: RunSettings = runSettingsSchema.parse({});

/** How the model turns an image into the controlled layers' query grid. */
export interface ModelGeometry {
  /** Pixels per latent cell (SDXL's VAE: 8). */
  latentDownscale: number;
  /** Latent cells per query cell of the controlled layers (SDXL at any size: 4). */
  attentionDownscale: number;
}

export const SDXL_GEOMETRY: ModelGeometry = { latentDownscale: 8, attentionDownscale: 4 };

export class SettingsError extends Error {
  constructor(
    readonly problems: string[],
    where: string,
  ) {
    super(`${where}: ${problems.length === 1 ? problems[0] : `\n  - ${problems.join('\n  - ')}`}`);
    this.name = 'SettingsError';
  }
}

/** Problems between settings that are each valid alone; empty when the run can go. */
export function combinationProblems(s: RunSettings, geometry: ModelGeometry = SDXL_GEOMETRY): string[] {
  const problems: string[] = [];
  if (s.keypoints > s.tokens) problems.push(`keypoints: K = ${s.keypoints} is more than the ${s.tokens} tokens`);
  if (s.candidates < s.keypoints) {
    problems.push(
      `candidates: ${s.candidates} candidates cannot hold the K = ${s.keypoints} keypoints (need candidates >= keypoints)`,
    );
  }
  if (s.candidates > s.tokens)
    problems.push(`candidates: ${s.candidates} candidates is more than the ${s.tokens} tokens`);
  const [smin, smax] = s.augmentation.scale;
  if (!(smin > 0 && smin <= smax)) problems.push(`augmentation.scale: [${smin}, ${smax}] must satisfy 0 < min <= max`);
  const [tx, ty] = s.augmentation.translate;
  if (tx < 0 || ty < 0) problems.push(`augmentation.translate: [${tx}, ${ty}] must not be negative`);
  if (new Set(s.layers).size !== s.layers.length) problems.push(`layers: [${s.layers.join(', ')}] lists a layer twice`);
  const latentCell = geometry.latentDownscale * geometry.attentionDownscale;
  if (s.imageSize % latentCell !== 0) {
    problems.push(
      `imageSize: ${s.imageSize} px is not a multiple of ${latentCell} (the model needs whole latent and attention cells)`,
    );
  } else {
    const grid = s.imageSize / latentCell;
    if (s.upsampleRes % grid !== 0) {
      problems.push(
        `upsampleRes: ${s.upsampleRes} is not a multiple of the ${grid}×${grid} attention grid at image size ${s.imageSize} (try ${grid * Math.max(1, Math.round(s.upsampleRes / grid))})`,
      );
    }
  }
  return problems;
}

/** Parses raw settings (from a file, the UI or the CLI), fills defaults and checks every combination. */
export function parseRunSettings(
  raw: unknown,
  where = 'settings',
  geometry: ModelGeometry = SDXL_GEOMETRY,
): RunSettings {
  const parsed = runSettingsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new SettingsError(
      parsed.error.issues.map((issue) => {
        const field = issue.path.join('.');
        return field ? `${field}: ${issue.message}` : issue.message;
      }),
      where,
    );
  }
  const problems = combinationProblems(parsed.data, geometry);
  if (problems.length) throw new SettingsError(problems, where);
  return parsed.data;
}

export const defaultRunSettings = (): RunSettings => parseRunSettings({});
